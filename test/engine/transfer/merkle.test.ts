/**
 * Merkle tree tests. Known answers are computed independently with
 * @noble/hashes' BLAKE3 (a second implementation of the same function) and a
 * straightforward recursive-by-levels construction of the tree, so a bug in
 * either the WASM hasher wiring or the in-place reduction shows up.
 */
import { blake3 } from '@noble/hashes/blake3.js';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ChunkHasher,
  chunkCount,
  chunkLength,
  HASH_BYTES,
  LeafSet,
  merkleRoot,
} from '../../../src/engine/transfer/merkle.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function refLeaf(chunk: Uint8Array): Uint8Array {
  const input = new Uint8Array(1 + chunk.length);
  input[0] = 0x00;
  input.set(chunk, 1);
  return blake3(input);
}

function refNode(left: Uint8Array, right: Uint8Array): Uint8Array {
  const input = new Uint8Array(1 + 64);
  input[0] = 0x01;
  input.set(left, 1);
  input.set(right, 33);
  return blake3(input);
}

function refRoot(leaves: Uint8Array[]): Uint8Array {
  let level = leaves;
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(refNode(level[i]!, level[i + 1]!));
    if (level.length % 2 === 1) next.push(level[level.length - 1]!);
    level = next;
  }
  return level[0]!;
}

function chunkOf(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 131 + seed * 7 + 3) & 0xff;
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.length * HASH_BYTES);
  parts.forEach((p, i) => {
    out.set(p, i * HASH_BYTES);
  });
  return out;
}

let hasher: ChunkHasher;
beforeAll(async () => {
  hasher = await ChunkHasher.create();
});

describe('ChunkHasher', () => {
  it('leaf matches BLAKE3(0x00 || chunk) from @noble/hashes for several sizes', () => {
    // Sizes straddle BLAKE3's 64-byte block and 1024-byte chunk boundaries.
    for (const size of [0, 1, 63, 64, 65, 1023, 1024, 1025, 4096, 65_537, 1024 * 1024]) {
      const chunk = chunkOf(size, size);
      expect(hex(hasher.leaf(chunk)), `size ${size}`).toBe(hex(refLeaf(chunk)));
    }
  });

  it('leaf of the empty chunk is BLAKE3(0x00)', () => {
    const leaf = hasher.leaf(new Uint8Array(0));
    expect(leaf.length).toBe(32);
    expect(hex(leaf)).toBe(hex(blake3(new Uint8Array([0]))));
    // And it is not the plain BLAKE3 of the empty string (domain separation).
    expect(hex(leaf)).not.toBe('af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262');
  });

  it('node matches BLAKE3(0x01 || left || right)', () => {
    const l = refLeaf(chunkOf(10, 1));
    const r = refLeaf(chunkOf(10, 2));
    expect(hex(hasher.node(l, r))).toBe(hex(refNode(l, r)));
    expect(hex(hasher.node(l, r))).not.toBe(hex(hasher.node(r, l)));
  });

  it('returns fresh buffers and does not mutate inputs', () => {
    const chunk = chunkOf(5000, 9);
    const copy = chunk.slice();
    const a = hasher.leaf(chunk);
    const b = hasher.leaf(chunk);
    expect(a).not.toBe(b);
    expect(a).toEqual(b);
    expect(chunk).toEqual(copy);
    const l = a.slice();
    const r = hasher.leaf(chunkOf(1, 1));
    const rCopy = r.slice();
    const n1 = hasher.node(a, r);
    const n2 = hasher.node(a, r);
    expect(n1).not.toBe(n2);
    expect(a).toEqual(l);
    expect(r).toEqual(rCopy);
  });

  it('leafInto writes at the offset', () => {
    const out = new Uint8Array(96);
    hasher.leafInto(chunkOf(7, 7), out, 32);
    expect(out.subarray(32, 64)).toEqual(refLeaf(chunkOf(7, 7)));
    expect(out.subarray(0, 32)).toEqual(new Uint8Array(32));
    expect(() => hasher.leafInto(new Uint8Array(1), out, 65)).toThrow(RangeError);
  });

  it('node rejects children that are not 32 bytes', () => {
    expect(() => hasher.node(new Uint8Array(31), new Uint8Array(32))).toThrow(TypeError);
  });
});

