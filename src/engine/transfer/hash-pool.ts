/**
 * LeafHashPool: Merkle leaves (BLAKE3(0x00 || chunk), the same construction
 * as ChunkHasher.leaf) computed on worker threads, so hashing overlaps with
 * sealing, opening and disk I/O on the main thread.
 *
 * Measured reason (docs/adr/0003-hash-workers.md): with both sides in one
 * process, BLAKE3 took 44 % of the JS thread and capped the engine at ~0.21×
 * the single-core BLAKE3 ceiling. Each worker keeps one reused hash-wasm
 * hasher. A chunk in shared memory (a chunk slot, see chunk-slots.ts) is
 * hashed where it lies: the worker gets the memory once, then only where the
 * chunk is. Otherwise a chunk's buffer is transferred to the worker and back
 * when the caller owns it outright (no copy), or else copied once (~0.1 ms
 * per MiB, a tenth of hashing it). Chunks under 16 KiB are hashed inline:
 * a round trip costs more than hashing them.
 *
 * A pool of several workers starts one and adds the next (up to its size)
 * only when every worker already has a queue (GROW_AT jobs waiting). When
 * every worker it may run has STEAL_AT jobs, the calling thread hashes the
 * chunk itself instead of queueing it: it would otherwise wait for those
 * jobs, while the other core sits idle (docs/adr/0014-hash-stealing.md).
 * Workers are unref'd while idle, so an idle pool never keeps a process
 * alive, and a worker idle for IDLE_EXIT_MS exits, giving its isolate's
 * memory (~10 MB) back to a long-running app such as the TUI.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { FerryError } from '../errors.js';
import { ChunkHasher } from './merkle.js';

const INLINE_BELOW = 16 * 1024;
/**
 * Most workers in the shared pool: env FERRY_HASH_WORKERS, else 1, never
 * more than the cores. A second worker costs ~10 MB of RSS and, on the
 * 2-core machine we measure on, bought no throughput (docs/adr/0003-hash-workers.md).
 */
const DEFAULT_WORKERS = Math.min(
  availableParallelism(),
  Number(process.env['FERRY_HASH_WORKERS'] ?? 1),
);
/** Jobs waiting on every worker before another one is started. */
const GROW_AT = 2;
/**
 * Jobs on every worker (the pool at its size) from which the calling thread
 * hashes a chunk itself. Measured on the 1 GiB engine benchmark, six
 * alternating runs each (ADR 0014): 4 gave 359–385 MB/s against 316–348
 * without stealing, 5 gave 345–374, 6 309–381; 2 ran below the baseline
 * (the JS thread, 98 % busy, became what everything waited for).
 */
export const STEAL_AT = 4;
/** A worker with nothing to do for this long exits (a later job starts a new one). */
const IDLE_EXIT_MS = 30_000;

function workerSource(): string {
  // hash-wasm is loaded by absolute path, so the worker works the same from
  // src/ (tsx, vitest) and from dist/.
  const hashWasm = createRequire(import.meta.url).resolve('hash-wasm');
  return `
const { parentPort } = require('node:worker_threads');
const { createBLAKE3 } = require(${JSON.stringify(hashWasm)});
const LEAF_PREFIX = new Uint8Array([0]);
// Shared memories (chunk slots) by id, each sent once; see LeafHashPool#leaf.
const shared = new Map();
createBLAKE3().then((h) => {
  parentPort.on('message', (m) => {
    if (m.forget !== undefined) return void shared.delete(m.forget);
    if (m.sab) shared.set(m.mem, new Uint8Array(m.sab));
    const data = m.mem === undefined ? new Uint8Array(m.buf, m.off, m.len) : shared.get(m.mem).subarray(m.off, m.off + m.len);
    h.init();
    h.update(LEAF_PREFIX);
    h.update(data);
    const leaf = h.digest('binary');
    if (m.mem === undefined) parentPort.postMessage({ id: m.id, leaf, buf: m.buf }, [m.buf]);
    else parentPort.postMessage({ id: m.id, leaf });
  });
  parentPort.postMessage({ ready: true });
});`;
}

