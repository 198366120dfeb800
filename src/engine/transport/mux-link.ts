/**
 * A `Link` that multiplexes many streams over one ordered byte pipe (a
 * TCP+TLS socket, or two clients' pipes spliced by a relay). A small
 * yamux-like protocol.
 *
 * Wire format: a sequence of frames, each a 9-byte header, big-endian
 *
 *   [u32 streamId][u8 type][u32 length]  then `length` payload bytes for DATA only
 *
 * | type | name          | streamId | length field                 |
 * |------|---------------|----------|------------------------------|
 * | 0    | DATA          | ≠ 0      | payload bytes, 1..64 KiB     |
 * | 1    | OPEN          | ≠ 0      | 0                            |
 * | 2    | WINDOW_UPDATE | ≠ 0      | credit increment, ≥ 1        |
 * | 3    | FIN           | ≠ 0      | 0 (half-close)               |
 * | 4    | RST           | ≠ 0      | 0 (abort, or refusal)        |
 * | 5    | GOAWAY        | 0        | code: 0 normal, 1 protocol error, 2 internal |
 * | 6    | PING          | 0        | opaque value                 |
 * | 7    | PONG          | 0        | the PING's value             |
 *
 * Streams opened by the initiator have odd ids (1, 3, …), by the responder
 * even ids (2, 4, …); each side's ids strictly increase. Flow control is per
 * stream and credit based: every stream starts with a 64 KiB window in each
 * direction; each receiver raises it to its `windowBytes` with a
 * WINDOW_UPDATE right after OPEN, and grants credit back as its reader
 * consumes bytes. A writer never sends more than the credit it holds, so one
 * unread stream never blocks the others and each stream buffers at most
 * `windowBytes` at the receiver.
 *
 * Closing: `close()` rejects the writes not yet handed to the pipe, sends
 * GOAWAY after everything already written, half-closes the pipe and waits
 * (bounded) for the peer's GOAWAY and end of pipe. The peer's streams can
 * still read the bytes that arrived before the GOAWAY, then fail with a
 * ConnectionError. Any malformed frame or broken rule fails the whole link
 * with a ProtocolError; a silent peer (nothing received for `idleTimeoutMs`
 * despite PINGs) fails it with a ConnectionError. Nothing here throws out of
 * an event handler.
 *
 * Limits: no priorities (streams with data are served round robin, control
 * frames first); the inbound stream cap refuses excess streams with RST
 * rather than queueing them; stream ids are not reused, so one link can open
 * about 2^31 streams per side.
 */
import { ConnectionError, type FerryError, ProtocolError, toFerryError } from '../errors.js';
import { Fifo } from './fifo.js';
import type { ByteStream, Link, LinkInfo } from './link.js';

/** Frame header length in bytes. */
export const MUX_HEADER_BYTES = 9;
/** Largest DATA payload sent or accepted. */
export const MUX_MAX_PAYLOAD = 64 * 1024;
/** Window every stream starts with, in each direction, before any WINDOW_UPDATE. */
export const MUX_INITIAL_WINDOW = 64 * 1024;
/** Largest window a sender may hold for one stream. */
export const MUX_MAX_WINDOW = 2 ** 31 - 1;
/** Default per-stream receive window: 4 MiB. */
export const DEFAULT_MUX_WINDOW = 4 * 1024 * 1024;
/** Default cap on open streams per link (both directions together). */
export const DEFAULT_MUX_MAX_STREAMS = 64;
/** Default idle timeout: 15 s. */
export const DEFAULT_MUX_IDLE_TIMEOUT_MS = 15_000;

/** Frame types of the mux protocol. */
export const MuxFrameType = {
  Data: 0,
  Open: 1,
  WindowUpdate: 2,
  Fin: 3,
  Rst: 4,
  GoAway: 5,
  Ping: 6,
  Pong: 7,
} as const;

/** GOAWAY codes. */
export const MuxGoAwayCode = { Normal: 0, Protocol: 1, Internal: 2 } as const;

/** Control frames queued beyond this mean the peer does not read: fail the link. */
const MAX_CONTROL_QUEUE = 4096;
const MAX_STREAM_ID = 0xffff_ffff;

