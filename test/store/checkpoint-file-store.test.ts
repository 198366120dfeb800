/** The checkpoint files of receives, and giving a receive up (partial files deleted, verified ones kept). */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ReceiveCheckpoint } from '../../src/engine/transfer/types.js';
import { CheckpointFileStore } from '../../src/store/checkpoint-file-store.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('CheckpointFileStore', () => {
  it('discard removes the .part files and the checkpoint, and keeps files already verified', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-cp-'));
    dirs.push(dir);
    const out = join(dir, 'out');
    await mkdir(out);
    await writeFile(join(out, 'a.bin'), 'verified');
    await writeFile(join(out, '.b.bin.part'), 'half');
    const store = new CheckpointFileStore(join(dir, 'cfg'));
    const id = 'ab'.repeat(16);
    const cp: ReceiveCheckpoint = {
      kind: 'receive',
      version: 1,
      transferId: id,
      targetDir: out,
      chunkSize: 1024,
      peerFingerprint: 'cd'.repeat(32),
      files: [
        {
          index: 0,
          path: 'a.bin',
          size: 8,
          partPath: join(out, '.a.bin.part'),
          leaves: { count: 1, present: '', leaves: '' } as never,
          savedAs: join(out, 'a.bin'),
        },
        {
          index: 1,
          path: 'b.bin',
          size: 8,
          partPath: join(out, '.b.bin.part'),
          leaves: { count: 1, present: '', leaves: '' } as never,
        },
      ],
      updatedAt: Date.now(),
    };
    await store.save(cp);
    expect((await store.load(id))?.files).toHaveLength(2);
    expect(await store.discard(id)).toBe(1);
    expect(await readdir(out)).toEqual(['a.bin']);
    expect(await store.load(id)).toBeUndefined();
    // Nothing recorded: nothing to do, no error.
    expect(await store.discard(id)).toBe(0);
  });
});
