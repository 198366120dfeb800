import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, readFile, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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

describe.skipIf(skip !== null)('DirectWrites', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await cleanup(dir);
  });

  it('writes whole aligned chunks past the page cache, and leaves the rest to the caller', async () => {
    const direct = await DirectWrites.at(dir, MiB);
    expect(direct).not.toBeNull();
    const path = join(dir, 'f');
    const fh = await open(path, 'w+');
    const data = randomBytes(4 * MiB + 1000);
    for (let c = 0; c < 4; c++) {
      const chunk = data.subarray(c * MiB, (c + 1) * MiB);
      expect(await direct!.write(fh, chunk, c * MiB)).toBe(MiB);
    }
    // The short last chunk, and a chunk at a misaligned offset, are not taken.
    const tail = data.subarray(4 * MiB);
    expect(await direct!.write(fh, tail, 4 * MiB)).toBe(0);
    expect(await direct!.write(fh, data.subarray(0, MiB), 512)).toBe(0);
    await fh.write(tail, 0, tail.length, 4 * MiB);
    await direct!.close(fh);
    await fh.sync();
    await fh.close();
    expect(direct!.bytes).toBe(4 * MiB);
    // Before reading it back, which fills the cache.
    if (hasFincore) expect(cachedBytes(path)!).toBeLessThan(MiB);
    expect(Buffer.compare(await readFile(path), data)).toBe(0);
  });

  it('queues writes beyond its slots and puts every chunk in its place', async () => {
    const direct = (await DirectWrites.at(dir, MiB))!;
    const fh = await open(join(dir, 'g'), 'w+');
    const data = randomBytes(12 * MiB);
    // Twelve at once, more than the slots it has: later ones wait for a slot.
    const wrote = await Promise.all(
      Array.from({ length: 12 }, (_, c) =>
        direct.write(fh, data.subarray(c * MiB, (c + 1) * MiB), c * MiB),
      ),
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
