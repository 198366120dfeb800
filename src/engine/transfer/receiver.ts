/**
 * The receiving side of one transfer.
 *
 * handshake → offer (validated: every name is hostile until proven otherwise)
 * → decide → re-verify what an earlier session left on disk → free-space
 * check → accept with have-sets → chunks (authenticated, leaf-checked,
 * written to `<name>.part`, then acked) → file-end: rebuild the root from all
 * leaves; only a matching root renames the part file into place (never over
 * an existing file) → complete.
 *
 * Memory: chunks are written as they arrive; at most `memoryBudget` bytes of
 * writes are pending before the loop stops reading (backpressure onto the
 * stream, so even a sender that ignores the window cannot grow our heap).
 *
 * Open files: a part file is created (or, on resume, reopened) when its first
 * chunk arrives and closed once placed, so an offer of any number of files
 * holds about a window's worth of descriptors, not one per file. Placing a
 * verified file (fsync, link, unlink) runs beside the loop, up to
 * MAX_PLACING at once, so many small files do not wait on each other's fsync.
 */
import { setMaxListeners } from 'node:events';
import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open, unlink } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import {
  ConnectionError,
  FerryError,
  IntegrityError,
  ProtocolError,
  toFerryError,
} from '../errors.js';
import { mapLimit } from '../map-limit.js';
import { cleanPeerName } from '../names.js';
import { DataFlag, type DataHeader, type MessageOf, toRanges } from '../protocol/messages.js';
import type { Throttle } from '../queue/bandwidth.js';
import type { ByteStream } from '../transport/link.js';
import type { SecureChannel } from './channel.js';
import { ChunkSlots } from './chunk-slots.js';
import { decompressChunk } from './compression.js';
import { DirectWrites } from './direct-write.js';
import { keepFileSizeErrorsCatchable } from './file-size-signal.js';
import { LeafHashPool } from './hash-pool.js';
import { ChunkHasher, carve, chunkCount, chunkLength, LeafSet, merkleRoot } from './merkle.js';
import {
  checkFreeSpace,
  createPartAt,
  createPartFile,
  defaultFileMode,
  ensureFolder,
  freePartName,
  openExistingPart,
  placeWithoutOverwrite,
  resolveTarget,
  targetFolderProblem,
  validateRelativePath,
} from './safe-path.js';
import { type FileProgress, NO_MISMATCH, type PeerAuth, Transfer, toHex } from './transfer.js';
import {
  ChunkState,
  type FileCheckpoint,
  type PeerFacts,
  type ReceiveCheckpoint,
  type SessionStore,
  type TransferSummary,
} from './types.js';

/** What the user is asked to accept. */
export interface OfferInfo {
  readonly transferId: string;
  readonly files: readonly { path: string; size: number }[];
  /** Empty folders that come with the files (recreated when every file is accepted). */
  readonly dirs: readonly string[];
  readonly total: number;
  readonly chunkSize: number;
  readonly peer: PeerFacts;
  /** A checkpoint from an earlier session exists for this transfer. */
  readonly resuming: boolean;
  /** The device name the sender gave (a claim, cleaned for display). */
  readonly peerName?: string;
}

/** The user's answer to an offer. */
export type Decision =
  | { accept: true; files?: readonly number[] }
  | { accept: false; reason?: string };

/** Options of a receive. */
export interface ReceiveOptions extends PeerAuth {
  readonly stream: ByteStream;
  readonly targetDir: string;
  readonly store: SessionStore;
  /** Asked once per offer; default accepts everything. */
  readonly decide?: (offer: OfferInfo) => Decision | Promise<Decision>;
  /** Bytes of chunk writes that may be pending; default 16 MiB. */
  readonly memoryBudget?: number;
  /** Debounce of progress checkpoints; default 1000 ms. */
  readonly checkpointIntervalMs?: number;
  readonly now?: () => number;
  /** Fail with TIMEOUT when the peer sends nothing this long while we wait on it; default 30 s. */
  readonly idleTimeoutMs?: number;
  /**
   * Asked before each chunk is verified and written, for its payload bytes.
   * Waiting chunks hold back their writes and acks, and so the sender's
   * window; frames are still read up to `memoryBudget`, so a cancel or pause
   * behind them is seen at once.
   */
  readonly throttle?: Throttle;
  /**
   * Write whole chunks with O_DIRECT where the target's filesystem takes
   * them (see direct-write.ts); default true.
   */
  readonly directWrites?: boolean;
}

interface RecvFile {
  readonly index: number;
  readonly path: string;
  readonly size: number;
  readonly count: number;
  leaves: LeafSet;
  /** Where the file goes (before any ` (1)`); set at accept. */
  target: string;
  /** Empty until the part file exists. */
  partPath: string;
  handle: FileHandle | null;
  /** The part file being created or reopened (concurrent chunks share it). */
  opening: Promise<FileHandle> | null;
  /** The root matched; the file is being (or has been) put in place. */
  placing: boolean;
  /** Already verified and in place from an earlier session. */
  savedAs: string | null;
  pending: number;
  nacks: number;
  rounds: number;
  senderLeaves: Uint8Array | null;
  senderLeavesGot: number;
  /** The part-file name journaled for this file, once looked for (see #createPart). */
  intent: Promise<string | null> | null;
}

