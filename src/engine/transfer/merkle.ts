/**
 * Merkle tree over a file's chunks (DESIGN "Integrity: Merkle tree over chunks").
 *
 *   leaf = BLAKE3(0x00 || chunk plaintext)
 *   node = BLAKE3(0x01 || left || right)
 *
 * An odd node at the end of a level is promoted unchanged to the next level.
 * The domain-separation bytes keep a leaf from ever being confused with an
 * inner node (second-preimage attacks on the tree shape). A 0-byte file is one
 * empty chunk, so every file has at least one leaf. Hashes are 32 bytes.
 */
import { createBLAKE3, type IHasher } from 'hash-wasm';

/** Size of every leaf and node hash in bytes. */
export const HASH_BYTES = 32;

const LEAF_PREFIX = new Uint8Array([0x00]);
const NODE_PREFIX = 0x01;

/**
 * Computes leaves and inner nodes with one reused BLAKE3 instance (`init()`
 * per hash). Every call is synchronous, so one hasher can serve all code on
 * its thread.
 */
export class ChunkHasher {
  readonly #blake3: IHasher;
  /** Scratch for `0x01 || left || right`, hashed in one update. */
  readonly #nodeInput = new Uint8Array(1 + 2 * HASH_BYTES);

  private constructor(blake3: IHasher) {
    this.#blake3 = blake3;
    this.#nodeInput[0] = NODE_PREFIX;
  }

  /** Load the WASM BLAKE3 implementation and return a hasher. */
  static async create(): Promise<ChunkHasher> {
    return new ChunkHasher(await createBLAKE3(HASH_BYTES * 8));
  }

  /** Leaf hash of one chunk's plaintext; a fresh 32-byte buffer. */
  leaf(chunk: Uint8Array): Uint8Array {
    return this.#blake3.init().update(LEAF_PREFIX).update(chunk).digest('binary');
  }

  /** Write the leaf hash of `chunk` into `out` at `offset` (e.g. into a LeafSet's buffer). */
  leafInto(chunk: Uint8Array, out: Uint8Array, offset = 0): void {
    checkRoom(out, offset, 'out');
    out.set(this.leaf(chunk), offset);
  }

  /** Inner node hash of two 32-byte children; a fresh 32-byte buffer. */
  node(left: Uint8Array, right: Uint8Array): Uint8Array {
    checkHash(left, 'left');
    checkHash(right, 'right');
    this.#nodeInput.set(left, 1);
    this.#nodeInput.set(right, 1 + HASH_BYTES);
    return this.#blake3.init().update(this.#nodeInput).digest('binary');
  }
}

function checkHash(h: Uint8Array, name: string): void {
  if (!(h instanceof Uint8Array) || h.length !== HASH_BYTES) {
    throw new TypeError(`${name} must be a ${HASH_BYTES}-byte Uint8Array`);
  }
}

function checkRoom(out: Uint8Array, offset: number, name: string): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + HASH_BYTES > out.length) {
    throw new RangeError(`${name} has no room for ${HASH_BYTES} bytes at offset ${offset}`);
  }
}

/**
 * Root of the tree over `count` leaves given concatenated in `leaves`
 * (`count * 32` bytes). `leaves` is not modified. With one leaf, the root is
 * that leaf.
 */
export function merkleRoot(hasher: ChunkHasher, leaves: Uint8Array, count: number): Uint8Array {
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new RangeError(`count must be an integer >= 1, got ${count}`);
  }
  if (leaves.length !== count * HASH_BYTES) {
    throw new RangeError(`leaves must be ${count * HASH_BYTES} bytes, got ${leaves.length}`);
  }
  // Reduce level by level in one scratch copy: node i of the next level is
  // written over slot i after slots 2i and 2i+1 (both >= i) were read.
  const level = leaves.slice();
  let n = count;
  while (n > 1) {
    const pairs = n >> 1;
    for (let i = 0; i < pairs; i++) {
      const left = level.subarray(2 * i * HASH_BYTES, (2 * i + 1) * HASH_BYTES);
      const right = level.subarray((2 * i + 1) * HASH_BYTES, (2 * i + 2) * HASH_BYTES);
      level.set(hasher.node(left, right), i * HASH_BYTES);
    }
    if (n % 2 === 1) {
      // Odd node promoted unchanged.
      level.copyWithin(pairs * HASH_BYTES, (n - 1) * HASH_BYTES, n * HASH_BYTES);
    }
    n = pairs + (n % 2);
  }
  return level.slice(0, HASH_BYTES);
}

