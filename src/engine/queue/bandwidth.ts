/**
 * Bandwidth limits (issue 5): a token bucket the transfer engine asks before
 * it moves bytes, one shared by all transfers for the global limit and one
 * per transfer for its own cap, joined with `combine`.
 *
 * Goals: a long-run rate of `rateBps` with bursts of at most `burstBytes`;
 * strict FIFO among waiters, so a big request is never starved by a stream
 * of small ones; a request larger than the burst still completes (it waits
 * for a full bucket, then overdraws, and later takers wait while the debt is
 * repaid); a rate change applies to the waiters at once; one timer at most,
 * no polling; memory bounded by the number of pending takes.
 *
 * Non-goals: precision below one timer tick; weighted shares between
 * transfers (FIFO of chunk-sized takes already shares the link evenly among
 * transfers that keep it busy).
 */

/** The port the transfer engine calls before moving `bytes`. */
export interface Throttle {
  /**
   * Resolve once `bytes` may go. Rejects with `signal.reason` if the signal
   * aborts first; the request then holds no place in the queue.
   */
  take(bytes: number, signal?: AbortSignal): Promise<void>;
}

/** Time and timers, injectable so tests can run on virtual time. */
export interface TimerClock {
  /** Milliseconds, monotonic. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The process clock: `performance.now()` and Node's timers. */
export const systemClock: TimerClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Smallest default burst: below this, low rates would grant slivers of a chunk. */
const MIN_DEFAULT_BURST = 256 * 1024;
/** Default burst as seconds of traffic at the configured rate. */
const DEFAULT_BURST_SECONDS = 0.25;

interface Waiter {
  readonly bytes: number;
  readonly resolve: () => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/**
 * A token bucket with FIFO waiters and overdraft. `rateBps: null` means
 * unlimited. Without `burstBytes` the burst follows the rate: a quarter
 * second of traffic, at least 256 KiB. The bucket starts full.
 */
export class TokenBucket implements Throttle {
  readonly #clock: TimerClock;
  readonly #fixedBurst: number | undefined;
  #rate: number | null = null;
  #burst = MIN_DEFAULT_BURST;
  /** Negative while a request that overdrew is being repaid. */
  #tokens = 0;
  #last: number;
  readonly #queue: Waiter[] = [];
  #timer: { handle: unknown } | null = null;

  constructor(opts: { rateBps: number | null; burstBytes?: number; clock?: TimerClock }) {
    if (opts.burstBytes !== undefined && !(opts.burstBytes > 0 && Number.isFinite(opts.burstBytes)))
      throw new RangeError('burstBytes: must be a positive finite number');
    this.#clock = opts.clock ?? systemClock;
    this.#fixedBurst = opts.burstBytes;
    this.#last = this.#clock.now();
    this.#configure(opts.rateBps);
    this.#tokens = this.#burst;
  }

  /** Bytes per second, or null when unlimited. */
  get rateBps(): number | null {
    return this.#rate;
  }

  /** Change the rate; waiters are re-timed (or released, for null) at once. */
  setRate(rateBps: number | null): void {
    this.#refill();
    const wasUnlimited = this.#rate === null;
    this.#configure(rateBps);
    // Coming back from unlimited, nothing was metered meanwhile: start full.
    if (wasUnlimited) this.#tokens = this.#burst;
    else this.#tokens = Math.min(this.#tokens, this.#burst);
    this.#drain();
  }

  /** Resolve once `bytes` may go; FIFO behind earlier takers. */
  take(bytes: number, signal?: AbortSignal): Promise<void> {
    if (!(bytes >= 0 && Number.isFinite(bytes)))
      return Promise.reject(new RangeError('bytes: must be a non-negative finite number'));
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#rate === null || bytes === 0) return Promise.resolve();
    if (this.#queue.length === 0) {
      this.#refill();
      if (this.#tokens >= Math.min(bytes, this.#burst)) {
        this.#tokens -= bytes;
        return Promise.resolve();
      }
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        bytes,
        signal,
        resolve: () => {
          signal?.removeEventListener('abort', waiter.onAbort);
          resolve();
        },
        onAbort: () => {
          const at = this.#queue.indexOf(waiter);
          if (at < 0) return;
          this.#queue.splice(at, 1);
          // The head left: the next one may go now, or needs another timer.
          if (at === 0) this.#drain();
          reject(signal!.reason);
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.#queue.push(waiter);
      if (this.#queue.length === 1) this.#drain();
    });
  }

  #configure(rateBps: number | null): void {
    if (rateBps !== null && !(rateBps > 0 && Number.isFinite(rateBps)))
      throw new RangeError('rateBps: must be a positive finite number or null');
    this.#rate = rateBps;
    if (rateBps !== null) {
      this.#burst =
        this.#fixedBurst ?? Math.max(rateBps * DEFAULT_BURST_SECONDS, MIN_DEFAULT_BURST);
    }
  }

  #refill(): void {
    const t = this.#clock.now();
    const elapsed = t - this.#last;
    this.#last = t;
    if (this.#rate === null || elapsed <= 0) return;
    this.#tokens = Math.min(this.#burst, this.#tokens + (elapsed * this.#rate) / 1000);
  }

  /**
   * Grant waiters from the head while tokens allow, then arm the one timer
   * for the new head. A request up to the burst waits for its full size; a
   * larger one for a full bucket, and then overdraws.
   */
  #drain(): void {
    this.#refill();
    for (let head = this.#queue[0]; head; head = this.#queue[0]) {
      if (this.#rate !== null && this.#tokens < Math.min(head.bytes, this.#burst)) break;
      if (this.#rate !== null) this.#tokens -= head.bytes;
      this.#queue.shift();
      head.resolve();
    }
    this.#disarm();
    const head = this.#queue[0];
    if (!head || this.#rate === null) return;
    const deficit = Math.min(head.bytes, this.#burst) - this.#tokens;
    // Rounded up so the timer never fires short of the deficit (bar float error,
    // which costs one more 1 ms timer, not a spin).
    const ms = Math.max(1, Math.ceil((deficit * 1000) / this.#rate));
    const timer = {
      handle: this.#clock.setTimeout(() => {
        if (this.#timer !== timer) return;
        this.#timer = null;
        this.#drain();
      }, ms),
    };
    this.#timer = timer;
  }

  #disarm(): void {
    if (!this.#timer) return;
    this.#clock.clearTimeout(this.#timer.handle);
    this.#timer = null;
  }
}

const UNLIMITED: Throttle = {
  take: (_bytes, signal) => (signal?.aborted ? Promise.reject(signal.reason) : Promise.resolve()),
};

/**
 * A throttle that takes from each given one in turn (absent ones skipped).
 * Put the narrowest first (the per-transfer cap, then the global bucket), so
 * a transfer waiting on its own cap holds no place in the shared queue.
 * Tokens already taken from an earlier throttle are not returned when a
 * later take is aborted.
 */
export function combine(...throttles: (Throttle | undefined)[]): Throttle {
  const list = throttles.filter((t): t is Throttle => t !== undefined);
  if (list.length === 0) return UNLIMITED;
  if (list.length === 1) return list[0]!;
  return {
    async take(bytes, signal) {
      for (const t of list) await t.take(bytes, signal);
    },
  };
}
