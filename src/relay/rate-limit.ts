/**
 * Per-address join rate limit for the relay: one token bucket per client
 * address (IPv6 grouped by /64, since one host usually owns a whole /64).
 *
 * Limits: state is in memory and per process. Full buckets are forgotten on
 * a sweep; if more than `maxTracked` addresses are partly drained at once
 * (a flood from many addresses), the table is cleared and the limit fails
 * open for them rather than growing without bound: the relay's caps on
 * connections and rooms still hold.
 */

interface Bucket {
  tokens: number;
  at: number;
}

/** Token buckets keyed by client address: `perMinute` joins, refilled evenly. */
export class JoinRateLimiter {
  readonly #capacity: number;
  readonly #perMs: number;
  readonly #maxTracked: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();
  #lastSweep: number;

  /**
   * @param perMinute joins allowed per address per minute (also the burst size).
   * @param maxTracked most addresses tracked at once.
   * @param now clock, injectable for tests.
   */
  constructor(perMinute: number, maxTracked = 100_000, now: () => number = Date.now) {
    if (!(perMinute > 0)) throw new RangeError('perMinute must be positive');
    this.#capacity = perMinute;
    this.#perMs = perMinute / 60_000;
    this.#maxTracked = maxTracked;
    this.#now = now;
    this.#lastSweep = now();
  }

  /** Take one token for `address`; false means the join is over the limit. */
  take(address: string): boolean {
    const now = this.#now();
    if (now - this.#lastSweep > 60_000 || this.#buckets.size >= this.#maxTracked) {
      this.#sweep(now);
    }
    const key = addressKey(address);
    const b = this.#buckets.get(key) ?? { tokens: this.#capacity, at: now };
    b.tokens = Math.min(this.#capacity, b.tokens + (now - b.at) * this.#perMs);
    b.at = now;
    if (b.tokens < 1) {
      this.#buckets.set(key, b);
      return false;
    }
    b.tokens -= 1;
    this.#buckets.set(key, b);
    return true;
  }

  /** Addresses currently tracked (for tests and stats). */
  get size(): number {
    return this.#buckets.size;
  }

  #sweep(now: number): void {
    this.#lastSweep = now;
    for (const [key, b] of this.#buckets) {
      if (b.tokens + (now - b.at) * this.#perMs >= this.#capacity) this.#buckets.delete(key);
    }
    if (this.#buckets.size >= this.#maxTracked) this.#buckets.clear();
  }
}

/** The rate-limit key of an address: IPv4 as is (also when IPv4-mapped), IPv6 by /64. */
export function addressKey(address: string): string {
  const ip = address.replace(/%.*$/, '').toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
  if (mapped?.[1] !== undefined) return mapped[1];
  if (!ip.includes(':')) return ip;
  const [head = '', tail] = ip.split('::', 2);
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined
      ? left
      : [
          ...left,
          ...new Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'),
          ...right,
        ];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
