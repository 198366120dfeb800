/**
 * In-memory `Link` for tests and the benchmark.
 *
 * Each direction of a stream is a pipe with a bounded buffer: `write`
 * resolves only while the bytes written and not yet read are below the
 * high-water mark, so a writer that awaits its writes holds at most one piece
 * beyond it. Pieces are delivered as the same `Uint8Array` objects that were
 * written (no copy), except where a fault has to alter or shorten them.
 *
 * Faults (per direction of a stream, see {@link Faults}) model what a real
 * network or a hostile relay can do: latency (a delay line, so throughput is
 * not capped at one piece per delay), a cut (the connection breaks after N
 * bytes), a truncation (a clean end after N bytes) and byte flips.
 *
 * Error semantics:
 * - `abort()` and `Link.close()` break both ends at once: buffered bytes are
 *   dropped, pending and later reads and writes reject. The aborting side sees
 *   its own `reason` (or a ConnectionError), the peer a ConnectionError.
 * - A cut behaves like a connection lost in the network: bytes that already
 *   arrived at a reader can still be read, then its reads reject with a
 *   ConnectionError; bytes still in flight are lost; writes reject at once.
 */
import { ConnectionError } from '../errors.js';
import { Fifo } from './fifo.js';
import type { ByteStream, Link, LinkInfo } from './link.js';

/** Default high-water mark of each direction of a stream: 4 MiB. */
export const DEFAULT_HIGH_WATER_MARK = 4 * 1024 * 1024;

/** Faults injected into one direction of one stream. Offsets count from the stream's first byte in that direction. */
export interface Faults {
  /** Delay of every piece (and of the end of stream), in ms. Order is kept; throughput is bounded only by highWaterMark / latencyMs. */
  readonly latencyMs?: number;
  /** After this many bytes the whole stream breaks: the reader gets exactly these bytes, then every read and write on both ends rejects with ConnectionError. */
  readonly cutAtByte?: number;
  /** After this many bytes the direction ends cleanly: the reader sees `null` as after `closeWrite`; later writes are accepted and dropped. */
  readonly truncateAtByte?: number;
  /** Offsets of bytes to alter by XOR with `flipMask`. The affected piece is copied; the writer's buffer is never mutated. */
  readonly flipByteAt?: number | readonly number[];
  /** XOR mask for `flipByteAt`; default 0x01. */
  readonly flipMask?: number;
  /** Observer called with every piece as it enters the pipe (after flips and truncation) and its offset. Must not mutate the piece. */
  readonly onBytes?: (piece: Uint8Array, offset: number) => void;
}

/**
 * Faults for both directions of a stream. `aToB` is the direction from the
 * first link (or stream) of the pair to the second, whichever side opened it.
 */
export interface StreamFaults {
  readonly aToB?: Faults;
  readonly bToA?: Faults;
}

/** Options of {@link createMemoryStreamPair}. */
export interface MemoryStreamOptions {
  /** Buffer limit of each direction in bytes; default {@link DEFAULT_HIGH_WATER_MARK}. */
  readonly highWaterMark?: number;
  /** Faults of this stream. */
  readonly faults?: StreamFaults;
}

/** Options of {@link createMemoryLinkPair}. */
export interface MemoryLinkOptions {
  /** Buffer limit of each direction of each stream in bytes; default {@link DEFAULT_HIGH_WATER_MARK}. */
  readonly highWaterMark?: number;
  /**
   * Faults of the streams: an object applies to every stream; a function is
   * asked for each stream with its index (0, 1, 2, … in the order streams
   * are opened on the pair, by either side), so a test can fault the Nth
   * stream only.
   */
  readonly faults?: StreamFaults | ((streamIndex: number) => StreamFaults | undefined);
}

const RESOLVED: Promise<void> = Promise.resolve();
const END = Symbol('end');
const CUT = Symbol('cut');
type Arrival = Uint8Array | typeof END | typeof CUT;