describe('merkleRoot', () => {
  it('matches the reference construction for 1..33 leaves (incl. odd promotion)', () => {
    for (let count = 1; count <= 33; count++) {
      const leaves = Array.from({ length: count }, (_, i) => refLeaf(chunkOf(100 + i, i)));
      const packed = concat(leaves);
      const before = packed.slice();
      const root = merkleRoot(hasher, packed, count);
      expect(hex(root), `count ${count}`).toBe(hex(refRoot(leaves)));
      expect(packed).toEqual(before);
    }
  });

  it('spells out small trees', () => {
    const [a, b, c] = [0, 1, 2].map((i) => refLeaf(chunkOf(3, i))) as [
      Uint8Array,
      Uint8Array,
      Uint8Array,
    ];
    expect(merkleRoot(hasher, a, 1)).toEqual(a);
    expect(merkleRoot(hasher, concat([a, b]), 2)).toEqual(refNode(a, b));
    // Three leaves: c is promoted, root = node(node(a, b), c).
    expect(merkleRoot(hasher, concat([a, b, c]), 3)).toEqual(refNode(refNode(a, b), c));
  });

  it('agrees with the reference for random leaf counts (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer(), (count, seed) => {
        const leaves = Array.from({ length: count }, (_, i) => blake3(chunkOf(4, seed + i)));
        expect(hex(merkleRoot(hasher, concat(leaves), count))).toBe(hex(refRoot(leaves)));
      }),
      { numRuns: 40 },
    );
  });

  it('any changed leaf byte changes the root (property)', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 40 })
          .chain((count) =>
            fc.tuple(
              fc.constant(count),
              fc.nat({ max: count * 32 - 1 }),
              fc.integer({ min: 1, max: 255 }),
            ),
          ),
        ([count, at, mask]) => {
          const packed = concat(Array.from({ length: count }, (_, i) => blake3(chunkOf(2, i))));
          const root = merkleRoot(hasher, packed, count);
          packed[at]! ^= mask;
          expect(hex(merkleRoot(hasher, packed, count))).not.toBe(hex(root));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('rejects a bad count or length', () => {
    expect(() => merkleRoot(hasher, new Uint8Array(0), 0)).toThrow(RangeError);
    expect(() => merkleRoot(hasher, new Uint8Array(64), 1)).toThrow(RangeError);
    expect(() => merkleRoot(hasher, new Uint8Array(32), 2)).toThrow(RangeError);
  });
});

describe('chunkCount / chunkLength', () => {
  it('counts chunks; an empty file is one empty chunk', () => {
    expect(chunkCount(0, 1024)).toBe(1);
    expect(chunkLength(0, 1024, 0)).toBe(0);
    expect(chunkCount(1, 1024)).toBe(1);
    expect(chunkCount(1024, 1024)).toBe(1);
    expect(chunkCount(1025, 1024)).toBe(2);
    expect(chunkLength(1025, 1024, 0)).toBe(1024);
    expect(chunkLength(1025, 1024, 1)).toBe(1);
    expect(chunkCount(10 * 2 ** 40, 2 ** 20)).toBe(10 * 2 ** 20);
  });

  it('lengths add up to the size (property)', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 70_000 })
          .chain((cs) => fc.tuple(fc.nat({ max: cs * 300 }), fc.constant(cs))),
        ([size, cs]) => {
          const n = chunkCount(size, cs);
          const lengths = Array.from({ length: n }, (_, i) => chunkLength(size, cs, i));
          expect(lengths.reduce((a, b) => a + b, 0)).toBe(size);
          // Every chunk is full except possibly the last, which is non-empty
          // unless the whole file is empty.
          expect(lengths.slice(0, -1).every((l) => l === cs)).toBe(true);
          expect(lengths[n - 1]!).toBeGreaterThan(size === 0 ? -1 : 0);
          expect(lengths[n - 1]!).toBeLessThanOrEqual(cs);
        },
      ),
    );
  });

  it('rejects bad arguments', () => {
    expect(() => chunkCount(-1, 10)).toThrow(RangeError);
    expect(() => chunkCount(10, 0)).toThrow(RangeError);
    expect(() => chunkLength(10, 5, 2)).toThrow(RangeError);
    expect(() => chunkLength(10, 5, -1)).toThrow(RangeError);
  });
});

