/**
 * The sending side of one transfer.
 *
 * handshake → offer → (accept | decline) → pump chunks through the window →
 * file-end + root per file → (file-verified | nack | need-leaves/refetch) →
 * complete.
 *
 * The pump reads each chunk from disk, hashes it (the leaf travels with it),
 * compresses it where that pays, seals and writes it. A chunk the receiver
 * claims to have is read and hashed too, and only skipped when its leaf is
 * the one claimed: that is how a source changed between sessions is caught
 * and repaired chunk by chunk. Nothing is hashed before the first byte goes.
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { ConnectionError, FerryError, IntegrityError, ProtocolError } from '../errors.js';
import { cleanPeerName } from '../names.js';
import {
  DataFlag,
  fromRanges,
  LEAVES_PER_PAGE,
  MAX_CHUNK_SIZE,
  type MessageOf,
  MIN_CHUNK_SIZE,
} from '../protocol/messages.js';
import type { Throttle } from '../queue/bandwidth.js';
import type { ByteStream } from '../transport/link.js';
import type { SecureChannel } from './channel.js';
import { ChunkSlots } from './chunk-slots.js';
import { CompressionPolicy } from './compression.js';
import { LeafHashPool } from './hash-pool.js';
import { type SourceFile, walkSources } from './manifest.js';
import { ChunkHasher, carve, chunkCount, chunkLength, LeafSet, merkleRoot } from './merkle.js';
import { type FileProgress, NO_MISMATCH, type PeerAuth, Transfer, toHex } from './transfer.js';
import { ChunkState, type PeerFacts, type TransferSummary } from './types.js';
import { ChunkWindow } from './window.js';

/** Options of a send. */
export interface SendOptions extends PeerAuth {
  readonly stream: ByteStream;
  /** Files and folders to send. */
  readonly paths: readonly string[];
  /** 16 bytes; reuse the id of an interrupted send so the receiver can resume it. */
  readonly transferId?: Uint8Array;
  /** Default 1 MiB. */
  readonly chunkSize?: number;
  /** Bytes the window may keep in flight; default 16 MiB. */
  readonly memoryBudget?: number;
  /** Adaptive compression; default on. */
  readonly compression?: boolean;
  readonly now?: () => number;
  /** Fail with TIMEOUT when the peer sends nothing this long while we wait on it; default 30 s. */
  readonly idleTimeoutMs?: number;
  /**
   * Asked once after the handshake when the peer is not proven by a code or
   * a pinned key: resolve true once the user confirmed the verification
   * words (`peer.sas`). Until then no data is sent; false cancels.
   */
  readonly confirmPeer?: (peer: PeerFacts) => boolean | Promise<boolean>;
  /**
   * Asked before each chunk's data frame is written, for the bytes of its
   * payload as sent (after compression); absent means no limit.
   */
  readonly throttle?: Throttle;
}

type WorkItem = { kind: 'chunk'; file: number; chunk: number } | { kind: 'end'; file: number };

interface SendFileState {
  readonly source: SourceFile;
  readonly count: number;
  readonly leaves: LeafSet;
  /** Leaves the receiver claimed at accept time (null: none; most files of a fresh send). */
  claimed: Map<number, Uint8Array> | null;
  accepted: boolean;
  verified: boolean;
  /** Times each chunk was sent again (null until a first re-send). */
  resends: Map<number, number> | null;
}

const MAX_RESENDS_PER_CHUNK = 3;
/** Chunk reads started ahead of the pump. */
const READ_AHEAD = 4;
/** Default cap of the window: 16 chunks of 1 MiB (16 MiB; the window holds ~2 BDP on a 1 Gbit/s, 60 ms path). */
const DEFAULT_WINDOW_BUDGET = 16 * 1024 * 1024;

/** Start sending; returns at once, progress arrives as events. */
export function startSend(opts: SendOptions): SendTransfer {
  return new SendTransfer(opts);
}