interface PendingWrite {
  /** Bytes not yet accepted into the pipe; undefined once accepted (or for an end marker). */
  bytes: Uint8Array | undefined;
  /** True for a queued closeWrite. */
  readonly end: boolean;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

interface Failure {
  /** Error for the reading end. */
  readonly read: Error;
  /** Error for the writing end. */
  readonly write: Error;
  /** Keep bytes that already arrived readable before the error. */
  readonly drain: boolean;
}

/** One direction of a stream. */
class Pipe {
  readonly #highWaterMark: number;
  readonly #latencyMs: number;
  readonly #cutAt: number;
  readonly #truncateAt: number;
  readonly #flips: readonly number[];
  readonly #flipMask: number;
  readonly #onBytes: ((piece: Uint8Array, offset: number) => void) | undefined;
  /** Called when a cut reaches the reader: breaks the whole stream. */
  readonly #onCut: (err: Error) => void;
  /** Called once when the reader has seen a clean end. */
  readonly #onFinish: () => void;

  /** Bytes accepted from the writer (before cut/truncation), i.e. the next offset. */
  #offset = 0;
  /** Bytes accepted and not yet read (in flight or ready). */
  #buffered = 0;
  readonly #ready = new Fifo<Uint8Array>();
  readonly #inFlight = new Fifo<{ readonly at: number; readonly item: Arrival }>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #writers = new Fifo<PendingWrite>();
  #pumping = false;
  #writeClosed = false;
  /** Bytes past the cut or truncation point are dropped. */
  #stopped: 'cut' | 'truncated' | undefined;
  /** End of stream reached the reader. */
  #ended = false;
  #finished = false;
  #failure: Failure | undefined;
  #pendingRead:
    | { readonly resolve: (v: Uint8Array | null) => void; readonly reject: (e: Error) => void }
    | undefined;

