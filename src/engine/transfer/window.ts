/**
 * ChunkWindow: how many chunks the sender may have unacknowledged.
 *
 * A true sliding window: a slot frees as soon as its chunk's ack arrives (acks
 * come after the receiver wrote the chunk), out of order is fine. The size
 * starts at 8 and adapts once per round (a window's worth of acks): it grows
 * while the delivered rate keeps growing, and never drops below the
 * bandwidth-delay product measured from the rate and the minimum RTT, plus
 * headroom. A memory budget caps it: window × chunk size ≤ budget.
 */

/** Options of a ChunkWindow. */
export interface ChunkWindowOptions {
  readonly chunkBytes: number;
  /** Bytes the window may hold in flight; caps the size. */
  readonly memoryBudget: number;
  readonly initial?: number;
  readonly now?: () => number;
}

/** Adaptive sliding window over chunk keys. */
export class ChunkWindow {
  readonly max: number;
  readonly min = 2;
  #size: number;
  readonly #chunkBytes: number;
  readonly #now: () => number;
  readonly #sentAt = new Map<number, number>();
  #minRttMs = Number.POSITIVE_INFINITY;
  #roundStart: number;
  #roundAcked = 0;
  #bestRate = 0;
  #flatRounds = 0;
  #rateBps = 0;

  constructor(opts: ChunkWindowOptions) {
    if (!(opts.chunkBytes > 0)) throw new RangeError('chunkBytes: must be positive');
    this.#chunkBytes = opts.chunkBytes;
    this.max = Math.max(this.min, Math.floor(opts.memoryBudget / opts.chunkBytes));
    this.#size = Math.min(this.max, Math.max(this.min, opts.initial ?? 8));
    this.#now = opts.now ?? (() => performance.now());
    this.#roundStart = this.#now();
  }

  /** Current window size in chunks. */
  get size(): number {
    return this.#size;
  }
  /** Chunks sent and not yet acknowledged. */
  get inFlight(): number {
    return this.#sentAt.size;
  }
  /** Whether another chunk may be sent now. */
  get hasRoom(): boolean {
    return this.#sentAt.size < this.#size;
  }
  /** Smallest RTT seen (ms), or null before the first ack. */
  get minRttMs(): number | null {
    return Number.isFinite(this.#minRttMs) ? this.#minRttMs : null;
  }
  /** Delivered rate of the last completed round, bytes/s. */
  get rateBps(): number {
    return this.#rateBps;
  }

  /** Record that chunk `key` left. */
  onSend(key: number): void {
    this.#sentAt.set(key, this.#now());
  }

  /** Whether `key` is in flight. */
  has(key: number): boolean {
    return this.#sentAt.has(key);
  }

  /** Record the ack of `key`; returns false if it was not in flight (duplicate ack). */
  onAck(key: number, bytes = this.#chunkBytes): boolean {
    const sent = this.#sentAt.get(key);
    if (sent === undefined) return false;
    this.#sentAt.delete(key);
    const now = this.#now();
    this.#minRttMs = Math.min(this.#minRttMs, now - sent);
    this.#roundAcked += bytes;
    if (this.#roundAcked >= this.#size * this.#chunkBytes) this.#endRound(now);
    return true;
  }

  /** Forget an in-flight chunk without an ack (it will be re-sent). */
  forget(key: number): void {
    this.#sentAt.delete(key);
  }

  #endRound(now: number): void {
    const seconds = Math.max((now - this.#roundStart) / 1000, 1e-6);
    const rate = this.#roundAcked / seconds;
    this.#rateBps = rate;
    this.#roundStart = now;
    this.#roundAcked = 0;
    const bdpChunks = Number.isFinite(this.#minRttMs)
      ? Math.ceil((rate * (this.#minRttMs / 1000)) / this.#chunkBytes)
      : 0;
    if (rate > this.#bestRate * 1.05) {
      this.#bestRate = rate;
      this.#flatRounds = 0;
      this.#size = Math.min(this.max, Math.ceil(this.#size * 1.5));
    } else if (++this.#flatRounds >= 4) {
      // Growth stopped paying: settle just above the measured BDP.
      this.#flatRounds = 0;
      this.#bestRate = rate;
      this.#size = Math.min(this.max, Math.max(this.min, bdpChunks + 4, this.#size - 1));
    }
    this.#size = Math.max(this.#size, Math.min(this.max, bdpChunks + 2));
  }
}
