import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, readFile, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChunkSlots, isPageAligned } from '../../../src/engine/transfer/chunk-slots.js';
import { DirectWrites } from '../../../src/engine/transfer/direct-write.js';
import { cleanup, makeFile, sha, startPair, tempDir } from './harness.js';

const MiB = 1024 * 1024;

/** Why direct writes cannot be checked here, or null when they can. */
async function unsupported(): Promise<string | null> {
  if (process.platform !== 'linux') return 'direct writes are Linux-only';
  const { type } = await statfs(tmpdir());
  if (type !== 0xef53 && type !== 0x58465342) {
    return `${tmpdir()} is not on ext4 or XFS (statfs type 0x${type.toString(16)})`;
  }
  return null;
}

/** Bytes of `path` in the page cache (util-linux fincore), or null without fincore. */
function cachedBytes(path: string): number | null {
  try {
    const out = execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', path]);
    return Number(out.toString().trim());
  } catch {
    return null;
  }
}

const skip = await unsupported();
if (skip) console.log(`direct-write tests skipped: ${skip}`);
const hasFincore = cachedBytes('/proc/self/exe') !== null;
if (!hasFincore) console.log('page-cache checks skipped: no fincore (util-linux)');

describe('ChunkSlots', () => {
  it('hands out page-aligned slots, each once, and takes back only its own', () => {
    const slots = new ChunkSlots(100_000, 3); // not a page multiple: slots still start on pages
    const taken = [slots.take()!, slots.take()!, slots.take()!];
    expect(slots.take()).toBeNull();
    for (const s of taken) {
      expect(s.length).toBe(100_000);
      expect(isPageAligned(s)).toBe(true);
    }
    expect(new Set(taken.map((s) => s.byteOffset)).size).toBe(3);
    taken[0]!.fill(7);
    expect(taken[1]!.every((b) => b === 0)).toBe(true); // no overlap
    slots.give(Buffer.alloc(100_000)); // not a slot
    slots.give(taken[1]!.subarray(0, 10)); // not the slot itself
    expect(slots.take()).toBeNull();
    slots.give(taken[1]!);
    slots.give(taken[1]!); // a second give is ignored
    expect(slots.take()).toBe(taken[1]);
    expect(slots.take()).toBeNull();
  });

  it('says plain buffers are not page-aligned memory of its own', () => {
    expect(isPageAligned(Buffer.alloc(8192))).toBe(false);
    expect(isPageAligned(new Uint8Array(new SharedArrayBuffer(8192)))).toBe(false);
  });
});

describe.skipIf(skip !== null)('DirectWrites', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await cleanup(dir);
  });

  it('writes chunk slots past the page cache, and leaves anything else to the caller', async () => {
    const direct = await DirectWrites.at(dir, MiB);
    expect(direct).not.toBeNull();
    const slots = new ChunkSlots(MiB, 2);
    const path = join(dir, 'f');
    const fh = await open(path, 'w+');
    const data = randomBytes(4 * MiB + 1000);
    for (let c = 0; c < 4; c++) {
      const slot = slots.take()!;
      slot.set(data.subarray(c * MiB, (c + 1) * MiB));
      expect(await direct!.write(fh, slot, c * MiB)).toBe(MiB);
      slots.give(slot);
    }
    // Not taken: a plain buffer, a short piece, a slot at a misaligned offset.
    expect(await direct!.write(fh, Buffer.from(data.subarray(0, MiB)), 0)).toBe(0);
    const slot = slots.take()!;
    expect(await direct!.write(fh, slot.subarray(0, 1000), 4 * MiB)).toBe(0);
    expect(await direct!.write(fh, slot, 512)).toBe(0);
    const tail = data.subarray(4 * MiB);
    await fh.write(tail, 0, tail.length, 4 * MiB);
    await direct!.close(fh);
    await fh.sync();
    await fh.close();
    expect(direct!.bytes).toBe(4 * MiB);
    // Before reading it back, which fills the cache.
    if (hasFincore) expect(cachedBytes(path)!).toBeLessThan(MiB);
    expect(Buffer.compare(await readFile(path), data)).toBe(0);
  });

  it('writes many slots at once, each chunk in its place', async () => {
    const direct = (await DirectWrites.at(dir, MiB))!;
    const slots = new ChunkSlots(MiB, 12);
    const fh = await open(join(dir, 'g'), 'w+');
    const data = randomBytes(12 * MiB);
    const wrote = await Promise.all(
      Array.from({ length: 12 }, (_, c) => {
        const slot = slots.take()!;
        slot.set(data.subarray(c * MiB, (c + 1) * MiB));
        return direct.write(fh, slot, c * MiB);
      }),
    );
    expect(wrote).toEqual(Array(12).fill(MiB));
    await direct.close(fh);
    await fh.close();
    expect(Buffer.compare(await readFile(join(dir, 'g')), data)).toBe(0);
  });

  it('does not apply to chunk sizes off the page size, or to filesystems without a device', async () => {
    expect(await DirectWrites.at(dir, 100_000)).toBeNull();
    expect(await DirectWrites.at(join(dir, 'missing'), MiB)).toBeNull();
    const shm = await statfs('/dev/shm').catch(() => null);
    if (shm) expect(await DirectWrites.at('/dev/shm', MiB)).toBeNull();
  });
});

describe.skipIf(skip !== null || !hasFincore)('receiver writes', () => {
  let src: string;
  let dst: string;
  beforeEach(async () => {
    src = await tempDir();
    dst = await tempDir();
  });
  afterEach(async () => {
    await cleanup(src, dst);
  });

  async function receive(directWrites: boolean): Promise<number> {
    const file = await makeFile(src, 'big.bin', 4 * MiB + 12_345);
    const pair = startPair({
      paths: [file],
      targetDir: dst,
      send: { chunkSize: 256 * 1024 },
      receive: { directWrites },
    });
    const [s, r] = await Promise.all([pair.sender.done, pair.receiver.done]);
    expect(r.files[0]!.merkleRoot).toBe(s.files[0]!.merkleRoot);
    const out = join(dst, 'big.bin');
    const cached = cachedBytes(out)!; // before reading it back, which fills the cache
    expect(await sha(out)).toBe(await sha(file));
    return cached;
  }

  it('go past the page cache for whole chunks by default', async () => {
    // Only the short last chunk (12 345 bytes, 4 pages) went through the cache.
    expect(await receive(true)).toBeLessThan(64 * 1024);
  });

  it('go through the page cache when direct writes are turned off', async () => {
    expect(await receive(false)).toBeGreaterThan(4 * MiB);
  });
});