describe('LeafSet', () => {
  it('many(): sets sharing one buffer stay independent and round-trip like lone sets', () => {
    const counts = [1, 9, 3, 16];
    const sets = LeafSet.many(counts);
    expect(sets.map((s) => s.count)).toEqual(counts);
    expect(new Set(sets.map((s) => s.bytes.buffer)).size).toBe(1);
    // Fill every slot of the middle sets; the neighbours must see none of it.
    const leafFor = (k: number, i: number) => refLeaf(chunkOf(i, 100 * k + i));
    for (const k of [1, 2]) for (let i = 0; i < counts[k]!; i++) sets[k]!.set(i, leafFor(k, i));
    sets[2]!.clear(1);
    expect(sets[0]!.presentCount).toBe(0);
    expect(sets[0]!.missing()).toEqual([0]);
    expect(sets[3]!.presentCount).toBe(0);
    expect(sets[1]!.complete).toBe(true);
    expect(sets[2]!.presentIndices()).toEqual([0, 2]);
    for (const k of [1, 2]) {
      const lone = new LeafSet(counts[k]!);
      for (const i of sets[k]!.presentIndices()) lone.set(i, leafFor(k, i));
      expect(sets[k]!.toJSON()).toEqual(lone.toJSON());
      expect(LeafSet.fromJSON(sets[k]!.toJSON()).presentIndices()).toEqual(lone.presentIndices());
    }
    expect(() => new LeafSet(2, new Uint8Array(10))).toThrow(RangeError);
  });

  it('tracks presence, missing leaves and the root', () => {
    const set = new LeafSet(10);
    expect(set.presentCount).toBe(0);
    expect(set.missing()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const leaves = Array.from({ length: 10 }, (_, i) => refLeaf(chunkOf(i, i)));
    for (const i of [9, 0, 3]) set.set(i, leaves[i]!);
    set.set(3, leaves[3]!); // replacing does not double count
    expect(set.presentCount).toBe(3);
    expect(set.has(3)).toBe(true);
    expect(set.has(4)).toBe(false);
    expect(set.get(4)).toBeUndefined();
    expect(set.get(9)).toEqual(leaves[9]);
    expect(set.missing()).toEqual([1, 2, 4, 5, 6, 7, 8]);
    expect(set.presentIndices()).toEqual([0, 3, 9]);
    expect(() => set.root(hasher)).toThrow(RangeError);
    set.clear(3);
    set.clear(3);
    expect(set.presentCount).toBe(2);
    expect(set.has(3)).toBe(false);
    leaves.forEach((l, i) => {
      set.set(i, l);
    });
    expect(set.complete).toBe(true);
    expect(set.root(hasher)).toEqual(refRoot(leaves));
  });

  it('copies the leaf it is given', () => {
    const set = new LeafSet(1);
    const leaf = refLeaf(new Uint8Array(0));
    const copy = leaf.slice();
    set.set(0, leaf);
    leaf[0]! ^= 1;
    expect(set.get(0)).toEqual(copy);
  });

  it('round-trips through JSON for any subset (property)', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 70 })
          .chain((count) => fc.tuple(fc.constant(count), fc.subarray([...Array(count).keys()]))),
        ([count, present]) => {
          const set = new LeafSet(count);
          for (const i of present) set.set(i, blake3(chunkOf(1, i)));
          const json = JSON.parse(JSON.stringify(set));
          const back = LeafSet.fromJSON(json);
          expect(back.count).toBe(count);
          expect(back.presentCount).toBe(present.length);
          expect(back.presentIndices()).toEqual(present);
          expect(back.bytes).toEqual(set.bytes);
        },
      ),
    );
  });

  it('fromJSON rejects inconsistent checkpoints', () => {
    const set = new LeafSet(9);
    set.set(8, blake3(new Uint8Array(1)));
    const good = set.toJSON();
    expect(() => LeafSet.fromJSON(null)).toThrow(TypeError);
    expect(() => LeafSet.fromJSON({ ...good, count: 0 })).toThrow(TypeError);
    expect(() => LeafSet.fromJSON({ ...good, count: 17 })).toThrow(TypeError);
    expect(() => LeafSet.fromJSON({ ...good, leaves: '' })).toThrow(TypeError);
    expect(() => LeafSet.fromJSON({ ...good, leaves: `${good.leaves}AAAA` })).toThrow(TypeError);
    expect(() => LeafSet.fromJSON({ ...good, present: 'not base64!' })).toThrow(TypeError);
    // count 9 uses 2 bitmap bytes; bits for indices 9..15 must be zero.
    expect(() =>
      LeafSet.fromJSON({ ...good, present: Buffer.from([0, 3]).toString('base64') }),
    ).toThrow(TypeError);
  });
});