/** A running send. */
export class SendTransfer extends Transfer {
  readonly #opts: SendOptions;
  readonly #chunkSize: number;
  #window: ChunkWindow;
  #files: SendFileState[] = [];
  /**
   * Fresh work is not materialised: a cursor walks accepted files in order
   * (chunk === count means that file's end), so memory does not grow with
   * file size. Re-sends asked for by the receiver (nack, refetch) go to
   * `#redo`, which is drained first and stays as small as the requests.
   */
  #cursor = { file: 0, chunk: 0 };
  #redo: WorkItem[] = [];
  #hasher: ChunkHasher | null = null;
  readonly #handles = new Map<number, Promise<FileHandle>>();
  readonly #reads = new Map<number, Promise<{ data: Uint8Array; leaf: Uint8Array }>>();
  readonly #pool = LeafHashPool.shared();
  /** Whole chunks from read until sealed (see chunk-slots.ts); made on the first read. */
  #slots: ChunkSlots | null = null;
  #bytesSent = 0;
  #bytesSkipped = 0;
  #wireBytes = 0;
  #outstanding = 0;
  /** Fires once the transfer ended, so a pending throttle take leaves its queue. */
  readonly #ended = new AbortController();

  constructor(opts: SendOptions) {
    super('sender', opts.stream, opts.now, opts.idleTimeoutMs);
    this.#opts = opts;
    this.#chunkSize = opts.chunkSize ?? 1024 * 1024;
    if (this.#chunkSize < MIN_CHUNK_SIZE || this.#chunkSize > MAX_CHUNK_SIZE) {
      throw new RangeError(`chunkSize: must be ${MIN_CHUNK_SIZE}..${MAX_CHUNK_SIZE}`);
    }
    if (opts.transferId && opts.transferId.length !== 16) {
      throw new RangeError('transferId: expected 16 bytes');
    }
    this.#window = new ChunkWindow({
      chunkBytes: this.#chunkSize,
      memoryBudget: opts.memoryBudget ?? DEFAULT_WINDOW_BUDGET,
      now: this.now,
    });
    this.windowSize = this.#window.size;
    this.#run().catch((err) => this.fail(err));
  }

  async #run(): Promise<void> {
    const { files, dirs } = await walkSources(this.#opts.paths);
    this.#hasher = await ChunkHasher.create();
    const ch = await this.openSecureChannel(this.#opts);
    if (!ch) return;
    const transferId = this.#opts.transferId ?? randomBytes(16);
    this.transferIdHex = toHex(transferId);
    ch.setTransferId(transferId);

    const counts = files.map((source) => chunkCount(source.size, this.#chunkSize));
    const leafSets = LeafSet.many(counts);
    // Chunk maps start all Pending (0).
    const maps = carve(counts);
    this.#files = files.map((source, i) => {
      return {
        source,
        count: counts[i]!,
        leaves: leafSets[i]!,
        claimed: null,
        accepted: false,
        verified: false,
        resends: null,
      };
    });
    this.files = this.#files.map(
      (f, i): FileProgress => ({
        path: f.source.path,
        size: f.source.size,
        chunkCount: f.count,
        chunks: maps[i]!,
        leavesVerified: 0,
        root: 'streaming',
        mismatched: NO_MISMATCH,
        accepted: false,
      }),
    );
    this.state = 'awaiting-accept';
    this.touch();
    await ch.sendControl({
      t: 'offer',
      transferId,
      chunkSize: this.#chunkSize,
      files: files.map((f) => ({ path: f.path, size: f.size, mtime: f.mtime })),
      ...(dirs.length > 0 ? { dirs } : {}),
      ...(this.#opts.deviceName ? { name: this.#opts.deviceName } : {}),
    });
    if (this.#opts.confirmPeer) this.#awaitConfirmation(this.#opts.confirmPeer);

    const pump = this.#pump();
    pump.catch(() => undefined);
    await Promise.all([this.#readLoop(ch), pump]);
  }

  /** Incoming control messages; data frames are a protocol error on this side. */
  async #readLoop(ch: SecureChannel): Promise<void> {
    while (!this.isFinished) {
      const inc = await ch.receive();
      if (this.isFinished) return;
      if (inc === null) throw new ConnectionError('receiver closed the stream before completing');
      if (inc.kind === 'data') throw new ProtocolError('receiver sent a data frame');
      const msg = inc.msg;
      if (this.handleCommon(msg)) continue;
      switch (msg.t) {
        case 'accept':
          this.#onAccept(msg);
          break;
        case 'decline':
          this.finish('failed', new FerryError('DECLINED', `receiver declined: ${msg.reason}`));
          return;
        case 'ack':
          this.#onAck(msg.ranges);
          break;
        case 'nack':
          this.#onNack(msg);
          break;
        case 'file-verified':
          this.#onVerified(msg.file);
          break;
        case 'need-leaves':
          await this.#sendLeaves(ch, msg.file);
          break;
        case 'refetch':
          this.#onRefetch(msg);
          break;
        case 'complete':
          await this.#onComplete();
          return;
        default:
          throw new ProtocolError(`unexpected '${msg.t}' from the receiver`);
      }
    }
  }

  #file(index: number): SendFileState {
    const f = this.#files[index];
    if (!f) throw new ProtocolError(`receiver named file ${index}, which was not offered`);
    return f;
  }

  /**
   * First contact without a code: nothing is sent until our user confirms
   * the verification words. The receiver sees a pause meanwhile, which also
   * stands its idle watchdog down (the offer went out first: a receiver
   * reads nothing but an offer before it).
   */
  #awaitConfirmation(confirm: NonNullable<SendOptions['confirmPeer']>): void {
    this.pause();
    Promise.resolve()
      .then(() => confirm(this.peer!))
      .then(
        (ok) => {
          if (this.isFinished) return;
          if (ok) this.resume();
          else this.cancel('the sender did not confirm the verification words');
        },
        (err) => this.fail(err),
      );
  }

  #onAccept(msg: MessageOf<'accept'>): void {
    this.peerName = cleanPeerName(msg.name);
    if (this.state !== 'awaiting-accept') throw new ProtocolError('second accept');
    const seen = new Set<number>();
    for (const a of msg.files) {
      const f = this.#file(a.file);
      if (seen.has(a.file)) throw new ProtocolError(`file ${a.file} accepted twice`);
      seen.add(a.file);
      const have = fromRanges(a.have, f.count);
      if (a.leaves.length !== have.length * 32) {
        throw new ProtocolError(
          `accept for file ${a.file}: ${have.length} chunks but leaves differ`,
        );
      }
      if (have.length > 0) {
        const claimed = new Map<number, Uint8Array>();
        have.forEach((chunk, k) => {
          claimed.set(chunk, a.leaves.subarray(k * 32, k * 32 + 32));
        });
        f.claimed = claimed;
      }
      f.accepted = true;
      this.files[a.file]!.accepted = true;
      this.fileChanged(a.file);
    }
    this.total = 0;
    // What the receiver says it holds (each claim is still re-checked against our file).
    let claimed = 0;
    for (let i = 0; i < this.#files.length; i++) {
      const f = this.#files[i]!;
      if (!f.accepted) continue;
      this.total += f.source.size;
      for (const chunk of f.claimed?.keys() ?? []) {
        claimed += chunkLength(f.source.size, this.#chunkSize, chunk);
      }
    }
    this.#outstanding = seen.size;
    this.state = this.isPaused ? 'paused' : 'transferring';
    this.touch();
    this.emit({
      type: 'started',
      transferId: this.transferIdHex!,
      files: this.#files
        .filter((f) => f.accepted)
        .map((f) => ({ path: f.source.path, size: f.source.size })),
      total: this.total,
      resumedBytes: claimed,
    });
    if (seen.size === 0) {
      this.finish('failed', new FerryError('DECLINED', 'receiver accepted none of the files'));
    }
    this.wake.notify();
  }

  #key(file: number, chunk: number): number {
    // Unique per (file, chunk): MAX_FILES × 2^32 chunks fits in a double's 53 bits only
    // if chunk < 2^32 and file < 2^21, both guaranteed by the caps.
    return file * 0x1_0000_0000 + chunk;
  }

  #onAck(ranges: readonly number[]): void {
    if (ranges.length % 3 !== 0) throw new ProtocolError('ack ranges are not triples');
    for (let k = 0; k < ranges.length; k += 3) {
      const file = ranges[k]!;
      const f = this.#file(file);
      const start = ranges[k + 1]!;
      const end = ranges[k + 2]!;
      if (end <= start || end > f.count)
        throw new ProtocolError(`bad ack range [${start}, ${end})`);
      for (let c = start; c < end; c++) {
        const len = chunkLength(f.source.size, this.#chunkSize, c);
        if (!this.#window.onAck(this.#key(file, c), len)) continue; // duplicate ack
        this.files[file]!.leavesVerified++;
        this.setChunk(file, c, ChunkState.Written);
        this.bytesDone += len;
        this.rate.add(len);
      }
    }
    this.windowSize = this.#window.size;
    this.inFlight = this.#window.inFlight;
    this.progress();
    this.wake.notify();
  }

  #onNack(msg: MessageOf<'nack'>): void {
    const f = this.#file(msg.file);
    if (msg.chunk >= f.count) throw new ProtocolError(`nack for chunk ${msg.chunk} out of range`);
    f.resends ??= new Map();
    const n = (f.resends.get(msg.chunk) ?? 0) + 1;
    if (n > MAX_RESENDS_PER_CHUNK) {
      throw new IntegrityError(
        `chunk ${msg.chunk} of '${f.source.path}' failed verification ${n} times: ${msg.reason}`,
      );
    }
    f.resends.set(msg.chunk, n);
    this.#window.forget(this.#key(msg.file, msg.chunk));
    this.#redo.unshift({ kind: 'chunk', file: msg.file, chunk: msg.chunk });
    this.emit({
      type: 'chunks-refetched',
      file: msg.file,
      chunks: [msg.chunk],
      reason: msg.reason,
    });
    this.wake.notify();
  }

  #onVerified(file: number): void {
    const f = this.#file(file);
    if (!f.accepted) throw new ProtocolError(`file ${file} verified but never accepted`);
    if (f.verified) return;
    f.verified = true;
    this.#outstanding--;
    this.markFileVerified(file);
    this.emit({
      type: 'file-verified',
      file,
      path: f.source.path,
      root: toHex(merkleRoot(this.#hasher!, f.leaves.bytes, f.count)),
    });
  }

  async #sendLeaves(ch: SecureChannel, file: number): Promise<void> {
    const f = this.#file(file);
    if (f.leaves.presentCount !== f.count)
      throw new ProtocolError(`need-leaves for unfinished file ${file}`);
    for (let start = 0; start < f.count; start += LEAVES_PER_PAGE) {
      const end = Math.min(f.count, start + LEAVES_PER_PAGE);
      await ch.sendControl({
        t: 'leaves',
        file,
        start,
        leaves: f.leaves.bytes.subarray(start * 32, end * 32),
      });
    }
  }

  #onRefetch(msg: MessageOf<'refetch'>): void {
    const f = this.#file(msg.file);
    f.resends ??= new Map();
    const resends = f.resends;
    const resend = msg.chunks.filter((c) => {
      if (c >= f.count) throw new ProtocolError(`refetch of chunk ${c} out of range`);
      const n = (resends.get(c) ?? 0) + 1;
      resends.set(c, n);
      return true;
    });
    if (resend.some((c) => (resends.get(c) ?? 0) > MAX_RESENDS_PER_CHUNK)) {
      throw new IntegrityError(`'${f.source.path}': root still mismatches after re-sending chunks`);
    }
    for (const c of resend) {
      f.claimed?.delete(c);
      this.#redo.push({ kind: 'chunk', file: msg.file, chunk: c });
    }
    this.#redo.push({ kind: 'end', file: msg.file });
    this.emit({
      type: 'chunks-refetched',
      file: msg.file,
      chunks: resend,
      reason: 'root mismatch',
    });
    this.wake.notify();
  }

  async #onComplete(): Promise<void> {
    if (this.#outstanding !== 0)
      throw new ProtocolError('receiver completed with files unverified');
    const summary: TransferSummary = {
      transferId: this.transferIdHex!,
      files: this.#files
        .filter((f) => f.accepted)
        .map((f) => ({
          path: f.source.path,
          size: f.source.size,
          merkleRoot: toHex(merkleRoot(this.#hasher!, f.leaves.bytes, f.count)),
        })),
      bytesTransferred: this.#bytesSent,
      bytesSkipped: this.#bytesSkipped,
      wireBytes: this.#wireBytes,
      ...(this.peerName ? { peerName: this.peerName } : {}),
    };
    this.finish('completed', summary);
    await this.stream.closeWrite().catch(() => undefined);
  }

  /** Send work items while the window has room and nobody paused. */
  async #pump(): Promise<void> {
    const ch = this.channel!;
    const compression = new CompressionPolicy(this.#opts.compression ?? true);
    const throttle = this.#opts.throttle;
    while (!this.isFinished) {
      const item = this.#upcoming().next().value;
      if (!item || this.isPaused || this.state === 'awaiting-accept' || !this.#window.hasRoom) {
        await this.wake.wait();
        continue;
      }
      this.#advance(item);
      const f = this.#files[item.file]!;
      if (item.kind === 'end') {
        if (!this.#redo.some((q) => q.file === item.file)) await this.#closeHandle(item.file);
        await ch.sendControl({
          t: 'file-end',
          file: item.file,
          root: merkleRoot(this.#hasher!, f.leaves.bytes, f.count),
        });
        continue;
      }
      const len = chunkLength(f.source.size, this.#chunkSize, item.chunk);
      this.#prefetch();
      const { data, leaf } = await this.#takeRead(item.file, item.chunk);
      f.leaves.set(item.chunk, leaf);
      const claimed = f.claimed?.get(item.chunk);
      if (claimed && Buffer.compare(claimed, leaf) === 0) {
        // The receiver has exactly these bytes: nothing travels.
        this.#bytesSkipped += len;
        this.bytesDone += len;
        this.files[item.file]!.leavesVerified++;
        this.setChunk(item.file, item.chunk, ChunkState.Written);
        this.progress();
        this.#recycle(data);
        continue;
      }
      const [payload, compressed] = await compression.encode(item.file, data);
      if (this.isFinished) return;
      if (throttle) {
        // Before the window counts the chunk as sent, so time spent waiting
        // here does not read as round-trip time.
        await this.takeThrottle(throttle, payload.length, this.#ended.signal);
        if (this.isFinished) return;
      }
      const key = this.#key(item.file, item.chunk);
      this.#window.onSend(key);
      this.inFlight = this.#window.inFlight;
      this.setChunk(item.file, item.chunk, ChunkState.InFlight);
      let flags = compressed ? DataFlag.Compressed : 0;
      if (item.chunk === f.count - 1) flags |= DataFlag.Final;
      await ch.sendData({ file: item.file, chunk: item.chunk, flags, length: len }, leaf, payload);
      this.#recycle(data);
      this.#bytesSent += len;
      this.#wireBytes += payload.length;
    }
  }

  /** Work in the order it will be done: re-sends first, then fresh work from the cursor. */
  *#upcoming(): Generator<WorkItem> {
    yield* this.#redo;
    let { file, chunk } = this.#cursor;
    for (; file < this.#files.length; file++, chunk = 0) {
      const f = this.#files[file]!;
      if (!f.accepted) continue;
      for (; chunk < f.count; chunk++) yield { kind: 'chunk', file, chunk };
      yield { kind: 'end', file };
    }
  }

  /** Consume `item`, the first of `#upcoming()`. */
  #advance(item: WorkItem): void {
    if (this.#redo.length > 0) this.#redo.shift();
    else if (item.kind === 'chunk') this.#cursor = { file: item.file, chunk: item.chunk + 1 };
    else this.#cursor = { file: item.file + 1, chunk: 0 };
  }

  /**
   * Start reads for the next chunks in the queue so disk latency overlaps
   * with hashing and sealing. At most READ_AHEAD reads are outstanding.
   */
  #prefetch(): void {
    let started = 0;
    for (const item of this.#upcoming()) {
      if (this.#reads.size >= READ_AHEAD || started >= READ_AHEAD) break;
      if (item.kind !== 'chunk') continue;
      const key = this.#key(item.file, item.chunk);
      started++;
      if (this.#reads.has(key)) continue;
      const p = this.#readAndHash(item.file, item.chunk);
      p.catch(() => undefined); // surfaced by #takeRead
      this.#reads.set(key, p);
    }
  }

  async #takeRead(file: number, chunk: number): Promise<{ data: Uint8Array; leaf: Uint8Array }> {
    const key = this.#key(file, chunk);
    const pending = this.#reads.get(key);
    this.#reads.delete(key);
    return pending ?? this.#readAndHash(file, chunk);
  }

  /** Read a chunk and compute its leaf on the hash pool (the buffer is ours to hand over). */
  async #readAndHash(file: number, chunk: number): Promise<{ data: Uint8Array; leaf: Uint8Array }> {
    return this.#pool.leaf(await this.#read(file, chunk), true);
  }

  async #handleFor(file: number): Promise<FileHandle> {
    let h = this.#handles.get(file);
    if (!h) {
      const f = this.#files[file]!;
      h = open(f.source.absolute, 'r').catch((cause: Error) => {
        throw new FerryError('IO', `cannot open '${f.source.absolute}': ${cause.message}`, {
          cause,
        });
      });
      this.#handles.set(file, h);
    }
    return h;
  }

  async #read(file: number, chunk: number): Promise<Buffer> {
    const f = this.#files[file]!;
    const len = chunkLength(f.source.size, this.#chunkSize, chunk);
    const fh = await this.#handleFor(file);
    this.#slots ??= new ChunkSlots(this.#chunkSize, READ_AHEAD + 2);
    const buf = (len === this.#chunkSize && this.#slots.take()) || Buffer.allocUnsafe(len);
    let off = 0;
    while (off < len) {
      const { bytesRead } = await fh.read(buf, off, len - off, chunk * this.#chunkSize + off);
      if (bytesRead === 0) {
        throw new FerryError(
          'IO',
          `'${f.source.absolute}' shrank while being sent (chunk ${chunk})`,
        );
      }
      off += bytesRead;
    }
    return buf;
  }

  /** Give a chunk's slot back once it was sealed (sealing copies it into the ciphertext). */
  #recycle(data: Uint8Array): void {
    this.#slots?.give(data);
  }

  /** Close a file's handle once no read of it is queued. */
  async #closeHandle(file: number): Promise<void> {
    const h = this.#handles.get(file);
    if (!h) return;
    this.#handles.delete(file);
    await h.then((fh) => fh.close()).catch(() => undefined);
  }

  protected override async onFinished(): Promise<void> {
    this.#ended.abort();
    this.channel?.dispose();
    await Promise.allSettled(this.#reads.values());
    this.#reads.clear();
    for (const file of [...this.#handles.keys()]) await this.#closeHandle(file);
  }
}