interface Pending {
  resolve: (r: { leaf: Uint8Array; data: Uint8Array }) => void;
  reject: (e: Error) => void;
  off: number;
  len: number;
  /** The caller's own view, for a chunk hashed in shared memory (nothing comes back). */
  data: Uint8Array | null;
}

interface PoolWorker {
  worker: Worker;
  pending: Map<number, Pending>;
  idle: NodeJS.Timeout | null;
  /** Ids of the shared memories this worker was sent. */
  known: Set<number>;
}

/** A small pool of BLAKE3 leaf-hashing workers. */
export class LeafHashPool {
  static #shared: LeafHashPool | null = null;
  readonly #size: number;
  readonly #idleExitMs: number;
  readonly #workers: PoolWorker[] = [];
  #next = 0;
  #ids = 0;
  #inline: ChunkHasher | null = null;
  #inlineReady: Promise<ChunkHasher> | null = null;
  #stolen = 0;
  /** Ids of shared memories (chunk slots) hashed here; workers drop theirs once it is collected. */
  readonly #sharedIds = new WeakMap<SharedArrayBuffer, number>();
  readonly #forget = new FinalizationRegistry<number>((id) => {
    for (const pw of this.#workers) {
      if (pw.known.delete(id)) pw.worker.postMessage({ forget: id });
    }
  });

  /** The process-wide pool (one worker unless FERRY_HASH_WORKERS says more), created on first use. */
  static shared(): LeafHashPool {
    LeafHashPool.#shared ??= new LeafHashPool(DEFAULT_WORKERS);
    return LeafHashPool.#shared;
  }

  /**
   * Up to `size` workers; 0 hashes everything inline on the calling thread (the
   * benchmark runs both ways side by side).
   */
  constructor(size: number, opts: { readonly idleExitMs?: number } = {}) {
    if (!(Number.isInteger(size) && size >= 0)) throw new RangeError('size: a whole number ≥ 0');
    this.#size = size;
    this.#idleExitMs = opts.idleExitMs ?? IDLE_EXIT_MS;
  }

  /** Most workers this pool may run (0: inline). */
  get size(): number {
    return this.#size;
  }

  /** Workers running now (they start on demand and exit when idle). */
  get running(): number {
    return this.#workers.length;
  }

  /**
   * Chunks the calling thread hashed itself because every worker had
   * STEAL_AT jobs (for benchmarks and tests).
   */
  get stolen(): number {
    return this.#stolen;
  }

  /** Whether the pool is at its size and every worker has STEAL_AT jobs. */
  #backlogged(): boolean {
    return (
      this.#size > 0 &&
      this.#workers.length >= this.#size &&
      this.#workers.every((w) => w.pending.size >= STEAL_AT)
    );
  }

  /** Replace the process-wide pool (e.g. `new LeafHashPool(0)` to hash inline). */
  static setShared(pool: LeafHashPool): void {
    void LeafHashPool.#shared?.close();
    LeafHashPool.#shared = pool;
  }

  /**
   * The leaf of `data`. In shared memory, `data` is hashed in place and
   * returned as given (it must not change until this resolves). With
   * `owned`, the caller hands over the ArrayBuffer under `data` (nothing else
   * may use it until this resolves) and gets the bytes back as `data`;
   * otherwise `data` is copied once and returned as given.
   */
  async leaf(data: Uint8Array, owned = false): Promise<{ leaf: Uint8Array; data: Uint8Array }> {
    const steal = this.#backlogged();
    if (data.length < INLINE_BELOW || this.#size === 0 || steal) {
      if (steal) this.#stolen++;
      this.#inlineReady ??= ChunkHasher.create();
      this.#inline ??= await this.#inlineReady;
      return { leaf: this.#inline.leaf(data), data };
    }
    const pw = this.#pick();
    const id = ++this.#ids;
    if (data.buffer instanceof SharedArrayBuffer) return this.#leafShared(pw, id, data);
    // Only hand over a buffer that holds little besides this chunk: a pooled
    // slab shared with other Buffers must never be detached.
    const handOver =
      owned && data.buffer instanceof ArrayBuffer && data.buffer.byteLength - data.length <= 4096;
    let buf: ArrayBuffer;
    let off = 0;
    if (handOver) {
      buf = data.buffer as ArrayBuffer;
      off = data.byteOffset;
    } else {
      const copy = new Uint8Array(data.length);
      copy.set(data);
      buf = copy.buffer;
    }
    return new Promise((resolve, reject) => {
      const done = (r: { leaf: Uint8Array; data: Uint8Array }) =>
        resolve(handOver ? r : { leaf: r.leaf, data });
      pw.pending.set(id, { resolve: done, reject, off, len: data.length, data: null });
      this.#busy(pw);
      pw.worker.postMessage({ id, buf, off, len: data.length }, [buf]);
    });
  }

  /**
   * Hash a chunk in shared memory where it lies: the worker is sent the
   * memory once, then only where the chunk is. Nothing is transferred, so no
   * ArrayBuffer is made on either side (see chunk-slots.ts).
   */
  #leafShared(
    pw: PoolWorker,
    id: number,
    data: Uint8Array,
  ): Promise<{ leaf: Uint8Array; data: Uint8Array }> {
    const sab = data.buffer as SharedArrayBuffer;
    let mem = this.#sharedIds.get(sab);
    if (mem === undefined) {
      mem = ++this.#ids;
      this.#sharedIds.set(sab, mem);
      this.#forget.register(sab, mem);
    }
    const first = !pw.known.has(mem);
    pw.known.add(mem);
    return new Promise((resolve, reject) => {
      pw.pending.set(id, { resolve, reject, off: data.byteOffset, len: data.length, data });
      this.#busy(pw);
      pw.worker.postMessage({
        id,
        mem,
        off: data.byteOffset,
        len: data.length,
        ...(first ? { sab } : {}),
      });
    });
  }

  /** A worker with a job: keeps the process alive and does not retire. */
  #busy(pw: PoolWorker): void {
    if (pw.idle) clearTimeout(pw.idle);
    pw.idle = null;
    if (pw.pending.size === 1) pw.worker.ref();
  }

  #pick(): PoolWorker {
    if (this.#workers.length === 0) this.#workers.push(this.#spawn());
    // Least busy first, round-robin among equals.
    let best = this.#workers[this.#next++ % this.#workers.length]!;
    for (const w of this.#workers) if (w.pending.size < best.pending.size) best = w;
    if (best.pending.size >= GROW_AT && this.#workers.length < this.#size) {
      best = this.#spawn();
      this.#workers.push(best);
    }
    return best;
  }

  #spawn(): PoolWorker {
    const worker = new Worker(workerSource(), { eval: true });
    const pw: PoolWorker = { worker, pending: new Map(), idle: null, known: new Set() };
    worker.unref();
    worker.on('message', (m: { id?: number; leaf?: Uint8Array; buf?: ArrayBuffer }) => {
      if (m.id === undefined) return;
      const p = pw.pending.get(m.id);
      if (!p || !m.leaf || !(m.buf || p.data)) return;
      pw.pending.delete(m.id);
      if (pw.pending.size === 0) {
        worker.unref();
        pw.idle = setTimeout(() => this.#retire(pw), this.#idleExitMs).unref();
      }
      p.resolve({ leaf: m.leaf, data: p.data ?? Buffer.from(m.buf!, p.off, p.len) });
    });
    const die = (err: Error) => {
      if (pw.idle) clearTimeout(pw.idle);
      const i = this.#workers.indexOf(pw);
      if (i >= 0) this.#workers.splice(i, 1);
      for (const p of pw.pending.values()) {
        p.reject(new FerryError('IO', `hash worker failed: ${err.message}`, { cause: err }));
      }
      pw.pending.clear();
    };
    worker.on('error', die);
    worker.on('exit', (code) => die(new Error(`exited with code ${code}`)));
    return pw;
  }

  /** Stop an idle worker; the next job that needs one starts a fresh worker. */
  #retire(pw: PoolWorker): void {
    if (pw.pending.size > 0) return;
    const i = this.#workers.indexOf(pw);
    if (i >= 0) this.#workers.splice(i, 1);
    void pw.worker.terminate();
  }

  /** Stop the workers (pending leaves reject). */
  async close(): Promise<void> {
    const ws = this.#workers.splice(0);
    await Promise.all(ws.map((w) => w.worker.terminate()));
  }
}
