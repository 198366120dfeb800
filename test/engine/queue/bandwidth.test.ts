import { describe, expect, it } from 'vitest';
import {
  combine,
  type Throttle,
  type TimerClock,
  TokenBucket,
} from '../../../src/engine/queue/bandwidth.js';

/** Virtual time: timers fire only when the test advances the clock. */
class FakeClock implements TimerClock {
  t = 0;
  #next = 1;
  #timers = new Map<number, { at: number; fn: () => void }>();
  /** Most timers ever armed at once. */
  maxPending = 0;
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    const id = this.#next++;
    this.#timers.set(id, { at: this.t + ms, fn });
    this.maxPending = Math.max(this.maxPending, this.#timers.size);
    return id;
  };
  clearTimeout = (h: unknown) => {
    this.#timers.delete(h as number);
  };
  get pending(): number {
    return this.#timers.size;
  }
  /** Move time forward, firing due timers in order and letting promise callbacks run. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await flush();
      const due = [...this.#timers.entries()]
        .filter(([, t]) => t.at <= end)
        .sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.#timers.delete(due[0]);
      this.t = Math.max(this.t, due[1].at);
      due[1].fn();
    }
    this.t = end;
    await flush();
  }
}

/** Let settled promises run their callbacks (a macrotask turn, no wall-clock wait). */
function flush(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** Track whether a promise settled, without awaiting it. */
function watch(p: Promise<void>): { done: boolean; error: unknown } {
  const s = { done: false, error: undefined as unknown };
  p.then(
    () => {
      s.done = true;
    },
    (e) => {
      s.done = true;
      s.error = e;
    },
  );
  return s;
}

/** A bucket drained to zero tokens at t = 0. */
async function emptyBucket(rateBps: number, burstBytes: number) {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ rateBps, burstBytes, clock });
  await bucket.take(burstBytes);
  return { clock, bucket };
}

