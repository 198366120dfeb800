import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { ChunkSlots } from '../../../src/engine/transfer/chunk-slots.js';
import { LeafHashPool, STEAL_AT } from '../../../src/engine/transfer/hash-pool.js';
import { ChunkHasher } from '../../../src/engine/transfer/merkle.js';

const pools = [new LeafHashPool(2), new LeafHashPool(0)];
afterAll(async () => {
  for (const p of pools) await p.close();
});

describe('LeafHashPool', () => {
  it('computes the same leaves as ChunkHasher, on workers and inline, for all sizes', async () => {
    const h = await ChunkHasher.create();
    for (const pool of pools) {
      for (const size of [0, 1, 16 * 1024 - 1, 16 * 1024, 64 * 1024 + 3, 1024 * 1024]) {
        const data = randomBytes(size);
        const want = Buffer.from(h.leaf(data)).toString('hex');
        const { leaf, data: back } = await pool.leaf(data);
        expect(Buffer.from(leaf).toString('hex')).toBe(want);
        expect(back).toBe(data); // not handed over: the caller's buffer, untouched
      }
    }
  });

  it('hands an owned buffer over and back without changing its bytes', async () => {
    const h = await ChunkHasher.create();
    const owned = Buffer.allocUnsafeSlow(256 * 1024).fill(7);
    const copy = Buffer.from(owned);
    const { leaf, data } = await pools[0]!.leaf(owned, true);
    expect(owned.length).toBe(0); // detached while the worker held it
    expect(Buffer.compare(Buffer.from(data), copy)).toBe(0);
    expect(Buffer.from(leaf).equals(Buffer.from(h.leaf(copy)))).toBe(true);
  });

  it('hashes chunk slots where they lie, on workers and inline, across slot memories', async () => {
    const h = await ChunkHasher.create();
    for (const pool of pools) {
      for (const slots of [new ChunkSlots(256 * 1024, 4), new ChunkSlots(256 * 1024, 4)]) {
        const taken = [slots.take()!, slots.take()!, slots.take()!, slots.take()!];
        for (const s of taken) s.set(randomBytes(s.length));
        const got = await Promise.all(taken.map((s) => pool.leaf(s, true)));
        got.forEach(({ leaf, data }, i) => {
          expect(data).toBe(taken[i]); // the same view: nothing detached or copied back
          expect(taken[i]!.length).toBe(256 * 1024);
          expect(Buffer.from(leaf).equals(Buffer.from(h.leaf(taken[i]!)))).toBe(true);
        });
        // The same slot again with new bytes: the worker reads them, not a copy it kept.
        taken[2]!.fill(9);
        const again = await pool.leaf(taken[2]!, true);
        expect(Buffer.from(again.leaf).equals(Buffer.from(h.leaf(taken[2]!)))).toBe(true);
      }
    }
  });

  it('keeps many concurrent requests apart', async () => {
    const h = await ChunkHasher.create();
    const chunks = Array.from({ length: 40 }, () => randomBytes(64 * 1024));
    const leaves = await Promise.all(chunks.map((c) => pools[0]!.leaf(c)));
    leaves.forEach((l, i) => {
      expect(Buffer.from(l.leaf).equals(Buffer.from(h.leaf(chunks[i]!)))).toBe(true);
    });
  });

  it('starts one worker for one job at a time and a second only under a backlog', async () => {
    const pool = new LeafHashPool(2);
    try {
      const chunk = randomBytes(64 * 1024);
      for (let i = 0; i < 5; i++) await pool.leaf(chunk);
      expect(pool.running).toBe(1);
      await Promise.all(Array.from({ length: 12 }, () => pool.leaf(chunk)));
      expect(pool.running).toBe(2);
      await Promise.all(Array.from({ length: 30 }, () => pool.leaf(chunk)));
      expect(pool.running).toBe(2); // never more than its size
    } finally {
      await pool.close();
    }
  });

  it('hashes on the calling thread, not behind a backlog, once every worker has STEAL_AT jobs', async () => {
    const h = await ChunkHasher.create();
    const pool = new LeafHashPool(1);
    try {
      const chunks = Array.from({ length: STEAL_AT + 6 }, () => randomBytes(64 * 1024));
      // Asked all at once (no turn of the event loop between): the first
      // STEAL_AT queue on the worker, each later one finds it backlogged.
      const leaves = await Promise.all(chunks.map((c) => pool.leaf(c)));
      expect(pool.stolen).toBe(6);
      expect(pool.running).toBe(1);
      leaves.forEach((l, i) => {
        expect(Buffer.from(l.leaf).equals(Buffer.from(h.leaf(chunks[i]!)))).toBe(true);
        expect(l.data).toBe(chunks[i]);
      });
      // One at a time, the worker never has a backlog: nothing more is stolen.
      for (const c of chunks.slice(0, 3)) await pool.leaf(c);
      expect(pool.stolen).toBe(6);
    } finally {
      await pool.close();
    }
  });

  it('lets an idle worker exit and starts a fresh one for the next job', async () => {
    const h = await ChunkHasher.create();
    const pool = new LeafHashPool(1, { idleExitMs: 20 });
    try {
      const chunk = randomBytes(64 * 1024);
      await pool.leaf(chunk);
      expect(pool.running).toBe(1);
      for (let t = 0; t < 100 && pool.running > 0; t++) await new Promise((r) => setTimeout(r, 10));
      expect(pool.running).toBe(0);
      const { leaf } = await pool.leaf(chunk);
      expect(Buffer.from(leaf).equals(Buffer.from(h.leaf(chunk)))).toBe(true);
      expect(pool.running).toBe(1);
    } finally {
      await pool.close();
    }
  });

  it('rejects a bad size', () => {
    expect(() => new LeafHashPool(-1)).toThrow(RangeError);
    expect(() => new LeafHashPool(1.5)).toThrow(RangeError);
  });
});
