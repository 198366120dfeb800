import { describe, expect, it } from 'vitest';
import { mapLimit } from '../../src/engine/map-limit.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('mapLimit', () => {
  it('keeps item order whatever order calls finish in, and never runs more than the limit', async () => {
    let running = 0;
    let most = 0;
    const items = Array.from({ length: 50 }, (_, i) => i);
    const out = await mapLimit(items, 7, async (n, i) => {
      running++;
      most = Math.max(most, running);
      await tick((n * 7) % 5);
      running--;
      return n * 10 + i;
    });
    expect(out).toEqual(items.map((n) => n * 11));
    expect(most).toBe(7);
  });

  it('rejects with the first failure; empty input and a limit above the count are fine', async () => {
    await expect(
      mapLimit([1, 2, 3], 2, async (n) => {
        if (n === 2) throw new Error('two');
        return n;
      }),
    ).rejects.toThrow('two');
    expect(await mapLimit([], 4, async () => 1)).toEqual([]);
    expect(await mapLimit([1], 100, async (n) => n + 1)).toEqual([2]);
    await expect(mapLimit([1], 0, async (n) => n)).rejects.toThrow(RangeError);
  });
});