/** The chunk map of a file not (yet) accepted. */
const NO_CHUNKS = new Uint8Array(0);
const MAX_NACKS_PER_FILE = 16;
/** Part-file names found and journaled ahead of the files' first chunks, in one write. */
const PART_LOOKAHEAD = 32;
const MAX_ROOT_ROUNDS = 2;
/**
 * Verified files being placed at once. Each holds one open descriptor until
 * its fsync ends; libuv runs 4 file operations at a time by default.
 */
const MAX_PLACING = 8;
/**
 * Chunk slots (see chunk-slots.ts) at most: enough for the chunks waiting on
 * the hash worker and the disk at full speed; a chunk arriving when all are
 * busy takes the plain path (its own buffer, written through the page cache).
 * Each slot stays resident once used, so not one per chunk of the budget.
 */
const RECEIVE_SLOTS = 8;
/** Target names checked (and folders made) at once at accept. */
const RESOLVE_AHEAD = 32;
/**
 * Files of an earlier session re-checked at once on resume; each holds a
 * chunk-sized buffer while it reads.
 */
const REOPEN_AHEAD = 8;

/** Start receiving; returns at once, progress arrives as events. */
export function startReceive(opts: ReceiveOptions): ReceiveTransfer {
  return new ReceiveTransfer(opts);
}

/** A running receive. */
export class ReceiveTransfer extends Transfer {
  readonly #opts: ReceiveOptions;
  readonly #targetDir: string;
  readonly #budget: number;
  #chunkSize = 0;
  #hasher: ChunkHasher | null = null;
  /** Direct writes of whole chunks, where the target's filesystem allows them. */
  #direct: DirectWrites | null = null;
  /** Where whole chunks wait to be hashed and written (see chunk-slots.ts). */
  #slots: ChunkSlots | null = null;
  #files: (RecvFile | null)[] = [];
  #pendingBytes = 0;
  #acks = new Map<number, number[]>();
  #ackScheduled = false;
  #saveTimer: NodeJS.Timeout | null = null;
  /** When the pending `#saveTimer` fires (the transfer's clock). */
  #saveDue = 0;
  /** When the checkpoint was last saved (the transfer's clock); see #savePlaced. */
  #lastSave = Number.NEGATIVE_INFINITY;
  #saving: Promise<void> = Promise.resolve();
  #bytesWritten = 0;
  #wireBytes = 0;
  readonly #pool = LeafHashPool.shared();
  /** Folders below the target already checked or created (see resolveTarget). */
  readonly #made = new Set<string>();
  /** The mode placed files get: 0666 less the umask, read once. */
  readonly #fileMode = defaultFileMode();
  /** Accepted files whose root has not matched yet; the last match completes. */
  #unplaced = 0;
  /** Entries for the store's journal (files placed, or no longer placed) since the last save. */
  #unjournaled: FileCheckpoint[] = [];
  /** Verified files being placed (fsync, link) while the loop reads on. */
  readonly #placing = new Set<Promise<void>>();
  /** The main loop; `settled` waits for it so no step touches the disk afterwards. */
  readonly #running: Promise<void>;
  /** Fires once the transfer ended, so a pending throttle take leaves its queue. */
  readonly #ended = new AbortController();