/** Options of {@link createMuxLink}. */
export interface MuxLinkOptions {
  /** True on the side that dialled (odd stream ids); exactly one side must be the initiator. */
  readonly initiator: boolean;
  /** Reported as `link.info`. */
  readonly info: LinkInfo;
  /** Per-stream receive window in bytes (default 4 MiB, at least 64 KiB). */
  readonly windowBytes?: number;
  /** Cap on open streams, both directions together (default 64). Excess inbound streams are refused with RST. */
  readonly maxStreams?: number;
  /** Fail the link when nothing arrives for this long despite PINGs (default 15 s). */
  readonly idleTimeoutMs?: number;
  /** Send a PING after this much silence (default min(5 s, idleTimeoutMs / 3)). */
  readonly keepAliveMs?: number;
  /** How long `close()` waits for the peer's GOAWAY and end of pipe before cutting (default 3 s). */
  readonly closeTimeoutMs?: number;
}

/** A mux Link; `closed` tells how it ended. */
export interface MuxLink extends Link {
  /** Resolves when the link is fully down: `null` after a clean close by either side, else the error that broke it. */
  readonly closed: Promise<FerryError | null>;
}

interface OutFrame {
  readonly bytes: Uint8Array;
  readonly onWritten?: () => void;
  readonly onFailed?: (err: Error) => void;
}

interface PendingWrite {
  readonly bytes: Uint8Array;
  offset: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

function header(id: number, type: number, length: number): Uint8Array {
  const h = new Uint8Array(MUX_HEADER_BYTES);
  writeHeader(h, 0, id, type, length);
  return h;
}

function writeHeader(b: Uint8Array, at: number, id: number, type: number, length: number): void {
  b[at] = id >>> 24;
  b[at + 1] = (id >>> 16) & 0xff;
  b[at + 2] = (id >>> 8) & 0xff;
  b[at + 3] = id & 0xff;
  b[at + 4] = type;
  b[at + 5] = length >>> 24;
  b[at + 6] = (length >>> 16) & 0xff;
  b[at + 7] = (length >>> 8) & 0xff;
  b[at + 8] = length & 0xff;
}

function readU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** One multiplexed stream. */
class MuxStream implements ByteStream {
  readonly id: number;
  readonly #link: MuxLinkImpl;
  readonly #windowBytes: number;
  // Receive side.
  readonly #received = new Fifo<Uint8Array>();
  /** Bytes the peer may still send before our next WINDOW_UPDATE. */
  recvWindow: number;
  /** Bytes the reader consumed and we have not granted back yet. */
  #unacked = 0;
  remoteFin = false;
  #pendingRead:
    | { readonly resolve: (v: Uint8Array | null) => void; readonly reject: (e: Error) => void }
    | undefined;
  // Send side.
  sendCredit: number;
  readonly #sendQueue = new Fifo<PendingWrite>();
  #localFin = false;
  finSent = false;
  #finWaiter: { readonly resolve: () => void; readonly reject: (e: Error) => void } | undefined;
  /** In the link's round-robin queue. */
  scheduled = false;
  failure: Error | undefined;
  #dropReceived = false;

  constructor(link: MuxLinkImpl, id: number, windowBytes: number, recvWindow: number) {
    this.#link = link;
    this.id = id;
    this.#windowBytes = windowBytes;
    this.recvWindow = recvWindow;
    this.sendCredit = MUX_INITIAL_WINDOW;
  }

  write(bytes: Uint8Array): Promise<void> {
    if (!(bytes instanceof Uint8Array)) {
      return Promise.reject(new TypeError('bytes must be a Uint8Array'));
    }
    if (this.failure) return Promise.reject(this.failure);
    if (this.#localFin) return Promise.reject(new Error('write after closeWrite'));
    if (bytes.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#sendQueue.push({ bytes, offset: 0, resolve, reject });
      this.#link.schedule(this);
    });
  }

  read(): Promise<Uint8Array | null> {
    if (this.#pendingRead) return Promise.reject(new Error('a read is already pending'));
    if (this.failure && this.#dropReceived) return Promise.reject(this.failure);
    const piece = this.#received.shift();
    if (piece !== undefined) {
      this.#consumed(piece.length);
      return Promise.resolve(piece);
    }
    if (this.remoteFin) return Promise.resolve(null);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.#pendingRead = { resolve, reject };
    });
  }

