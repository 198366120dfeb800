import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { LeafHashPool } from '../../../src/engine/transfer/hash-pool.js';
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

  it('keeps many concurrent requests apart', async () => {
    const h = await ChunkHasher.create();
    const chunks = Array.from({ length: 40 }, () => randomBytes(64 * 1024));
    const leaves = await Promise.all(chunks.map((c) => pools[0]!.leaf(c)));
    leaves.forEach((l, i) => {
      expect(Buffer.from(l.leaf).equals(Buffer.from(h.leaf(chunks[i]!)))).toBe(true);
    });
  });

  it('rejects a bad size', () => {
    expect(() => new LeafHashPool(-1)).toThrow(RangeError);
    expect(() => new LeafHashPool(1.5)).toThrow(RangeError);
  });
});