  constructor(opts: ReceiveOptions) {
    super('receiver', opts.stream, opts.now, opts.idleTimeoutMs);
    this.#opts = opts;
    this.#targetDir = resolve(opts.targetDir);
    this.#budget = opts.memoryBudget ?? 16 * 1024 * 1024;
    // Each received frame waiting on a throttle listens for the end (up to
    // the memory budget's worth of frames): not a leak, and Node's warning
    // past 10 listeners went to stderr, under the TUI's screen.
    setMaxListeners(0, this.#ended.signal);
    keepFileSizeErrorsCatchable();
    this.#running = this.#run().catch((err) => this.fail(err));
  }

  async #run(): Promise<void> {
    this.#hasher = await ChunkHasher.create();
    const ch = await this.openSecureChannel(this.#opts);
    if (!ch) return;

    // Still 'handshaking' (watched for idleness) until the offer arrives: a
    // sender that goes silent here must time out, not hang the receiver.
    const first = await ch.receive();
    if (first === null) throw new ConnectionError('sender closed the stream before its offer');
    if (first.kind !== 'control') throw new ProtocolError('data before the offer');
    if (first.msg.t !== 'offer') {
      if (this.handleCommon(first.msg)) return;
      throw new ProtocolError(`expected an offer, got '${first.msg.t}'`);
    }
    await this.#onOffer(ch, first.msg);
    if (this.isFinished) return;
    await this.#receiveLoop(ch);
  }

  async #onOffer(ch: SecureChannel, offer: MessageOf<'offer'>): Promise<void> {
    ch.setTransferId(offer.transferId);
    this.peerName = cleanPeerName(offer.name);
    this.transferIdHex = toHex(offer.transferId);
    this.#chunkSize = offer.chunkSize;
    // Every name, file or empty folder, is checked and may appear once.
    const seen = new Set<string>();
    const claim = (path: string): string[] => {
      const segs = validateRelativePath(path);
      const key = segs.join('/');
      if (seen.has(key)) throw new FerryError('HOSTILE_NAME', `offer lists '${key}' twice`);
      seen.add(key);
      return segs;
    };
    let total = 0;
    const segments = offer.files.map((f) => {
      total += f.size;
      return claim(f.path);
    });
    if (!Number.isSafeInteger(total))
      throw new ProtocolError('offer total size is not a safe integer');
    const dirs = (offer.dirs ?? []).map(claim);
    for (const f of offer.files) {
      // A chunk index must fit the u32 header field.
      if (chunkCount(f.size, this.#chunkSize) > 0xffff_ffff)
        throw new ProtocolError('file too large');
    }
    // Before anyone is asked to accept: a target that cannot take files fails now.
    const unusable = await targetFolderProblem(this.#targetDir);
    if (unusable) throw new FerryError('IO', `cannot save the files: ${unusable}`);
    if (this.#opts.directWrites !== false) {
      this.#direct = await DirectWrites.at(this.#targetDir, this.#chunkSize);
    }
    this.#slots = new ChunkSlots(
      this.#chunkSize,
      Math.max(1, Math.min(RECEIVE_SLOTS, Math.floor(this.#budget / this.#chunkSize))),
    );
    const checkpoint = await this.#opts.store.load(this.transferIdHex);
    const usable =
      checkpoint &&
      checkpoint.chunkSize === offer.chunkSize &&
      resolve(checkpoint.targetDir) === this.#targetDir &&
      checkpoint.peerFingerprint === this.peer!.fingerprint
        ? checkpoint
        : undefined;

    // Chunk maps only for accepted files, once their space is checked: an
    // offer is the peer's claim, and a UI copying the map of a file claiming
    // 2^32 chunks while the user decides would copy 4 GiB.
    this.files = offer.files.map(
      (f): FileProgress => ({
        path: f.path,
        size: f.size,
        chunkCount: chunkCount(f.size, this.#chunkSize),
        chunks: NO_CHUNKS,
        leavesVerified: 0,
        root: 'skipped',
        mismatched: NO_MISMATCH,
        accepted: false,
      }),
    );
    // Now the wait is on the local user, so the idle watchdog stands down.
    this.state = 'awaiting-accept';
    this.touch();
    const decision: Decision = this.#opts.decide
      ? await this.#opts.decide({
          transferId: this.transferIdHex,
          files: offer.files.map((f) => ({ path: f.path, size: f.size })),
          dirs: dirs.map((segs) => segs.join('/')),
          total,
          chunkSize: offer.chunkSize,
          peer: this.peer!,
          resuming: usable !== undefined,
          ...(this.peerName ? { peerName: this.peerName } : {}),
        })
      : { accept: true };
    if (this.isFinished) return;
    if (!decision.accept) {
      const reason = decision.reason ?? 'declined by the receiver';
      await ch.sendControl({ t: 'decline', reason });
      this.finish('cancelled', new FerryError('DECLINED', reason), 'local');
      return;
    }
    const chosen = new Set(decision.files ?? offer.files.map((_, i) => i));
    for (const i of chosen) {
      if (!offer.files[i]) throw new RangeError(`decision.files: no file ${i} in the offer`);
    }

    // Re-verify what earlier sessions left before claiming any of it.
    this.#files = offer.files.map(() => null);
    let needed = 0;
    let resumed = 0;
    // By index: a search per file made resuming 100 000 files quadratic.
    const priorByIndex = new Map((usable?.files ?? []).map((p) => [p.index, p]));
    const priorOf = (i: number): FileCheckpoint | undefined => {
      const p = priorByIndex.get(i);
      return p?.path === offer.files[i]!.path ? p : undefined;
    };
    // At most what an earlier session may have left counts as there already:
    // an offer that cannot fit even so fails before anything is allocated
    // or re-read for it (the exact check follows the re-check below).
    let upTo = 0;
    for (const i of chosen) if (!priorOf(i)) upTo += offer.files[i]!.size;
    await checkFreeSpace(this.#targetDir, upTo);
    // A few files at a time: re-checking 5000 placed files one after another
    // took 2 s here before the accept could go out.
    const order = [...chosen].sort((a, b) => a - b);
    const counts = order.map((i) => chunkCount(offer.files[i]!.size, this.#chunkSize));
    const leafSets = LeafSet.many(counts);
    const reopened = await mapLimit(order, REOPEN_AHEAD, (i, k) => {
      const f = offer.files[i]!;
      return this.#reopen(i, f.path, f.size, leafSets[k]!, priorOf(i));
    });
    for (const rf of reopened) {
      this.#files[rf.index] = rf;
      // A version-1 checkpoint listed placed files itself; from now on they
      // live in the journal (the next save lists only files in progress).
      if (usable?.version === 1 && rf.savedAs) this.#unjournaled.push(this.#entry(rf));
      const claimed = this.#claimedBytes(rf);
      needed += rf.size - claimed;
      resumed += claimed;
    }
    await checkFreeSpace(this.#targetDir, needed);
    // Empty folders belong to the whole offer: recreated when all of it is accepted.
    if (decision.files === undefined) {
      for (const segs of dirs) await ensureFolder(this.#targetDir, segs);
    }
    // Folders made and names checked now (a symlink in the way fails the
    // accept, not the first chunk); the part files come with their chunks.
    // Many at a time: one after another, 30 000 files took seconds here.
    const toPlace = this.#files.filter((rf): rf is RecvFile => rf !== null && !rf.savedAs);
    await mapLimit(toPlace, RESOLVE_AHEAD, async (rf) => {
      rf.target = await resolveTarget(this.#targetDir, segments[rf.index]!, this.#made);
    });

    this.total = 0;
    const accept: MessageOf<'accept'>['files'] = [];
    // Chunk maps start all Pending (0).
    const maps = carve(counts);
    for (const [k, rf] of reopened.entries()) {
      this.#unplaced++;
      const fp = this.files[rf.index]!;
      fp.accepted = true;
      fp.root = 'streaming';
      fp.chunks = maps[k]!;
      this.fileChanged(rf.index);
      this.total += rf.size;
      const have: number[] = [];
      for (let c = 0; c < rf.count; c++) {
        if (!rf.leaves.has(c)) continue;
        have.push(c);
        fp.chunks[c] = ChunkState.Written;
        fp.leavesVerified++;
      }
      const leaves = new Uint8Array(have.length * 32);
      have.forEach((c, k) => {
        leaves.set(rf.leaves.get(c)!, k * 32);
      });
      accept.push({ file: rf.index, have: toRanges(have), leaves });
    }
    this.bytesDone = resumed;
    await this.#saveNow();
    this.state = this.isPaused ? 'paused' : 'transferring';
    this.touch();
    // 'started' before the accept leaves: whoever records sessions on it
    // (the CLI, the app) has done so before the sender can know the transfer
    // started and move to the resume rendezvous. A receiver killed in between
    // then finds its record when run again (and tries the code too, for a
    // sender that never got the accept).
    this.emit({
      type: 'started',
      transferId: this.transferIdHex,
      files: accept.map((a) => ({
        path: offer.files[a.file]!.path,
        size: offer.files[a.file]!.size,
      })),
      total: this.total,
      resumedBytes: resumed,
    });
    await ch.sendControl({
      t: 'accept',
      files: accept,
      ...(this.#opts.deviceName ? { name: this.#opts.deviceName } : {}),
    });
  }

  #claimedBytes(rf: RecvFile): number {
    let n = 0;
    for (let c = 0; c < rf.count; c++) {
      if (rf.leaves.has(c)) n += chunkLength(rf.size, this.#chunkSize, c);
    }
    return n;
  }

  /** Rebuild a file's state from an earlier session, re-hashing every claimed chunk. */
  async #reopen(
    index: number,
    path: string,
    size: number,
    leaves: LeafSet,
    prior: FileCheckpoint | undefined,
  ): Promise<RecvFile> {
    const count = leaves.count;
    const rf: RecvFile = {
      index,
      path,
      size,
      count,
      leaves,
      target: '',
      partPath: '',
      handle: null,
      opening: null,
      placing: false,
      savedAs: null,
      pending: 0,
      nacks: 0,
      rounds: 0,
      senderLeaves: null,
      senderLeavesGot: 0,
      intent: null,
    };
    if (!prior) return rf;
    const source = prior.savedAs ?? prior.partPath;
    if (!source || !this.#inside(source)) return rf;
    let fh: FileHandle;
    try {
      fh = prior.savedAs ? await open(source, 'r') : await openExistingPart(source);
    } catch {
      return rf; // gone or replaced by a symlink: start this file afresh
    }
    // Closed again once checked: the part file is reopened when its next
    // chunk arrives, so a resume of many files does not hold them all open.
    try {
      const old = LeafSet.fromJSON(prior.leaves);
      if (!prior.savedAs && (await fh.stat()).size > size) await fh.truncate(size);
      const upTo = Math.min(count, old.count);
      for await (const [c, leaf] of this.#leavesOnDisk(fh, size, upTo, (c) => old.has(c))) {
        if (leaf && Buffer.compare(leaf, old.get(c)!) === 0) rf.leaves.set(c, leaf);
      }
      if (prior.savedAs) {
        if (rf.leaves.presentCount === count && (await fh.stat()).size === size) {
          rf.savedAs = prior.savedAs;
        } else {
          // The saved copy was changed since; leave it alone, fetch a fresh
          // one, and withdraw the placement from the journal.
          rf.leaves = new LeafSet(count);
          this.#unjournaled.push(this.#entry(rf));
        }
        return rf;
      }
      rf.partPath = prior.partPath;
      return rf;
    } finally {
      await fh.close();
    }
  }

  /**
   * The file's open part file: created on its first chunk (`<name>.part`,
   * never over anything), or reopened if an earlier session left one.
   */
  #open(rf: RecvFile): Promise<FileHandle> {
    if (rf.handle) return Promise.resolve(rf.handle);
    rf.opening ??= (async () => {
      if (rf.partPath) return openExistingPart(rf.partPath);
      const created = await this.#createPart(rf);
      rf.partPath = created.path;
      rf.intent = null; // the part path says it from here on
      this.#scheduleSave();
      return created.handle;
    })().then(
      (fh) => {
        rf.handle = fh;
        rf.opening = null;
        return fh;
      },
      (err: unknown) => {
        rf.opening = null;
        throw err;
      },
    );
    return rf.opening;
  }

  /**
   * Create `rf`'s part file under a name the journal holds first: a crash
   * before the next save then leaves a part the resume takes up again (or
   * `ferry cancel` deletes), not an orphan nobody recorded (a kill -9 of a
   * 20 000-file receive left 3–5). Names are found and journaled
   * PART_LOOKAHEAD files ahead in one write, so a folder of small files does
   * not wait on the journal file by file; a name taken since, or a file
   * outside the look-ahead, is journaled on its own just before creation.
   */
  async #createPart(rf: RecvFile): Promise<{ path: string; handle: FileHandle }> {
    if (!rf.intent) this.#journalAhead(rf.index);
    const name = await rf.intent;
    const handle = name ? await createPartAt(name) : null;
    if (name && handle) return { path: name, handle };
    return createPartFile(rf.target, (candidate) =>
      this.#journalParts([this.#partEntry(rf, candidate)]).catch(() => undefined),
    );
  }

  /**
   * Find and journal part-file names for the next PART_LOOKAHEAD files from
   * `from` that have none yet. Not fsynced: a process crash is what this
   * covers. Best effort, like saves: a store that cannot write stops no
   * transfer (those files are journaled one by one instead).
   */
  #journalAhead(from: number): void {
    const batch: RecvFile[] = [];
    for (let i = from; i < this.#files.length && batch.length < PART_LOOKAHEAD; i++) {
      const f = this.#files[i];
      if (f && !f.intent && !f.partPath && !f.savedAs) batch.push(f);
    }
    const names = (async () => {
      const found = await mapLimit(batch, PART_LOOKAHEAD, (f) =>
        freePartName(f.target).catch(() => null),
      );
      const entries: FileCheckpoint[] = [];
      batch.forEach((f, k) => {
        if (found[k]) entries.push(this.#partEntry(f, found[k]));
      });
      await this.#journalParts(entries);
      return found;
    })().catch(() => batch.map(() => null));
    batch.forEach((f, k) => {
      f.intent = names.then((found) => found[k] ?? null);
    });
  }

  /** The journal entry for a part file `f` is about to get at `partPath`. */
  #partEntry(f: RecvFile, partPath: string): FileCheckpoint {
    return { ...this.#entry(f), partPath };
  }

  #journalParts(entries: FileCheckpoint[]): Promise<void> {
    return this.#opts.store.appendJournal(this.transferIdHex!, entries, { sync: false });
  }

  #inside(p: string): boolean {
    const rel = relative(this.#targetDir, p);
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
  }

  async #receiveLoop(ch: SecureChannel): Promise<void> {
    const throttle = this.#opts.throttle;
    while (!this.isFinished) {
      const inc = await ch.receive();
      if (this.isFinished) return;
      if (inc === null) throw new ConnectionError('sender closed the stream before completing');
      if (inc.kind === 'data') {
        await this.#onData(inc.header, inc.leaf, inc.payload, throttle);
        continue;
      }
      const msg = inc.msg;
      if (this.handleCommon(msg)) continue;
      switch (msg.t) {
        case 'file-end':
          await this.#onFileEnd(ch, msg);
          break;
        case 'leaves':
          await this.#onLeaves(ch, msg);
          break;
        default:
          throw new ProtocolError(`unexpected '${msg.t}' from the sender`);
      }
    }
  }

  #file(index: number): RecvFile {
    const rf = this.#files[index];
    if (!rf) throw new ProtocolError(`sender used file ${index}, which was not accepted`);
    return rf;
  }

  /**
   * Check a chunk's header and start its verify-and-write, behind the
   * bandwidth limit when there is one. The limit holds back the writes (and
   * so the acks, and so the sender's window), not this loop: frames keep
   * being read up to the memory budget, so a cancel or pause behind
   * throttled data is seen at once instead of after it.
   */
  async #onData(
    h: DataHeader,
    leaf: Uint8Array,
    payload: Uint8Array,
    throttle: Throttle | undefined,
  ): Promise<void> {
    const rf = this.#file(h.file);
    if (rf.placing || rf.savedAs)
      throw new ProtocolError(`chunk for file ${h.file}, already verified`);
    if (h.chunk >= rf.count)
      throw new ProtocolError(`chunk ${h.chunk} beyond file ${h.file}'s end`);
    const len = chunkLength(rf.size, this.#chunkSize, h.chunk);
    if (h.length !== len)
      throw new ProtocolError(`chunk ${h.chunk} declares ${h.length} bytes, expected ${len}`);
    if (((h.flags & DataFlag.Final) !== 0) !== (h.chunk === rf.count - 1)) {
      throw new ProtocolError(`chunk ${h.chunk} has a wrong final flag`);
    }
    let data: Uint8Array = payload;
    if (h.flags & DataFlag.Compressed) data = await decompressChunk(payload, len);
    else if (payload.length !== len)
      throw new ProtocolError(`chunk ${h.chunk} payload has wrong length`);
    this.#wireBytes += payload.length;
    // Hashing runs on the pool while this loop reads the next frame; file-end
    // waits for `pending` to drain, so ordering still holds.
    const shipped = Buffer.from(leaf);
    this.setChunk(h.file, h.chunk, ChunkState.InFlight);
    rf.pending++;
    this.#pendingBytes += len;
    const wire = payload.length;
    const work = throttle
      ? this.takeThrottle(throttle, wire, this.#ended.signal).then(() =>
          this.isFinished ? undefined : this.#verifyAndWrite(rf, h.chunk, data, shipped),
        )
      : this.#verifyAndWrite(rf, h.chunk, data, shipped);
    work.then(
      () => {
        rf.pending--;
        this.#pendingBytes -= len;
        this.wake.notify();
      },
      (err) => {
        rf.pending--;
        this.#pendingBytes -= len;
        this.fail(err);
      },
    );
    while (this.#pendingBytes > this.#budget && !this.isFinished) await this.wake.wait();
  }

  async #verifyAndWrite(rf: RecvFile, chunk: number, data: Uint8Array, shipped: Uint8Array) {
    // A whole chunk moves into a slot: hashed there by the worker and
    // written from there (directly where possible), with no new buffers.
    const slot = data.length === this.#chunkSize ? (this.#slots?.take() ?? null) : null;
    if (!slot) return this.#verifyAndWriteFrom(rf, chunk, data, shipped);
    slot.set(data);
    try {
      await this.#verifyAndWriteFrom(rf, chunk, slot, shipped);
    } finally {
      this.#slots!.give(slot);
    }
  }

  async #verifyAndWriteFrom(
    rf: RecvFile,
    chunk: number,
    data: Uint8Array,
    shipped: Uint8Array,
  ): Promise<void> {
    // The decrypted buffer is ours alone (the shipped leaf was copied out).
    const hashed = await this.#pool.leaf(data, true);
    const mine = hashed.leaf;
    data = hashed.data;
    if (this.isFinished) return;
    if (Buffer.compare(mine, shipped) !== 0) {
      if (++rf.nacks > MAX_NACKS_PER_FILE) {
        throw new IntegrityError(`'${rf.path}': too many chunks do not match their leaves`);
      }
      this.setChunk(rf.index, chunk, ChunkState.Failed);
      this.touch();
      await this.channel!.sendControl({
        t: 'nack',
        file: rf.index,
        chunk,
        reason: 'chunk does not hash to its leaf',
      });
      return;
    }
    if (rf.leaves.has(chunk)) {
      // The sender re-sends a chunk we claimed: its copy differs (source changed).
      rf.leaves.clear(chunk);
      this.bytesDone -= data.length;
      this.files[rf.index]!.leavesVerified--;
      this.fileChanged(rf.index);
    }
    await this.#write(rf, chunk, data, mine);
  }

  async #write(rf: RecvFile, chunk: number, data: Uint8Array, leaf: Uint8Array): Promise<void> {
    const fh = rf.handle ?? (await this.#open(rf));
    const at = chunk * this.#chunkSize;
    try {
      let off = this.#direct ? await this.#direct.write(fh, data, at) : 0;
      while (off < data.length) {
        const { bytesWritten } = await fh.write(data, off, data.length - off, at + off);
        off += bytesWritten;
      }
    } catch (err) {
      const fe = toFerryError(err);
      throw new FerryError(
        fe.code,
        `cannot write '${rf.path}' in ${this.#targetDir}: ${fe.message}`,
        {
          cause: err,
        },
      );
    }
    // Recorded even if the transfer failed meanwhile: the bytes are on disk and
    // authenticated, so the checkpoint may claim them for a resume.
    rf.leaves.set(chunk, leaf);
    if (this.isFinished) return;
    this.setChunk(rf.index, chunk, ChunkState.Written);
    this.files[rf.index]!.leavesVerified++;
    this.bytesDone += data.length;
    this.#bytesWritten += data.length;
    this.rate.add(data.length);
    this.progress();
    this.#queueAck(rf.index, chunk);
    this.#scheduleSave();
  }

  #queueAck(file: number, chunk: number): void {
    let list = this.#acks.get(file);
    if (!list) {
      list = [];
      this.#acks.set(file, list);
    }
    list.push(chunk);
    if (this.#ackScheduled) return;
    this.#ackScheduled = true;
    setImmediate(() => {
      this.#ackScheduled = false;
      const ranges: number[] = [];
      for (const [f, chunks] of this.#acks) {
        chunks.sort((a, b) => a - b);
        const pairs = toRanges(chunks);
        for (let k = 0; k < pairs.length; k += 2) ranges.push(f, pairs[k]!, pairs[k + 1]!);
      }
      this.#acks.clear();
      if (ranges.length === 0 || this.isFinished) return;
      for (let k = 0; k < ranges.length; k += 3 * 4096) {
        this.channel!.sendControl({ t: 'ack', ranges: ranges.slice(k, k + 3 * 4096) }).catch(
          (err) => this.fail(err),
        );
      }
    });
  }

  async #drain(rf: RecvFile): Promise<void> {
    while (rf.pending > 0 && !this.isFinished) await this.wake.wait();
  }

  async #onFileEnd(ch: SecureChannel, msg: MessageOf<'file-end'>): Promise<void> {
    const rf = this.#file(msg.file);
    if (rf.placing) throw new ProtocolError(`second file-end for verified file ${msg.file}`);
    await this.#drain(rf);
    if (this.isFinished) return;
    if (rf.leaves.presentCount !== rf.count) {
      throw new ProtocolError(
        `file-end for '${rf.path}' with ${rf.count - rf.leaves.presentCount} chunks never sent`,
      );
    }
    this.state = 'verifying';
    const root = merkleRoot(this.#hasher!, rf.leaves.bytes, rf.count);
    const fp = this.files[rf.index]!;
    if (Buffer.compare(root, msg.root) !== 0) {
      fp.root = 'mismatch';
      this.fileChanged(rf.index);
      this.touch();
      if (++rf.rounds > MAX_ROOT_ROUNDS) {
        throw new IntegrityError(`'${rf.path}': Merkle root still mismatches after re-fetching`);
      }
      rf.senderLeaves = new Uint8Array(rf.count * 32);
      rf.senderLeavesGot = 0;
      await ch.sendControl({ t: 'need-leaves', file: rf.index });
      return;
    }
    rf.placing = true;
    this.state = this.isPaused ? 'paused' : 'transferring';
    // A ` (1)` suffix if the name was taken since; link() never follows a
    // symlink there, and the folders were checked at accept.
    while (this.#placing.size >= MAX_PLACING && !this.isFinished) await this.wake.wait();
    if (this.isFinished) return;
    const job: Promise<void> = this.holding(this.#place(ch, rf, root))
      .catch((err) => this.fail(err))
      .finally(() => {
        this.#placing.delete(job);
        this.wake.notify();
      });
    this.#placing.add(job);
    if (--this.#unplaced === 0) {
      // The last file's fsync can take a while: still 'verifying' meanwhile.
      this.state = 'verifying';
      this.touch();
      while (this.#placing.size > 0 && !this.isFinished) await this.wake.wait();
      if (!this.isFinished) await this.#complete(ch);
    }
  }

  /**
   * Put a verified file under its final name, record that, and tell the
   * sender. Runs beside the receive loop (see MAX_PLACING).
   */
  async #place(ch: SecureChannel, rf: RecvFile, root: Uint8Array): Promise<void> {
    if (rf.savedAs === null) {
      const fh = rf.handle ?? (await this.#open(rf));
      rf.handle = null;
      try {
        await this.#direct?.close(fh);
        // Private (0600) while partial and unverified; once verified, the mode
        // any new file gets here (0666 less the umask), as cp or curl would.
        await fh.chmod(this.#fileMode);
        await fh.sync();
      } finally {
        await fh.close();
      }
      if (await this.#sameAt(rf.target, rf)) {
        // Already there, byte for byte: typically placed just before a crash
        // the checkpoint did not see. Keep that one, not a `name (1)` twin.
        await unlink(rf.partPath).catch(() => undefined);
        rf.savedAs = rf.target;
      } else {
        rf.savedAs = await placeWithoutOverwrite(rf.partPath, rf.target);
      }
      this.#unjournaled.push(this.#entry(rf));
    }
    const savedAs = rf.savedAs;
    if (this.isFinished) return; // onFinished waits for this job, then saves
    this.markFileVerified(rf.index);
    await this.#savePlaced();
    await ch.sendControl({ t: 'file-verified', file: rf.index });
    this.emit({
      type: 'file-verified',
      file: rf.index,
      path: rf.path,
      root: toHex(root),
      savedAs,
    });
  }

  /**
   * Whether a regular file (not a link) at `path` holds exactly `rf`'s
   * verified bytes: same size, every chunk hashing to its leaf. Read only
   * when the name is taken and the sizes match.
   */
  async #sameAt(path: string, rf: RecvFile): Promise<boolean> {
    let fh: FileHandle;
    try {
      fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch {
      return false;
    }
    try {
      const st = await fh.stat();
      if (!st.isFile() || st.size !== rf.size) return false;
      for await (const [c, leaf] of this.#leavesOnDisk(fh, rf.size, rf.count)) {
        const want = rf.leaves.get(c);
        if (!leaf || !want || Buffer.compare(leaf, want) !== 0) return false;
      }
      return true;
    } catch {
      return false;
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  /**
   * The leaves of chunks 0..upTo-1 of a file of `size` bytes open as `fh`,
   * those `wanted` selects, hashed from disk one chunk at a time: null for a
   * chunk the file is too short to hold.
   */
  async *#leavesOnDisk(
    fh: FileHandle,
    size: number,
    upTo: number,
    wanted: (chunk: number) => boolean = () => true,
  ): AsyncGenerator<[number, Uint8Array | null]> {
    const buf = Buffer.allocUnsafe(Math.max(1, Math.min(this.#chunkSize, size)));
    for (let c = 0; c < upTo; c++) {
      if (!wanted(c)) continue;
      const len = chunkLength(size, this.#chunkSize, c);
      const { bytesRead } = await fh.read(buf, 0, len, c * this.#chunkSize);
      yield [c, bytesRead === len ? this.#hasher!.leaf(buf.subarray(0, len)) : null];
    }
  }

  async #onLeaves(ch: SecureChannel, msg: MessageOf<'leaves'>): Promise<void> {
    const rf = this.#file(msg.file);
    const mine = rf.senderLeaves;
    const n = msg.leaves.length / 32;
    if (!mine || msg.start + n > rf.count)
      throw new ProtocolError('unrequested or oversized leaves');
    mine.set(msg.leaves, msg.start * 32);
    rf.senderLeavesGot += n;
    if (rf.senderLeavesGot < rf.count) return;
    rf.senderLeaves = null;
    const bad: number[] = [];
    for (let c = 0; c < rf.count; c++) {
      const have = rf.leaves.get(c);
      if (!have || Buffer.compare(have, mine.subarray(c * 32, c * 32 + 32)) !== 0) bad.push(c);
    }
    if (bad.length === 0) {
      throw new IntegrityError(`'${rf.path}': every leaf matches but the sender's root does not`);
    }
    const fp = this.files[rf.index]!;
    fp.mismatched = bad;
    this.fileChanged(rf.index);
    for (const c of bad) {
      rf.leaves.clear(c);
      fp.chunks[c] = ChunkState.Failed;
      fp.leavesVerified--;
      this.bytesDone -= chunkLength(rf.size, this.#chunkSize, c);
    }
    this.touch();
    this.emit({
      type: 'chunks-refetched',
      file: rf.index,
      chunks: bad,
      reason: 'Merkle root mismatch',
    });
    for (let k = 0; k < bad.length; k += 65_536) {
      await ch.sendControl({ t: 'refetch', file: rf.index, chunks: bad.slice(k, k + 65_536) });
    }
  }

  async #complete(ch: SecureChannel): Promise<void> {
    const summary: TransferSummary = {
      transferId: this.transferIdHex!,
      files: this.#files
        .filter((f): f is RecvFile => f !== null)
        .map((f) => ({
          path: f.path,
          size: f.size,
          merkleRoot: toHex(merkleRoot(this.#hasher!, f.leaves.bytes, f.count)),
          savedAs: f.savedAs!,
        })),
      bytesTransferred: this.#bytesWritten,
      bytesSkipped: this.total - this.#bytesWritten,
      wireBytes: this.#wireBytes,
      ...(this.peerName ? { peerName: this.peerName } : {}),
    };
    await ch.sendControl({ t: 'complete' });
    // No save may land after the checkpoint is removed.
    if (this.#saveTimer) clearTimeout(this.#saveTimer);
    this.#saveTimer = null;
    await this.#saving;
    await this.#opts.store.remove(this.transferIdHex!);
    this.finish('completed', summary);
    await this.stream.closeWrite().catch(() => undefined);
  }

  /**
   * The files in progress: a part file exists and the file is not placed.
   * Placed files are in the store's journal; files not started have nothing
   * to resume. So a save costs about the files in flight, not the offer.
   */
  #checkpoint(): ReceiveCheckpoint {
    const files: FileCheckpoint[] = [];
    for (const f of this.#files) {
      if (f?.partPath && !f.savedAs) files.push(this.#entry(f));
    }
    return {
      kind: 'receive',
      version: 2,
      transferId: this.transferIdHex!,
      targetDir: this.#targetDir,
      chunkSize: this.#chunkSize,
      peerFingerprint: this.peer!.fingerprint,
      files,
      updatedAt: Date.now(),
    };
  }

  /** One file's checkpoint entry. */
  #entry(f: RecvFile): FileCheckpoint {
    return {
      index: f.index,
      path: f.path,
      size: f.size,
      partPath: f.savedAs ? '' : f.partPath,
      leaves: f.leaves.toJSON(),
      ...(f.savedAs ? { savedAs: f.savedAs } : {}),
    };
  }

  #scheduleSave(): void {
    this.#saveWithin(this.#opts.checkpointIntervalMs ?? 1000);
  }

  /** Save within `ms`: one timer serves every request, kept at the earliest. */
  #saveWithin(ms: number): void {
    const due = this.now() + ms;
    if (this.#saveTimer && this.#saveDue <= due) return;
    if (this.#saveTimer) clearTimeout(this.#saveTimer);
    this.#saveDue = due;
    this.#saveTimer = setTimeout(() => {
      this.#saveTimer = null;
      this.#saveNow().catch(() => undefined);
    }, ms);
    this.#saveTimer.unref();
  }

  /**
   * A file was placed under its final name: record it now, so a resume
   * after a crash knows it is there; but at most once per half checkpoint
   * interval. The checkpoint holds every file, so a save per file made a
   * transfer of N small files cost O(N²) (3000 files of 4 KiB: 29.5 s, 102
   * files/s). A crash inside that half interval can make a resume fetch
   * those few small files again, as `name (1)`.
   */
  async #savePlaced(): Promise<void> {
    const spacing = (this.#opts.checkpointIntervalMs ?? 1000) / 2;
    const wait = this.#lastSave + spacing - this.now();
    if (wait <= 0) await this.#saveNow();
    else this.#saveWithin(wait);
  }

  /**
   * Persist the checkpoint now (saves are serialized; the latest state wins).
   * Newly placed files go to the journal first: the checkpoint saved after
   * it no longer lists them. If the journal cannot be written, its entries
   * wait for the next save and the older checkpoint stays.
   */
  #saveNow(): Promise<void> {
    const id = this.transferIdHex;
    if (!id || this.#files.length === 0) return this.#saving;
    this.#lastSave = this.now();
    const journal = this.#unjournaled;
    this.#unjournaled = [];
    const cp = this.#checkpoint();
    const store = this.#opts.store;
    this.#saving = this.#saving
      .then(async () => {
        if (journal.length > 0) {
          try {
            await store.appendJournal(id, journal);
          } catch (err) {
            this.#unjournaled.unshift(...journal);
            throw err;
          }
        }
        await store.save(cp);
      })
      .catch(() => undefined);
    return this.#saving;
  }

  protected override async onFinished(
    outcome: 'completed' | 'failed' | 'cancelled',
  ): Promise<void> {
    this.#ended.abort();
    if (this.#saveTimer) clearTimeout(this.#saveTimer);
    this.#saveTimer = null;
    this.channel?.dispose();
    if (outcome === 'completed') return;
    // The loop may be inside a step (placing a verified file, say): let it
    // finish first, or it could act on files a resumed session now owns.
    // Bounded, since a `decide` prompt may never return.
    const stepsDone = (async () => {
      await this.#running;
      await Promise.all([...this.#placing]);
    })();
    await Promise.race([stepsDone, new Promise((r) => setTimeout(r, 5000).unref())]);
    // Let in-flight writes land, then record what is on disk for a later resume.
    const deadline = Date.now() + 5000;
    while (this.#files.some((f) => f && f.pending > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await this.#saveNow();
    for (const f of this.#files) {
      if (f?.handle) await this.#direct?.close(f.handle);
      await f?.handle?.close().catch(() => undefined);
      if (f) f.handle = null;
    }
  }
}
