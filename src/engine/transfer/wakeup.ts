/** A level-triggered wake-up: `wait()` resolves at the next `notify()`. */
export class Wakeup {
  #pending: (() => void) | null = null;
  #flag = false;

  /** Resolve the current waiter, or the next one if none waits yet. */
  notify(): void {
    const r = this.#pending;
    this.#pending = null;
    if (r) r();
    else this.#flag = true;
  }

  /** Wait until notified (immediately if a notify came since the last wait). */
  wait(): Promise<void> {
    if (this.#flag) {
      this.#flag = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.#pending = resolve;
    });
  }
}

/** Bytes/second over a sliding window of about `windowMs`. */
export class RateMeter {
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #samples: { t: number; bytes: number }[] = [];
  #sum = 0;

  constructor(windowMs = 2000, now: () => number = () => performance.now()) {
    this.#windowMs = windowMs;
    this.#now = now;
  }

  /** Record `bytes` delivered now. */
  add(bytes: number): void {
    const t = this.#now();
    this.#samples.push({ t, bytes });
    this.#sum += bytes;
    this.#trim(t);
  }

  /** Current rate in bytes per second. */
  get rate(): number {
    const t = this.#now();
    this.#trim(t);
    const first = this.#samples[0];
    if (!first) return 0;
    const span = Math.max(t - first.t, 250);
    return (this.#sum * 1000) / span;
  }

  #trim(t: number): void {
    while (this.#samples.length > 0 && t - this.#samples[0]!.t > this.#windowMs) {
      this.#sum -= this.#samples.shift()!.bytes;
    }
  }
}