  constructor(
    highWaterMark: number,
    faults: Faults | undefined,
    onCut: (err: Error) => void,
    onFinish: () => void,
  ) {
    this.#highWaterMark = highWaterMark;
    this.#latencyMs = faults?.latencyMs ?? 0;
    if (!(this.#latencyMs >= 0 && Number.isFinite(this.#latencyMs))) {
      throw new RangeError(`faults.latencyMs must be a finite number >= 0, got ${this.#latencyMs}`);
    }
    this.#cutAt = offsetOption(faults?.cutAtByte ?? Number.POSITIVE_INFINITY, 'faults.cutAtByte');
    this.#truncateAt = offsetOption(
      faults?.truncateAtByte ?? Number.POSITIVE_INFINITY,
      'faults.truncateAtByte',
    );
    const flips = faults?.flipByteAt;
    this.#flips = flips === undefined ? [] : typeof flips === 'number' ? [flips] : [...flips];
    for (const at of this.#flips) offsetOption(at, 'faults.flipByteAt');
    this.#flipMask = faults?.flipMask ?? 0x01;
    if (!Number.isInteger(this.#flipMask) || this.#flipMask < 1 || this.#flipMask > 0xff) {
      throw new RangeError(`faults.flipMask must be an integer in 1..255, got ${this.#flipMask}`);
    }
    this.#onBytes = faults?.onBytes;
    this.#onCut = onCut;
    this.#onFinish = onFinish;
  }

  write(bytes: Uint8Array): Promise<void> {
    if (!(bytes instanceof Uint8Array)) {
      return Promise.reject(new TypeError('bytes must be a Uint8Array'));
    }
    if (this.#failure) return Promise.reject(this.#failure.write);
    if (this.#writeClosed) return Promise.reject(new Error('write after closeWrite'));
    if (this.#writers.length === 0 && this.#buffered < this.#highWaterMark) {
      this.#accept(bytes);
      // A cut without latency breaks the stream inside #accept.
      const failure = this.#failure as Failure | undefined;
      if (failure) return Promise.reject(failure.write);
      if (this.#canResolve()) return RESOLVED;
      return this.#enqueueWriter(undefined, false);
    }
    return this.#enqueueWriter(bytes, false);
  }

  closeWrite(): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure.write);
    if (this.#writeClosed) return RESOLVED;
    this.#writeClosed = true;
    // Only the head writer can have been accepted already; if all queued
    // bytes are in the pipe, the end can follow them right away.
    const head = this.#writers.peek();
    if (this.#writers.length === 0 || (this.#writers.length === 1 && head?.bytes === undefined)) {
      this.#sendEnd();
      return RESOLVED;
    }
    return this.#enqueueWriter(undefined, true);
  }

  read(): Promise<Uint8Array | null> {
    if (this.#pendingRead) return Promise.reject(new Error('a read is already pending'));
    const piece = this.#ready.shift();
    if (piece !== undefined) {
      this.#consumed(piece);
      return Promise.resolve(piece);
    }
    if (this.#failure) return Promise.reject(this.#failure.read);
    if (this.#ended) {
      this.#finish();
      return Promise.resolve(null);
    }
    return new Promise((resolve, reject) => {
      this.#pendingRead = { resolve, reject };
    });
  }

  /** Break this direction. Idempotent: the first failure wins. */
  fail(failure: Failure): void {
    if (this.#failure) return;
    this.#failure = failure;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#inFlight.clear();
    if (!failure.drain) this.#ready.clear();
    const read = this.#pendingRead;
    if (read && this.#ready.length === 0) {
      this.#pendingRead = undefined;
      read.reject(failure.read);
    }
    for (const w of this.#writers.drain()) w.reject(failure.write);
  }

  #canResolve(): boolean {
    return this.#buffered < this.#highWaterMark && this.#stopped !== 'cut';
  }

  #enqueueWriter(bytes: Uint8Array | undefined, end: boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#writers.push({ bytes, end, resolve, reject });
    });
  }

  /** Move queued writers into the pipe while there is room, in order. */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      for (;;) {
        const w = this.#writers.peek();
        if (w === undefined || this.#failure) return;
        if (w.end) {
          this.#writers.shift();
          this.#sendEnd();
          w.resolve();
          continue;
        }
        if (w.bytes !== undefined) {
          if (this.#buffered >= this.#highWaterMark) return;
          const bytes = w.bytes;
          w.bytes = undefined;
          this.#accept(bytes);
          if (this.#failure) return;
        }
        if (!this.#canResolve()) return;
        this.#writers.shift();
        w.resolve();
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** Take a written piece into the pipe, applying the faults. */
  #accept(bytes: Uint8Array): void {
    const start = this.#offset;
    this.#offset += bytes.length;
    if (this.#stopped !== undefined || bytes.length === 0) return;
    const limit = Math.min(this.#cutAt, this.#truncateAt);
    let piece = start + bytes.length > limit ? bytes.subarray(0, limit - start) : bytes;
    piece = this.#applyFlips(piece, start);
    if (piece.length > 0) {
      this.#onBytes?.(piece, start);
      this.#buffered += piece.length;
      this.#send(piece);
    }
    if (start + bytes.length >= this.#cutAt && this.#cutAt <= this.#truncateAt) {
      this.#stopped = 'cut';
      this.#send(CUT);
    } else if (start + bytes.length >= this.#truncateAt) {
      this.#stopped = 'truncated';
      this.#send(END);
    }
  }

  #applyFlips(piece: Uint8Array, start: number): Uint8Array {
    let out = piece;
    for (const at of this.#flips) {
      if (at < start || at >= start + piece.length) continue;
      if (out === piece) out = piece.slice();
      out[at - start]! ^= this.#flipMask;
    }
    return out;
  }

  #sendEnd(): void {
    if (this.#stopped !== undefined) return;
    this.#stopped = 'truncated';
    this.#send(END);
  }

  /** Put an item on the delay line, or deliver it now without latency. */
  #send(item: Arrival): void {
    if (this.#latencyMs === 0) {
      this.#arrive(item);
      return;
    }
    this.#inFlight.push({ at: performance.now() + this.#latencyMs, item });
    if (this.#timer === undefined) this.#arm();
  }

  #arm(): void {
    const head = this.#inFlight.peek();
    if (head === undefined) return;
    // Timers have millisecond granularity and may fire a little early; the
    // release loop re-arms for whatever is not yet due.
    const delay = Math.max(1, Math.ceil(head.at - performance.now()));
    this.#timer = setTimeout(() => this.#release(), delay);
  }

  #release(): void {
    this.#timer = undefined;
    const now = performance.now();
    for (;;) {
      const head = this.#inFlight.peek();
      if (head === undefined || head.at > now || this.#failure) break;
      this.#inFlight.shift();
      this.#arrive(head.item);
    }
    if (!this.#failure) this.#arm();
  }

  /** An item reached the reader's side. */
  #arrive(item: Arrival): void {
    if (this.#failure) return;
    if (item === CUT) {
      this.#onCut(new ConnectionError(`connection cut after ${this.#cutAt} bytes (fault)`));
      return;
    }
    if (item === END) {
      this.#ended = true;
      const read = this.#pendingRead;
      if (read && this.#ready.length === 0) {
        this.#pendingRead = undefined;
        this.#finish();
        read.resolve(null);
      }
      return;
    }
    const read = this.#pendingRead;
    if (read) {
      this.#pendingRead = undefined;
      this.#consumed(item);
      read.resolve(item);
    } else {
      this.#ready.push(item);
    }
  }

  #consumed(piece: Uint8Array): void {
    this.#buffered -= piece.length;
    if (this.#writers.length > 0) this.#pump();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#onFinish();
  }
}

/** Both pipes of one stream and the two ends over them. */
class StreamCore {
  readonly #aToB: Pipe;
  readonly #bToA: Pipe;
  #finishedPipes = 0;
  #settled = false;
  /** Called once when the stream is fully done (both directions ended or broken). */
  onSettled: (() => void) | undefined;
  /** End seen by the first party. */
  readonly a: ByteStream;
  /** End seen by the second party. */
  readonly b: ByteStream;

  constructor(highWaterMark: number, faults: StreamFaults | undefined) {
    const cut = (err: Error): void => {
      this.#aToB.fail({ read: err, write: err, drain: true });
      this.#bToA.fail({ read: err, write: err, drain: true });
      this.#settle();
    };
    const finish = (): void => {
      if (++this.#finishedPipes === 2) this.#settle();
    };
    this.#aToB = new Pipe(highWaterMark, faults?.aToB, cut, finish);
    this.#bToA = new Pipe(highWaterMark, faults?.bToA, cut, finish);
    this.a = this.#end(this.#bToA, this.#aToB, 'a');
    this.b = this.#end(this.#aToB, this.#bToA, 'b');
  }

  /** Break both ends: `local` is what the side named by `side` sees, `remote` what its peer sees. */
  abort(side: 'a' | 'b', local: Error, remote: Error): void {
    const [toPeer, fromPeer] = side === 'a' ? [this.#aToB, this.#bToA] : [this.#bToA, this.#aToB];
    toPeer.fail({ write: local, read: remote, drain: false });
    fromPeer.fail({ write: remote, read: local, drain: false });
    this.#settle();
  }

  #settle(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.onSettled?.();
  }

  #end(input: Pipe, output: Pipe, side: 'a' | 'b'): ByteStream {
    return {
      write: (bytes) => output.write(bytes),
      read: () => input.read(),
      closeWrite: () => output.closeWrite(),
      abort: (reason) =>
        this.abort(
          side,
          reason ?? new ConnectionError('stream aborted'),
          new ConnectionError('stream aborted by peer', { cause: reason }),
        ),
    };
  }
}

/** A byte offset fault option: a non-negative integer, or Infinity for "never". */
function offsetOption(n: number, name: string): number {
  if (n === Number.POSITIVE_INFINITY) return n;
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${n}`);
  }
  return n;
}

function checkHighWaterMark(n: number | undefined): number {
  const hwm = n ?? DEFAULT_HIGH_WATER_MARK;
  if (!Number.isSafeInteger(hwm) || hwm < 1) {
    throw new RangeError(`highWaterMark must be a positive integer, got ${hwm}`);
  }
  return hwm;
}

/** One stream over an in-memory pipe pair: `[a, b]`, where `a` writes what `b` reads and vice versa. */
export function createMemoryStreamPair(opts: MemoryStreamOptions = {}): [ByteStream, ByteStream] {
  const core = new StreamCore(checkHighWaterMark(opts.highWaterMark), opts.faults);
  return [core.a, core.b];
}

/** State shared by the two links of a pair. */
interface Connection {
  closed: boolean;
  nextStreamIndex: number;
  readonly streams: Set<StreamCore>;
  readonly highWaterMark: number;
  readonly faults: MemoryLinkOptions['faults'];
}

class MemoryLink implements Link {
  readonly info: LinkInfo = { path: 'memory', transport: 'memory' };
  readonly #conn: Connection;
  readonly #side: 'a' | 'b';
  readonly #incoming = new Fifo<ByteStream>();
  readonly #acceptors = new Fifo<(s: ByteStream | null) => void>();
  peer: MemoryLink | undefined;

  constructor(conn: Connection, side: 'a' | 'b') {
    this.#conn = conn;
    this.#side = side;
  }

  async openStream(): Promise<ByteStream> {
    const peer = this.peer;
    if (this.#conn.closed || peer === undefined) throw new ConnectionError('link is closed');
    const index = this.#conn.nextStreamIndex++;
    const f = this.#conn.faults;
    const faults = typeof f === 'function' ? f(index) : f;
    const core = new StreamCore(this.#conn.highWaterMark, faults);
    this.#conn.streams.add(core);
    core.onSettled = () => this.#conn.streams.delete(core);
    const [local, remote] = this.#side === 'a' ? [core.a, core.b] : [core.b, core.a];
    peer.deliver(remote);
    return local;
  }

  acceptStream(): Promise<ByteStream | null> {
    const next = this.#incoming.shift();
    if (next !== undefined) return Promise.resolve(next);
    if (this.#conn.closed) return Promise.resolve(null);
    return new Promise((resolve) => this.#acceptors.push(resolve));
  }

  close(): Promise<void> {
    const conn = this.#conn;
    if (conn.closed) return RESOLVED;
    conn.closed = true;
    const local = new ConnectionError('link closed');
    const remote = new ConnectionError('link closed by peer');
    for (const core of [...conn.streams]) core.abort(this.#side, local, remote);
    conn.streams.clear();
    this.shutdown();
    this.peer?.shutdown();
    return RESOLVED;
  }

  /** A stream opened by the peer. */
  deliver(stream: ByteStream): void {
    const acceptor = this.#acceptors.shift();
    if (acceptor) acceptor(stream);
    else this.#incoming.push(stream);
  }

  /** Drop streams not yet accepted (they were aborted) and release acceptors. */
  shutdown(): void {
    this.#incoming.clear();
    for (const acceptor of this.#acceptors.drain()) acceptor(null);
  }
}

/**
 * Two connected in-memory links `[a, b]`: a stream opened on one is accepted
 * on the other. `close()` on either closes the connection for both: every
 * stream breaks with a ConnectionError and `acceptStream` resolves `null`.
 */
export function createMemoryLinkPair(opts: MemoryLinkOptions = {}): [Link, Link] {
  const conn: Connection = {
    closed: false,
    nextStreamIndex: 0,
    streams: new Set(),
    highWaterMark: checkHighWaterMark(opts.highWaterMark),
    faults: opts.faults,
  };
  const a = new MemoryLink(conn, 'a');
  const b = new MemoryLink(conn, 'b');
  a.peer = b;
  b.peer = a;
  return [a, b];
}
