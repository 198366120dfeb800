/** The engine's throttle hook (issue 5): each side asks before moving a chunk's bytes. */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Throttle } from '../../../src/engine/queue/bandwidth.js';
import { TokenBucket } from '../../../src/engine/queue/bandwidth.js';
import {
  cleanup,
  makeFile,
  outcome,
  type Pair,
  settle,
  sha,
  startPair,
  tempDir,
} from './harness.js';

const dirs: string[] = [];
async function dir(): Promise<string> {
  const d = await tempDir();
  dirs.push(d);
  return d;
}
afterEach(async () => {
  await cleanup(...dirs.splice(0));
});

/** Deadline of every single await in this file. */
const WAIT_MS = 10_000;

/** Reject when `p` takes longer than `ms`. */
function within<T>(p: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  const signal = AbortSignal.timeout(ms);
  return Promise.race([
    p,
    new Promise<never>((_, reject) =>
      signal.addEventListener('abort', () => reject(new Error(`${what} took over ${ms} ms`))),
    ),
  ]);
}

/** A throttle that holds every take until `release()`; honours abort. */
function gate() {
  let open = false;
  let first!: () => void;
  const held = new Set<() => void>();
  const signals: AbortSignal[] = [];
  const throttle: Throttle = {
    take(_bytes, signal) {
      if (signal) signals.push(signal);
      first();
      if (open) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const go = () => {
          held.delete(go);
          resolve();
        };
        held.add(go);
        signal?.addEventListener('abort', () => {
          held.delete(go);
          reject(signal.reason);
        });
      });
    },
  };
  return {
    throttle,
    /** Resolves at the first take. */
    asked: new Promise<void>((r) => {
      first = r;
    }),
    signals,
    release() {
      open = true;
      for (const go of [...held]) go();
    },
  };
}

const SIDES = [
  { side: 'sender', key: 'send' },
  { side: 'receiver', key: 'receive' },
] as const;

function throttled(side: 'send' | 'receive', throttle: Throttle) {
  return side === 'send' ? { send: { throttle } } : { receive: { throttle } };
}

function bytesDone(pair: Pair): number[] {
  return [pair.sender.snapshot().bytesDone, pair.receiver.snapshot().bytesDone];
}

describe.each(SIDES)('a throttle on the $side', ({ key }) => {
  it('is asked for at least every byte of the file, which arrives intact', async () => {
    const src = await dir();
    const dst = await dir();
    const file = await makeFile(src, 'data.bin', 300_000);
    const asked: number[] = [];
    const pair = startPair({
      paths: [file],
      targetDir: dst,
      ...throttled(key, {
        take: async (bytes) => {
          asked.push(bytes);
        },
      }),
    });
    await within(Promise.all([pair.sender.done, pair.receiver.done]), 'transfer');
    await settle(pair);
    expect(await sha(join(dst, 'data.bin'))).toBe(await sha(file));
    expect(asked.length).toBeGreaterThanOrEqual(5); // 300 kB in 64 KiB chunks
    expect(asked.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(300_000);
  });

  it('a wait longer than the idle timeout is not mistaken for a dead peer (pings keep both sides alive)', async () => {
    const src = await dir();
    const dst = await dir();
    const file = await makeFile(src, 'data.bin', 300_000);
    const g = gate();
    const idle = { idleTimeoutMs: 300 };
    const pair = startPair({
      paths: [file],
      targetDir: dst,
      send: { ...idle, ...(key === 'send' ? { throttle: g.throttle } : {}) },
      receive: { ...idle, ...(key === 'receive' ? { throttle: g.throttle } : {}) },
    });
    await within(g.asked, 'first take');
    await new Promise((r) => setTimeout(r, 1200)); // four idle timeouts
    g.release();
    await within(Promise.all([pair.sender.done, pair.receiver.done]), 'transfer');
    await settle(pair);
    expect(await sha(join(dst, 'data.bin'))).toBe(await sha(file));
  });

  it('many takes pending at once print no listener warning (stderr is under the TUI)', async () => {
    const src = await dir();
    const dst = await dir();
    const file = await makeFile(src, 'data.bin', 6_000_000);
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      // A burst lets the window grow past 10 chunks, then the rate holds
      // them: each waiting take listens for the transfer's end.
      const bucket = new TokenBucket({ rateBps: 8_000_000, burstBytes: 3_000_000 });
      const pair = startPair({ paths: [file], targetDir: dst, ...throttled(key, bucket) });
      await within(Promise.all([pair.sender.done, pair.receiver.done]), 'transfer');
      await settle(pair);
      await new Promise((r) => setImmediate(r)); // warnings are emitted on a later tick
      expect(await sha(join(dst, 'data.bin'))).toBe(await sha(file));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => w === 'MaxListenersExceededWarning')).toEqual([]);
  });

  it('holds all progress while a take is pending; the transfer completes after release', async () => {
    const src = await dir();
    const dst = await dir();
    const file = await makeFile(src, 'data.bin', 500_000);
    const g = gate();
    const pair = startPair({ paths: [file], targetDir: dst, ...throttled(key, g.throttle) });
    await within(g.asked, 'first take');
    await new Promise((r) => setTimeout(r, 150));
    expect(bytesDone(pair)).toEqual([0, 0]);
    for (const events of [pair.senderEvents, pair.receiverEvents]) {
      expect(events.filter((e) => e.type === 'progress' && e.bytes > 0)).toEqual([]);
    }
    g.release();
    await within(Promise.all([pair.sender.done, pair.receiver.done]), 'transfer');
    await settle(pair);
    expect(await sha(join(dst, 'data.bin'))).toBe(await sha(file));
  });

  it('cancelled on this side while a take is pending: both sides settle, the take is aborted', async () => {
    const pair = await heldPair(key);
    (key === 'send' ? pair.sender : pair.receiver).cancel('enough');
    await expectBothCancelled(pair);
    expect(pair.gate.signals.length).toBeGreaterThan(0);
    expect(pair.gate.signals.every((sig) => sig.aborted)).toBe(true);
  });
});

/** A pair whose `side` holds its first take until released. */
async function heldPair(
  side: 'send' | 'receive',
): Promise<Pair & { gate: ReturnType<typeof gate> }> {
  const src = await dir();
  const file = await makeFile(src, 'data.bin', 500_000);
  const g = gate();
  const pair = startPair({ paths: [file], targetDir: await dir(), ...throttled(side, g.throttle) });
  await within(g.asked, 'first take');
  return { ...pair, gate: g };
}

async function expectBothCancelled(pair: Pair): Promise<void> {
  const [s, r] = await within(
    Promise.all([outcome(pair.sender.done), outcome(pair.receiver.done)]),
    'both sides ending',
  );
  await settle(pair);
  expect(!s.ok && s.error.code).toBe('CANCELLED');
  expect(!r.ok && r.error.code).toBe('CANCELLED');
}

describe('cancelled by the peer while a take is pending', () => {
  it('a throttled sender hears the cancel at once (its read loop does not wait)', async () => {
    const pair = await heldPair('send');
    pair.receiver.cancel('enough');
    await expectBothCancelled(pair);
    expect(pair.gate.signals.every((sig) => sig.aborted)).toBe(true);
  });

  it('a throttled receiver hears the cancel at once, as a cancel (its read loop does not wait)', async () => {
    // The limit holds back the receiver's writes and acks, not its reads:
    // the cancel behind the held chunks is read while the take still waits.
    const pair = await heldPair('receive');
    pair.sender.cancel('enough');
    await expectBothCancelled(pair);
    expect(pair.gate.signals.every((sig) => sig.aborted)).toBe(true);
  });
});
