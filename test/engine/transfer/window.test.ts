/**
 * ChunkWindow driven by a fake clock over a simulated link: a bottleneck of
 * `bandwidth` bytes/s that serializes chunks, plus a fixed propagation delay.
 * No timers, no wall time: every result is deterministic.
 */
import { describe, expect, it } from 'vitest';
import { ChunkWindow } from '../../../src/engine/transfer/window.js';

const CHUNK = 64 * 1024;
const MiB = 1024 * 1024;

interface LinkModel {
  /** Bottleneck rate in bytes/s. */
  readonly bandwidth: number;
  /** Round-trip propagation delay in ms (on top of serialization). */
  readonly delayMs: number;
}

/**
 * Keep the window full for `seconds` of simulated time; returns the window
 * and every size it took, in order.
 */
function simulate(
  link: LinkModel,
  seconds: number,
  opts: { memoryBudget: number; initial?: number },
): { window: ChunkWindow; sizes: number[] } {
  let t = 0;
  const window = new ChunkWindow({ chunkBytes: CHUNK, now: () => t, ...opts });
  const sizes = [window.size];
  const acks: { key: number; at: number }[] = [];
  let next = 0;
  let lastDeparture = 0;
  while (t < seconds * 1000) {
    while (window.hasRoom) {
      const key = next++;
      window.onSend(key);
      lastDeparture = Math.max(t, lastDeparture) + (CHUNK / link.bandwidth) * 1000;
      acks.push({ key, at: lastDeparture + link.delayMs });
    }
    const ack = acks.shift()!;
    t = ack.at;
    if (!window.onAck(ack.key)) throw new Error(`ack of in-flight chunk ${ack.key} refused`);
    if (window.size !== sizes.at(-1)) sizes.push(window.size);
  }
  expect(Math.max(...sizes)).toBeLessThanOrEqual(window.max);
  expect(Math.min(...sizes)).toBeGreaterThanOrEqual(window.min);
  return { window, sizes };
}

describe('ChunkWindow', () => {
  it('starts at 8, or at the initial size clamped to [min, max]', () => {
    const w = new ChunkWindow({ chunkBytes: CHUNK, memoryBudget: 64 * MiB, now: () => 0 });
    expect(w.size).toBe(8);
    expect(w.inFlight).toBe(0);
    expect(w.minRttMs).toBeNull();
    expect(w.rateBps).toBe(0);
    const at = (initial: number, budget = 64 * MiB) =>
      new ChunkWindow({ chunkBytes: CHUNK, memoryBudget: budget, initial, now: () => 0 }).size;
    expect(at(20)).toBe(20);
    expect(at(0)).toBe(2);
    expect(at(1)).toBe(2);
    expect(at(100, MiB)).toBe(16);
  });

  it('never goes below 2, even when the budget holds less than two chunks', () => {
    const w = new ChunkWindow({ chunkBytes: CHUNK, memoryBudget: CHUNK / 2, now: () => 0 });
    expect(w.max).toBe(2);
    expect(w.size).toBe(2);
  });

  it('rejects a non-positive chunk size', () => {
    expect(() => new ChunkWindow({ chunkBytes: 0, memoryBudget: MiB })).toThrow(RangeError);
  });

  it('grows while the delivered rate grows, up to the memory budget and never past it', () => {
    // A fast link with a long delay: the window, not the link, limits the rate.
    const budget = 3 * MiB; // 48 chunks
    const { window, sizes } = simulate({ bandwidth: 1024 * MiB, delayMs: 50 }, 3, {
      memoryBudget: budget,
    });
    expect(window.max).toBe(budget / CHUNK);
    expect(sizes).toEqual([8, 12, 18, 27, 41, 48]);
    expect(window.size).toBe(48);
  });

  it('stops growing once the rate is flat, and settles near the bandwidth-delay product', () => {
    // 64 MiB/s with 20 ms: the BDP is about 22 chunks of 64 KiB.
    const link = { bandwidth: 64 * MiB, delayMs: 20 };
    const bdp = Math.ceil((link.bandwidth * (link.delayMs / 1000)) / CHUNK) + 1;
    const { window, sizes } = simulate(link, 30, { memoryBudget: 1024 * MiB });
    const peak = Math.max(...sizes);
    const peakAt = sizes.indexOf(peak);
    // Growth happens only in the rising phase, and stops within a few rounds of the BDP.
    expect(sizes.slice(0, peakAt + 1)).toEqual(
      [...sizes.slice(0, peakAt + 1)].sort((a, b) => a - b),
    );
    expect(peak).toBeLessThan(4 * bdp);
    for (let i = peakAt + 1; i < sizes.length; i++) {
      expect(sizes[i]!).toBeLessThan(sizes[i - 1]!);
    }
    // It keeps the pipe full: at least the BDP, with a little headroom.
    expect(window.size).toBeGreaterThanOrEqual(bdp);
    expect(window.size).toBeLessThanOrEqual(bdp + 6);
    expect(window.rateBps).toBeCloseTo(link.bandwidth, -3);
    expect(window.minRttMs).toBeCloseTo(link.delayMs + (CHUNK / link.bandwidth) * 1000, 6);
  });

  it('with the rate flat from the start, grows only on its first measurement', () => {
    // The initial window already overfills a slow link: every round delivers the same rate.
    const { sizes } = simulate({ bandwidth: 8 * MiB, delayMs: 5 }, 20, {
      memoryBudget: 1024 * MiB,
      initial: 64,
    });
    expect(sizes[0]).toBe(64);
    expect(sizes[1]).toBe(96); // the first round has no baseline to compare with
    for (let i = 2; i < sizes.length; i++) expect(sizes[i]!).toBeLessThan(sizes[i - 1]!);
  });

  it('ignores duplicate acks and acks of chunks never sent', () => {
    let t = 0;
    const w = new ChunkWindow({ chunkBytes: CHUNK, memoryBudget: 64 * MiB, now: () => t });
    for (let k = 0; k < 8; k++) w.onSend(k);
    expect(w.hasRoom).toBe(false);
    t = 10;
    expect(w.onAck(3)).toBe(true);
    for (let i = 0; i < 20; i++) expect(w.onAck(3)).toBe(false);
    expect(w.onAck(99)).toBe(false);
    expect(w.inFlight).toBe(7);
    // Duplicates did not count toward a round: a full round would have moved these.
    expect(w.rateBps).toBe(0);
    expect(w.size).toBe(8);
    expect(w.minRttMs).toBe(10);
  });

  it('forget() frees a slot without an ack, and a late ack of it is ignored', () => {
    let t = 0;
    const w = new ChunkWindow({ chunkBytes: CHUNK, memoryBudget: 64 * MiB, now: () => t });
    for (let k = 0; k < 8; k++) w.onSend(k);
    expect(w.hasRoom).toBe(false);
    w.forget(5);
    expect(w.has(5)).toBe(false);
    expect(w.inFlight).toBe(7);
    expect(w.hasRoom).toBe(true);
    t = 5;
    expect(w.onAck(5)).toBe(false);
    expect(w.minRttMs).toBeNull();
    w.forget(5); // forgetting twice is harmless
    expect(w.inFlight).toBe(7);
  });
});