  closeWrite(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.#localFin) return Promise.resolve();
    this.#localFin = true;
    return new Promise((resolve, reject) => {
      this.#finWaiter = { resolve, reject };
      this.#link.schedule(this);
    });
  }

  abort(reason?: Error): void {
    if (this.failure) return;
    this.fail(reason ?? new ConnectionError('stream aborted'), false);
    this.#link.reset(this);
  }

  /** Break the stream locally. With `keepReceived`, bytes that arrived stay readable first. */
  fail(err: Error, keepReceived: boolean): void {
    if (this.failure) return;
    this.failure = err;
    if (!keepReceived) {
      this.#dropReceived = true;
      this.#received.drain();
    }
    const read = this.#pendingRead;
    if (read && (this.#received.length === 0 || !keepReceived)) {
      this.#pendingRead = undefined;
      if (this.remoteFin && keepReceived) read.resolve(null);
      else read.reject(err);
    }
    for (const w of this.#sendQueue.drain()) w.reject(err);
    const fin = this.#finWaiter;
    this.#finWaiter = undefined;
    fin?.reject(err);
  }

  /** Payload bytes from the peer. */
  deliver(piece: Uint8Array): void {
    const read = this.#pendingRead;
    if (read) {
      this.#pendingRead = undefined;
      this.#consumed(piece.length);
      read.resolve(piece);
    } else {
      this.#received.push(piece);
    }
  }

  /** The peer's FIN. */
  finReceived(): void {
    this.remoteFin = true;
    const read = this.#pendingRead;
    if (read && this.#received.length === 0) {
      this.#pendingRead = undefined;
      read.resolve(null);
    }
  }

  /** Whether the link should take a frame from this stream now. */
  hasSendWork(): boolean {
    if (this.failure) return false;
    if (this.#sendQueue.length > 0) return this.sendCredit > 0;
    return this.#localFin && !this.finSent;
  }

  /** The next frame to send, within the credit held. */
  takeFrame(): OutFrame | undefined {
    const w = this.#sendQueue.peek();
    if (w !== undefined) {
      const n = Math.min(w.bytes.length - w.offset, this.sendCredit, MUX_MAX_PAYLOAD);
      if (n <= 0) return undefined;
      const frame = new Uint8Array(MUX_HEADER_BYTES + n);
      writeHeader(frame, 0, this.id, MuxFrameType.Data, n);
      frame.set(w.bytes.subarray(w.offset, w.offset + n), MUX_HEADER_BYTES);
      w.offset += n;
      this.sendCredit -= n;
      if (w.offset < w.bytes.length) return { bytes: frame };
      this.#sendQueue.shift();
      return { bytes: frame, onWritten: w.resolve, onFailed: w.reject };
    }
    if (this.#localFin && !this.finSent) {
      this.finSent = true;
      const fin = this.#finWaiter;
      this.#finWaiter = undefined;
      return {
        bytes: header(this.id, MuxFrameType.Fin, 0),
        ...(fin ? { onWritten: fin.resolve, onFailed: fin.reject } : {}),
      };
    }
    return undefined;
  }

  #consumed(n: number): void {
    if (this.remoteFin || this.failure) return;
    this.#unacked += n;
    if (this.#unacked >= this.#windowBytes / 4) {
      const grant = this.#unacked;
      this.#unacked = 0;
      this.recvWindow += grant;
      this.#link.sendControl(header(this.id, MuxFrameType.WindowUpdate, grant));
    }
  }
}

class MuxLinkImpl implements MuxLink {
  readonly info: LinkInfo;
  readonly closed: Promise<FerryError | null>;
  readonly #pipe: ByteStream;
  readonly #initiator: boolean;
  readonly #windowBytes: number;
  readonly #maxStreams: number;
  readonly #idleTimeoutMs: number;
  readonly #closeTimeoutMs: number;

  readonly #streams = new Map<number, MuxStream>();
  readonly #incoming = new Fifo<MuxStream>();
  readonly #acceptors = new Fifo<(s: ByteStream | null) => void>();
  readonly #control = new Fifo<OutFrame>();
  readonly #sendable = new Fifo<MuxStream>();
  #nextLocalId: number;
  #lastPeerId = 0;
  #pongQueued = false;

  #pumping = false;
  /** We queued our GOAWAY: no new streams, no more data. */
  #localGoAway = false;
  #remoteGoAway = false;
  /** Our GOAWAY went out; nothing more is written. */
  #writeEnded = false;
  /** The pipe's closeWrite completed. */
  #writeFlushed = false;
  /** The pipe's read side ended cleanly. */
  #readDone = false;
  #terminated = false;
  #failure: FerryError | undefined;
  readonly #resolveClosed: (v: FerryError | null) => void;

  // Parser state.
  readonly #hdr = new Uint8Array(MUX_HEADER_BYTES);
  #hdrFill = 0;
  #payloadLeft = 0;
  #payloadTarget: MuxStream | undefined;

  #lastReceived = performance.now();
  readonly #keepAlive: ReturnType<typeof setInterval>;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(pipe: ByteStream, opts: MuxLinkOptions) {
    this.#pipe = pipe;
    this.info = opts.info;
    this.#initiator = opts.initiator;
    this.#windowBytes = intOption(opts.windowBytes, DEFAULT_MUX_WINDOW, 'windowBytes', {
      min: MUX_INITIAL_WINDOW,
      max: MUX_MAX_WINDOW,
    });
    this.#maxStreams = intOption(opts.maxStreams, DEFAULT_MUX_MAX_STREAMS, 'maxStreams', {
      min: 1,
    });
    this.#idleTimeoutMs = intOption(
      opts.idleTimeoutMs,
      DEFAULT_MUX_IDLE_TIMEOUT_MS,
      'idleTimeoutMs',
      { min: 1 },
    );
    const keepAliveMs = intOption(
      opts.keepAliveMs,
      Math.max(1, Math.min(5_000, Math.floor(this.#idleTimeoutMs / 3))),
      'keepAliveMs',
      { min: 1 },
    );
    this.#closeTimeoutMs = intOption(opts.closeTimeoutMs, 3_000, 'closeTimeoutMs', { min: 0 });
    this.#nextLocalId = this.#initiator ? 1 : 2;
    let resolveClosed!: (v: FerryError | null) => void;
    this.closed = new Promise((resolve) => {
      resolveClosed = resolve;
    });
    this.#resolveClosed = resolveClosed;
    this.#keepAlive = setInterval(() => this.#tick(keepAliveMs), keepAliveMs);
    this.#keepAlive.unref?.();
    void this.#readLoop();
  }

  openStream(): Promise<ByteStream> {
    if (this.#terminated || this.#localGoAway || this.#remoteGoAway) {
      return Promise.reject(this.#failure ?? new ConnectionError('link is closed'));
    }
    if (this.#streams.size >= this.#maxStreams) {
      return Promise.reject(
        new ConnectionError(`too many open streams on this link (limit ${this.#maxStreams})`),
      );
    }
    if (this.#nextLocalId > MAX_STREAM_ID) {
      return Promise.reject(new ConnectionError('stream ids of this link are used up'));
    }
    const id = this.#nextLocalId;
    this.#nextLocalId += 2;
    const s = new MuxStream(this, id, this.#windowBytes, this.#windowBytes);
    this.#streams.set(id, s);
    this.#control.push({ bytes: header(id, MuxFrameType.Open, 0) });
    this.#grantInitial(id);
    this.#kick();
    return Promise.resolve(s);
  }

  acceptStream(): Promise<ByteStream | null> {
    const next = this.#incoming.shift();
    if (next !== undefined) return Promise.resolve(next);
    if (this.#terminated || this.#localGoAway || this.#remoteGoAway) return Promise.resolve(null);
    return new Promise((resolve) => this.#acceptors.push(resolve));
  }

  async close(): Promise<void> {
    if (!this.#terminated && !this.#localGoAway) {
      this.#goAway(new ConnectionError('link closed'), false);
      this.#closeTimer = setTimeout(() => {
        this.#terminate(
          new ConnectionError(
            `peer did not finish closing the link within ${this.#closeTimeoutMs} ms`,
          ),
        );
      }, this.#closeTimeoutMs);
    }
    await this.closed;
  }

  /** Queue a stream that has something to send. */
  schedule(s: MuxStream): void {
    if (s.scheduled || this.#terminated || this.#localGoAway || !s.hasSendWork()) return;
    s.scheduled = true;
    this.#sendable.push(s);
    this.#kick();
  }

  /** A locally aborted stream: tell the peer and forget it. */
  reset(s: MuxStream): void {
    if (this.#streams.get(s.id) !== s) return;
    this.#streams.delete(s.id);
    if (!this.#localGoAway) this.sendControl(header(s.id, MuxFrameType.Rst, 0));
  }

  /** Queue a control frame (ahead of data). */
  sendControl(bytes: Uint8Array): void {
    if (this.#terminated || this.#writeEnded) return;
    if (this.#control.length >= MAX_CONTROL_QUEUE) {
      this.#terminate(new ProtocolError('peer does not read its control frames (queue full)'));
      return;
    }
    this.#control.push({ bytes });
    this.#kick();
  }

  #grantInitial(id: number): void {
    if (this.#windowBytes > MUX_INITIAL_WINDOW) {
      this.sendControl(
        header(id, MuxFrameType.WindowUpdate, this.#windowBytes - MUX_INITIAL_WINDOW),
      );
    }
  }

  // ---- writing ----

  #kick(): void {
    if (this.#pumping || this.#terminated) return;
    this.#pumping = true;
    void this.#pump();
  }

  async #pump(): Promise<void> {
    try {
      for (;;) {
        const frame = this.#nextFrame();
        if (frame === undefined) break;
        try {
          await this.#pipe.write(frame.bytes);
        } catch (e) {
          const err = toFerryError(e, 'CONNECTION');
          frame.onFailed?.(err);
          this.#terminate(err);
          return;
        }
        frame.onWritten?.();
      }
    } catch (e) {
      this.#terminate(toFerryError(e, 'CONNECTION'));
    } finally {
      this.#pumping = false;
    }
  }

  #nextFrame(): OutFrame | undefined {
    if (this.#terminated || this.#writeEnded) return undefined;
    const c = this.#control.shift();
    if (c !== undefined) {
      if (c.bytes[4] === MuxFrameType.Pong) this.#pongQueued = false;
      return c;
    }
    if (this.#localGoAway) return undefined;
    for (;;) {
      const s = this.#sendable.shift();
      if (s === undefined) return undefined;
      s.scheduled = false;
      const frame = s.hasSendWork() ? s.takeFrame() : undefined;
      if (s.finSent && s.remoteFin) this.#streams.delete(s.id);
      if (s.hasSendWork()) {
        s.scheduled = true;
        this.#sendable.push(s);
      }
      if (frame !== undefined) return frame;
    }
  }

  /** Stop the link gracefully: fail the streams, send GOAWAY after what was written, half-close. */
  #goAway(streamError: Error, keepReceived: boolean): void {
    this.#localGoAway = true;
    for (const s of this.#streams.values()) s.fail(streamError, keepReceived);
    this.#streams.clear();
    for (const s of this.#incoming.drain()) s.fail(streamError, keepReceived);
    for (const a of this.#acceptors.drain()) a(null);
    this.#control.push({
      bytes: header(0, MuxFrameType.GoAway, MuxGoAwayCode.Normal),
      onWritten: () => {
        this.#writeEnded = true;
        this.#pipe.closeWrite().then(
          () => {
            this.#writeFlushed = true;
            this.#maybeFinish();
          },
          (e: unknown) => this.#terminate(toFerryError(e, 'CONNECTION')),
        );
      },
    });
    this.#kick();
  }

  #maybeFinish(): void {
    if (this.#readDone && this.#writeFlushed) this.#terminate(undefined);
  }

  /** Tear everything down; `err` undefined for a clean end. Idempotent. */
  #terminate(err: FerryError | undefined): void {
    if (this.#terminated) return;
    this.#terminated = true;
    this.#failure = err;
    clearInterval(this.#keepAlive);
    if (this.#closeTimer !== undefined) clearTimeout(this.#closeTimer);
    const streamError = err ?? new ConnectionError('link closed');
    for (const s of this.#streams.values()) s.fail(streamError, true);
    this.#streams.clear();
    for (const s of this.#incoming.drain()) s.fail(streamError, true);
    for (const a of this.#acceptors.drain()) a(null);
    for (const f of this.#control.drain()) f.onFailed?.(streamError);
    this.#sendable.drain();
    if (err !== undefined) {
      if (err instanceof ProtocolError) {
        // Best effort: tell the peer why before cutting.
        this.#pipe.write(header(0, MuxFrameType.GoAway, MuxGoAwayCode.Protocol)).catch(() => {});
      }
      this.#pipe.abort(err);
    }
    this.#resolveClosed(err ?? null);
  }

  #tick(keepAliveMs: number): void {
    if (this.#terminated) return;
    const silent = performance.now() - this.#lastReceived;
    if (silent >= this.#idleTimeoutMs) {
      this.#terminate(
        new ConnectionError(
          `peer silent for ${(silent / 1000).toFixed(1)} s (idle timeout ${this.#idleTimeoutMs} ms)`,
        ),
      );
    } else if (silent >= keepAliveMs) {
      this.sendControl(header(0, MuxFrameType.Ping, Date.now() >>> 0));
    }
  }

  // ---- reading ----

  async #readLoop(): Promise<void> {
    try {
      for (;;) {
        const chunk = await this.#pipe.read();
        if (this.#terminated) return;
        if (chunk === null) {
          this.#onEnd();
          return;
        }
        this.#lastReceived = performance.now();
        // After the peer's GOAWAY nothing more is parsed; we wait for the end.
        if (!this.#remoteGoAway) this.#feed(chunk);
      }
    } catch (e) {
      this.#terminate(toFerryError(e, 'CONNECTION'));
    }
  }

  #onEnd(): void {
    if (this.#remoteGoAway || this.#localGoAway) {
      this.#readDone = true;
      this.#maybeFinish();
    } else if (this.#hdrFill > 0 || this.#payloadLeft > 0) {
      this.#terminate(new ConnectionError('connection ended in the middle of a mux frame'));
    } else {
      this.#terminate(new ConnectionError('peer closed the connection without GOAWAY'));
    }
  }

  #feed(chunk: Uint8Array): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.#payloadLeft > 0) {
        const n = Math.min(this.#payloadLeft, chunk.length - pos);
        this.#payloadTarget?.deliver(chunk.subarray(pos, pos + n));
        this.#payloadLeft -= n;
        pos += n;
        continue;
      }
      let h: Uint8Array;
      let at: number;
      if (this.#hdrFill === 0 && chunk.length - pos >= MUX_HEADER_BYTES) {
        h = chunk;
        at = pos;
        pos += MUX_HEADER_BYTES;
      } else {
        const n = Math.min(MUX_HEADER_BYTES - this.#hdrFill, chunk.length - pos);
        this.#hdr.set(chunk.subarray(pos, pos + n), this.#hdrFill);
        this.#hdrFill += n;
        pos += n;
        if (this.#hdrFill < MUX_HEADER_BYTES) return;
        this.#hdrFill = 0;
        h = this.#hdr;
        at = 0;
      }
      this.#onFrame(readU32(h, at), h[at + 4]!, readU32(h, at + 5));
      if (this.#terminated || this.#remoteGoAway) return;
    }
  }

  /** Whether `id` belongs to a stream that existed once (frames for it are stale, not invalid). */
  #isPastId(id: number): boolean {
    const local = (id % 2 === 1) === this.#initiator;
    return local ? id < this.#nextLocalId : id <= this.#lastPeerId;
  }

  /** Stream of a stream frame, `undefined` if stale; throws for ids never used. */
  #streamFor(id: number, type: string): MuxStream | undefined {
    if (id === 0) throw new ProtocolError(`mux ${type} frame on stream 0`);
    const s = this.#streams.get(id);
    if (s !== undefined) return s;
    if (this.#isPastId(id)) return undefined;
    throw new ProtocolError(`mux ${type} frame for stream ${id}, which was never opened`);
  }

  #onFrame(id: number, type: number, length: number): void {
    switch (type) {
      case MuxFrameType.Data: {
        if (length === 0 || length > MUX_MAX_PAYLOAD) {
          throw new ProtocolError(`mux DATA length ${length} outside 1..${MUX_MAX_PAYLOAD}`);
        }
        const s = this.#streamFor(id, 'DATA');
        if (s !== undefined) {
          if (s.remoteFin) throw new ProtocolError(`mux DATA after FIN on stream ${id}`);
          if (length > s.recvWindow) {
            throw new ProtocolError(
              `mux DATA of ${length} bytes exceeds the window (${s.recvWindow}) of stream ${id}`,
            );
          }
          s.recvWindow -= length;
        }
        this.#payloadLeft = length;
        this.#payloadTarget = s?.failure ? undefined : s;
        return;
      }
      case MuxFrameType.Open: {
        if (length !== 0) throw new ProtocolError('mux OPEN with a non-zero length');
        if (id === 0 || (id % 2 === 1) === this.#initiator) {
          throw new ProtocolError(`mux OPEN with stream id ${id} of the wrong side`);
        }
        if (id <= this.#lastPeerId) {
          throw new ProtocolError(`mux OPEN reuses or goes back to stream id ${id}`);
        }
        this.#lastPeerId = id;
        if (this.#localGoAway) return;
        if (this.#streams.size >= this.#maxStreams) {
          this.sendControl(header(id, MuxFrameType.Rst, 0));
          return;
        }
        const s = new MuxStream(this, id, this.#windowBytes, MUX_INITIAL_WINDOW);
        this.#streams.set(id, s);
        this.#grantInitial(id);
        s.recvWindow = this.#windowBytes;
        const acceptor = this.#acceptors.shift();
        if (acceptor) acceptor(s);
        else this.#incoming.push(s);
        return;
      }
      case MuxFrameType.WindowUpdate: {
        if (length === 0) throw new ProtocolError('mux WINDOW_UPDATE of 0');
        const s = this.#streamFor(id, 'WINDOW_UPDATE');
        if (s === undefined) return;
        if (s.sendCredit + length > MUX_MAX_WINDOW) {
          throw new ProtocolError(`mux WINDOW_UPDATE overflows the window of stream ${id}`);
        }
        s.sendCredit += length;
        this.schedule(s);
        return;
      }
      case MuxFrameType.Fin: {
        if (length !== 0) throw new ProtocolError('mux FIN with a non-zero length');
        const s = this.#streamFor(id, 'FIN');
        if (s === undefined) return;
        if (s.remoteFin) throw new ProtocolError(`mux FIN repeated on stream ${id}`);
        s.finReceived();
        if (s.finSent) this.#streams.delete(id);
        return;
      }
      case MuxFrameType.Rst: {
        if (length !== 0) throw new ProtocolError('mux RST with a non-zero length');
        const s = this.#streamFor(id, 'RST');
        if (s === undefined) return;
        this.#streams.delete(id);
        s.fail(new ConnectionError(`stream ${id} reset or refused by the peer`), false);
        return;
      }
      case MuxFrameType.GoAway: {
        if (id !== 0) throw new ProtocolError('mux GOAWAY on a stream');
        if (length === MuxGoAwayCode.Protocol) {
          throw new ProtocolError('peer reported a protocol error in our frames (GOAWAY 1)');
        }
        if (length !== MuxGoAwayCode.Normal) {
          this.#terminate(new ConnectionError(`peer closed the link with error code ${length}`));
          return;
        }
        this.#remoteGoAway = true;
        if (!this.#localGoAway) this.#goAway(new ConnectionError('link closed by peer'), true);
        return;
      }
      case MuxFrameType.Ping: {
        if (id !== 0) throw new ProtocolError('mux PING on a stream');
        if (this.#pongQueued) return;
        this.#pongQueued = true;
        this.sendControl(header(0, MuxFrameType.Pong, length));
        return;
      }
      case MuxFrameType.Pong: {
        if (id !== 0) throw new ProtocolError('mux PONG on a stream');
        return;
      }
      default:
        throw new ProtocolError(`unknown mux frame type ${type}`);
    }
  }
}

function intOption(
  value: number | undefined,
  fallback: number,
  name: string,
  range: { min: number; max?: number },
): number {
  const v = value ?? fallback;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(v) || v < range.min || v > max) {
    throw new RangeError(`${name} must be an integer in ${range.min}..${max}, got ${v}`);
  }
  return v;
}

/**
 * Multiplex streams over one ordered byte pipe. The link owns `pipe` from
 * now on: it reads it continuously, writes frames to it, half-closes it on
 * `close()` and aborts it on failure. Exactly one of the two sides must pass
 * `initiator: true`.
 */
export function createMuxLink(pipe: ByteStream, opts: MuxLinkOptions): MuxLink {
  return new MuxLinkImpl(pipe, opts);
}