describe('TokenBucket', () => {
  it('over a long run moves rate × t + burst bytes, within one request', async () => {
    const clock = new FakeClock();
    const rate = 1_000_000;
    const bucket = new TokenBucket({ rateBps: rate, clock });
    const burst = 256 * 1024; // the default: max(rate / 4, 256 KiB)
    const req = 64 * 1024;
    let taken = 0;
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        await bucket.take(req);
        taken += req;
      }
    })();
    for (let step = 1; step <= 200; step++) {
      await clock.advance(50);
      const ideal = burst + (rate * clock.t) / 1000;
      expect(taken).toBeLessThanOrEqual(ideal);
      expect(taken).toBeGreaterThanOrEqual(ideal - req);
    }
    expect(clock.maxPending).toBe(1);
    stop = true;
    await clock.advance(1000);
    await loop;
  });

  it('serves waiters first come, first served: small requests do not overtake a big one', async () => {
    const { clock, bucket } = await emptyBucket(1000, 1000);
    const order: string[] = [];
    const big = bucket.take(800).then(() => order.push('big'));
    const small = Array.from({ length: 20 }, (_, i) =>
      bucket.take(10).then(() => order.push(`small${i}`)),
    );
    await clock.advance(100); // 100 tokens: enough for every small one, not for the big one
    const newcomer = watch(bucket.take(10));
    await flush();
    expect(order).toEqual([]);
    expect(newcomer.done).toBe(false);
    await clock.advance(700);
    expect(order).toEqual(['big']);
    await clock.advance(210); // 20 small ones, then the newcomer
    await Promise.all([big, ...small]);
    expect(newcomer.done).toBe(true);
    expect(order).toEqual(['big', ...Array.from({ length: 20 }, (_, i) => `small${i}`)]);
    // A newcomer queues behind waiters even when the tokens would cover it.
    const late = watch(bucket.take(900));
    const after = watch(bucket.take(1));
    await clock.advance(899);
    expect([late.done, after.done]).toEqual([false, false]);
    await clock.advance(2);
    expect([late.done, after.done]).toEqual([true, true]);
  });

  it('lets a request larger than the burst overdraw; later takers repay the debt', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ rateBps: 1000, burstBytes: 100, clock });
    await bucket.take(5000); // a full bucket lets it go at once, 4900 in debt
    const next = watch(bucket.take(100));
    await clock.advance(4999);
    expect(next.done).toBe(false);
    await clock.advance(1);
    expect(next.done).toBe(true);
    // From an empty bucket, the big one waits for a full bucket, not for its size.
    const { clock: c2, bucket: b2 } = await emptyBucket(1000, 100);
    const big = watch(b2.take(5000));
    await c2.advance(99);
    expect(big.done).toBe(false);
    await c2.advance(1);
    expect(big.done).toBe(true);
  });

  it('setRate re-times waiters at once, faster or slower', async () => {
    const fast = await emptyBucket(1000, 1000);
    const a = watch(fast.bucket.take(1000));
    await fast.clock.advance(100); // 100 tokens in
    fast.bucket.setRate(10_000); // the other 900 take 90 ms now
    await fast.clock.advance(89);
    expect(a.done).toBe(false);
    await fast.clock.advance(1);
    expect(a.done).toBe(true);
    expect(fast.clock.pending).toBe(0);

    const slow = await emptyBucket(1000, 1000);
    const b = watch(slow.bucket.take(1000));
    await slow.clock.advance(100);
    slow.bucket.setRate(100); // the other 900 take 9 s now
    await slow.clock.advance(8999);
    expect(b.done).toBe(false);
    await slow.clock.advance(1);
    expect(b.done).toBe(true);
    expect(slow.clock.maxPending).toBe(1);
  });

  it('with rate null lets everything through at once, waiters included', async () => {
    const clock = new FakeClock();
    const open = new TokenBucket({ rateBps: null, clock });
    await open.take(10 * 2 ** 30);
    await open.take(10 * 2 ** 30);
    expect(clock.pending).toBe(0);

    const { clock: c2, bucket } = await emptyBucket(1000, 1000);
    const waiting = [watch(bucket.take(1000)), watch(bucket.take(1000))];
    await c2.advance(1);
    bucket.setRate(null);
    await flush();
    expect(waiting.map((w) => w.done)).toEqual([true, true]);
    expect(c2.pending).toBe(0);
    expect(bucket.rateBps).toBeNull();
    // Limited again, it starts with a full bucket.
    bucket.setRate(1000);
    await bucket.take(1000);
    const more = watch(bucket.take(1));
    await flush();
    expect(more.done).toBe(false);
  });

  it('abort rejects with the reason, leaves the queue, and the next taker proceeds', async () => {
    const { clock, bucket } = await emptyBucket(1000, 1000);
    const ac = new AbortController();
    const head = watch(bucket.take(1000, ac.signal));
    const next = watch(bucket.take(500));
    await clock.advance(100);
    const reason = new Error('stop');
    ac.abort(reason);
    await flush();
    expect(head).toEqual({ done: true, error: reason });
    await clock.advance(399); // 100 + 399 tokens < 500
    expect(next.done).toBe(false);
    await clock.advance(1);
    expect(next).toEqual({ done: true, error: undefined });
    expect(clock.maxPending).toBe(1);

    // An already aborted signal rejects without queueing.
    const gone = new AbortController();
    gone.abort('late');
    await expect(bucket.take(1, gone.signal)).rejects.toBe('late');
    // Aborting a waiter behind the head changes nothing for the head.
    const h = watch(bucket.take(1000));
    const behind = new AbortController();
    const b = watch(bucket.take(1, behind.signal));
    behind.abort('no');
    await clock.advance(1000);
    expect(h.done).toBe(true);
    expect(b.error).toBe('no');
  });

  it('rejects bad arguments with the parameter name', async () => {
    for (const rateBps of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new TokenBucket({ rateBps })).toThrow(/rateBps/);
    }
    expect(() => new TokenBucket({ rateBps: 1, burstBytes: 0 })).toThrow(/burstBytes/);
    const bucket = new TokenBucket({ rateBps: 1000 });
    expect(() => bucket.setRate(-5)).toThrow(RangeError);
    await expect(bucket.take(-1)).rejects.toThrow(/bytes/);
    await expect(bucket.take(Number.NaN)).rejects.toThrow(RangeError);
  });
});

describe('combine', () => {
  it('takes from each throttle in turn, skipping absent ones', async () => {
    const seen: string[] = [];
    const recording = (name: string): Throttle => ({
      take: async (bytes) => {
        seen.push(`${name}:${bytes}`);
      },
    });
    await combine(recording('cap'), undefined, recording('global')).take(42);
    expect(seen).toEqual(['cap:42', 'global:42']);
    await combine().take(1);
    await combine(undefined).take(1);
  });

  it('is held to the slower of two buckets, whichever comes first', async () => {
    for (const slowFirst of [true, false]) {
      const clock = new FakeClock();
      const slow = new TokenBucket({ rateBps: 1000, burstBytes: 100, clock });
      const fast = new TokenBucket({ rateBps: 10_000, burstBytes: 100, clock });
      const both = slowFirst ? combine(slow, fast) : combine(fast, slow);
      let taken = 0;
      const loop = (async () => {
        for (let i = 0; i < 20; i++) {
          await both.take(100);
          taken += 100;
        }
      })();
      await clock.advance(1000);
      expect(taken).toBe(100 + 1000); // the slow burst plus one second of its rate
      await clock.advance(1000);
      await loop;
      expect(taken).toBe(2000);
    }
  });
});
