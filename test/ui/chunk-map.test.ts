import { describe, expect, it } from 'vitest';
import { allChunks, groupChunks, mapRows } from '../../src/ui/chunk-map.js';
import { file } from './fake-controller.js';

const u8 = (s: string) => Uint8Array.from([...s].map(Number));

describe('chunk map', () => {
  it('keeps one cell per chunk when they fit', () => {
    expect([...groupChunks(u8('0123'), 10)]).toEqual([0, 1, 2, 3]);
  });

  it('groups chunks to the cells there are; a group shows its worst or least advanced state', () => {
    expect([...groupChunks(u8('33332333'), 4)]).toEqual([3, 3, 2, 3]);
    expect([...groupChunks(u8('33343333'), 2)]).toEqual([4, 3]);
    expect([...groupChunks(u8('0333'), 2)]).toEqual([0, 3]);
    expect([...groupChunks(u8('1333332'), 3)]).toEqual([1, 3, 2]);
    expect(groupChunks(u8(''), 3)).toHaveLength(0);
  });

  it('concatenates the files and lays the map out in rows of runs', () => {
    const chunks = allChunks([file('a', '3332'), file('b', '10')]);
    expect([...chunks]).toEqual([3, 3, 3, 2, 1, 0]);
    expect(mapRows(chunks, 4, 5)).toEqual([
      [
        { state: 3, count: 3 },
        { state: 2, count: 1 },
      ],
      [
        { state: 1, count: 1 },
        { state: 0, count: 1 },
      ],
    ]);
    // One row for six chunks in four cells: groups [3] [3 3] [2] [1 0].
    expect(mapRows(chunks, 4, 1)).toEqual([
      [
        { state: 3, count: 2 },
        { state: 2, count: 1 },
        { state: 0, count: 1 },
      ],
    ]);
    expect(mapRows(chunks, 0, 3)).toEqual([]);
  });
});