function checkSizes(size: number, chunkSize: number): void {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new RangeError(`size must be a non-negative integer, got ${size}`);
  }
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) {
    throw new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`);
  }
}

/** Number of chunks of a file: `max(1, ceil(size / chunkSize))` (an empty file is one empty chunk). */
export function chunkCount(size: number, chunkSize: number): number {
  checkSizes(size, chunkSize);
  return Math.max(1, Math.ceil(size / chunkSize));
}

/** Length in bytes of chunk `index` of a file of `size` bytes. */
export function chunkLength(size: number, chunkSize: number, index: number): number {
  const count = chunkCount(size, chunkSize);
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new RangeError(`index must be an integer in 0..${count - 1}, got ${index}`);
  }
  return Math.min(chunkSize, size - index * chunkSize);
}

/** Plain-object form of a {@link LeafSet} for checkpoints (JSON-safe). */
export interface LeafSetJSON {
  /** Number of leaves of the file. */
  readonly count: number;
  /** Base64 bitmap, bit `i % 8` of byte `i >> 3` set when leaf `i` is present. */
  readonly present: string;
  /** Base64 of the present leaves only, concatenated in index order. */
  readonly leaves: string;
}

/**
 * The leaves a receiver holds for one file: a fixed number of 32-byte slots
 * and a bitmap of which are filled. Backs the checkpoint and the have-set.
 */
/**
 * Zeroed byte arrays of the given sizes, views into one buffer: per-file
 * state of a folder of many small files then costs one allocation per
 * transfer, not one (and its ~150 bytes of bookkeeping) per file.
 */
export function carve(sizes: readonly number[]): Uint8Array[] {
  const all = new Uint8Array(sizes.reduce((a, b) => a + b, 0));
  let at = 0;
  return sizes.map((size) => {
    const view = all.subarray(at, at + size);
    at += size;
    return view;
  });
}

export class LeafSet {
  /** Number of leaves (chunks) of the file. */
  readonly count: number;
  /**
   * The buffer holding this set (shared with others by {@link LeafSet.many})
   * and where in it the slots and then the bitmap start. Offsets, not views:
   * each typed-array view costs ~100 bytes of heap, and a folder of many
   * small files holds two sets per file (sender and receiver).
   */
  readonly #buf: Uint8Array;
  readonly #slots: number;
  readonly #bitmap: number;
  #present = 0;

  /**
   * An empty set of `count` slots, in `storage` from `offset` if given (zeroed,
   * at least {@link LeafSet.storageBytes} long from there; see
   * {@link LeafSet.many}).
   */
  constructor(count: number, storage?: Uint8Array, offset = 0) {
    if (!Number.isSafeInteger(count) || count < 1) {
      throw new RangeError(`count must be an integer >= 1, got ${count}`);
    }
    this.count = count;
    const size = LeafSet.storageBytes(count);
    if (
      storage &&
      !(Number.isSafeInteger(offset) && offset >= 0 && offset + size <= storage.length)
    ) {
      throw new RangeError(`storage must hold ${size} bytes from ${offset}, got ${storage.length}`);
    }
    this.#buf = storage ?? new Uint8Array(size);
    this.#slots = storage ? offset : 0;
    this.#bitmap = this.#slots + count * HASH_BYTES;
  }

  /** All slots concatenated (`count * 32` bytes; absent slots are zero), as a new view. */
  get bytes(): Uint8Array {
    return this.#buf.subarray(this.#slots, this.#bitmap);
  }

  /** Bytes a set of `count` leaves occupies (the leaves, then the bitmap). */
  static storageBytes(count: number): number {
    return count * HASH_BYTES + Math.ceil(count / 8);
  }

  /**
   * Empty sets of the given sizes, all in one buffer: the sets of a folder of
   * many small files then cost no allocation (and its ~150 bytes of
   * bookkeeping) each.
   */
  static many(counts: readonly number[]): LeafSet[] {
    const all = new Uint8Array(counts.reduce((n, c) => n + LeafSet.storageBytes(c), 0));
    let at = 0;
    return counts.map((c) => {
      const set = new LeafSet(c, all, at);
      at += LeafSet.storageBytes(c);
      return set;
    });
  }

  /** How many leaves are present. */
  get presentCount(): number {
    return this.#present;
  }

  /** Whether every leaf is present. */
  get complete(): boolean {
    return this.#present === this.count;
  }

  #check(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) {
      throw new RangeError(`leaf index must be an integer in 0..${this.count - 1}, got ${i}`);
    }
  }

  /** Whether leaf `i` is present. */
  has(i: number): boolean {
    this.#check(i);
    return (this.#buf[this.#bitmap + (i >> 3)]! & (1 << (i & 7))) !== 0;
  }

  /** Store (a copy of) leaf `i`, replacing any previous value. */
  set(i: number, leaf: Uint8Array): void {
    this.#check(i);
    checkHash(leaf, 'leaf');
    this.#buf.set(leaf, this.#slots + i * HASH_BYTES);
    if (!this.has(i)) {
      this.#buf[this.#bitmap + (i >> 3)]! |= 1 << (i & 7);
      this.#present++;
    }
  }

  /** Leaf `i` as a view into the set's buffer (do not mutate), or undefined if absent. */
  get(i: number): Uint8Array | undefined {
    if (!this.has(i)) return undefined;
    const at = this.#slots + i * HASH_BYTES;
    return this.#buf.subarray(at, at + HASH_BYTES);
  }

  /** Forget leaf `i` (e.g. its chunk failed re-verification on resume). */
  clear(i: number): void {
    if (!this.has(i)) return;
    this.#buf[this.#bitmap + (i >> 3)]! &= ~(1 << (i & 7));
    const at = this.#slots + i * HASH_BYTES;
    this.#buf.fill(0, at, at + HASH_BYTES);
    this.#present--;
  }

  /** Indices of absent leaves, ascending. */
  missing(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.count; i++) if (!this.has(i)) out.push(i);
    return out;
  }

  /** Indices of present leaves, ascending. */
  presentIndices(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.count; i++) if (this.has(i)) out.push(i);
    return out;
  }

  /** Root over all leaves; throws RangeError unless the set is complete. */
  root(hasher: ChunkHasher): Uint8Array {
    if (!this.complete) {
      throw new RangeError(`cannot compute the root: ${this.count - this.#present} leaves missing`);
    }
    return merkleRoot(hasher, this.bytes, this.count);
  }

  /** The bitmap (bit `i % 8` of byte `i >> 3` set when leaf `i` is present), as a new view. */
  #bits(): Uint8Array {
    return this.#buf.subarray(this.#bitmap, this.#bitmap + Math.ceil(this.count / 8));
  }

  /** Plain object for a checkpoint. */
  toJSON(): LeafSetJSON {
    const leaves = new Uint8Array(this.#present * HASH_BYTES);
    let at = 0;
    for (let i = 0; i < this.count; i++) {
      const leaf = this.get(i);
      if (!leaf) continue;
      leaves.set(leaf, at);
      at += HASH_BYTES;
    }
    return { count: this.count, present: toBase64(this.#bits()), leaves: toBase64(leaves) };
  }

  /** Rebuild from {@link toJSON}'s output; throws TypeError on any inconsistency. */
  static fromJSON(json: unknown): LeafSet {
    const o = json as Partial<Record<keyof LeafSetJSON, unknown>> | null;
    if (
      typeof o !== 'object' ||
      o === null ||
      typeof o.count !== 'number' ||
      typeof o.present !== 'string' ||
      typeof o.leaves !== 'string'
    ) {
      throw new TypeError('json must be { count: number, present: string, leaves: string }');
    }
    if (!Number.isSafeInteger(o.count) || o.count < 1) {
      throw new TypeError(`json.count must be an integer >= 1, got ${o.count}`);
    }
    const set = new LeafSet(o.count);
    const bitmap = fromBase64(o.present, 'json.present');
    const leaves = fromBase64(o.leaves, 'json.leaves');
    const bits = set.#bits();
    if (bitmap.length !== bits.length) {
      throw new TypeError(`json.present must hold ${bits.length} bytes, got ${bitmap.length}`);
    }
    const spare = bits.length * 8 - set.count;
    if (spare > 0 && bitmap[bitmap.length - 1]! >> (8 - spare) !== 0) {
      throw new TypeError('json.present has bits set beyond count');
    }
    bits.set(bitmap);
    let at = 0;
    for (let i = 0; i < set.count; i++) {
      if (!set.has(i)) continue;
      if (at + HASH_BYTES > leaves.length) {
        throw new TypeError('json.leaves is shorter than the present bitmap says');
      }
      set.#buf.set(leaves.subarray(at, at + HASH_BYTES), set.#slots + i * HASH_BYTES);
      at += HASH_BYTES;
      set.#present++;
    }
    if (at !== leaves.length) {
      throw new TypeError('json.leaves is longer than the present bitmap says');
    }
    return set;
  }
}

function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64');
}

function fromBase64(s: string, name: string): Uint8Array {
  // Buffer.from(…, 'base64') silently skips junk; insist on canonical base64.
  const bytes = Buffer.from(s, 'base64');
  if (bytes.toString('base64') !== s) throw new TypeError(`${name} is not canonical base64`);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}
