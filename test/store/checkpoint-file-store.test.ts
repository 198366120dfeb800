/**
 * The checkpoint files of receives and their journals of placed files, and
 * giving a receive up (partial files deleted, verified ones kept).
 */
import { existsSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { FileCheckpoint, ReceiveCheckpoint } from '../../src/engine/transfer/types.js';
import { CheckpointFileStore } from '../../src/store/checkpoint-file-store.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('CheckpointFileStore', () => {
  it('discard removes the .part files (journaled ones too) and the checkpoint, and keeps files already verified', async () => {
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
    // Part files created after that save, known from the journal only: one
    // on disk, one a crash stopped before it was created.
    await writeFile(join(out, 'c.bin.part'), 'just begun');
    const part = (index: number, name: string): FileCheckpoint => ({
      index,
      path: name,
      size: 8,
      partPath: join(out, `${name}.part`),
      leaves: { count: 1, present: '', leaves: '' } as never,
    });
    await store.appendJournal(id, [part(2, 'c.bin'), part(3, 'd.bin')], { sync: false });
    expect((await store.load(id))?.files).toHaveLength(4);
    expect(await store.discard(id)).toBe(2);
    expect(await readdir(out)).toEqual(['a.bin']);
    expect(await store.load(id)).toBeUndefined();
    // Nothing recorded: nothing to do, no error.
    expect(await store.discard(id)).toBe(0);
  });

  it('merges the journal of placed files into the checkpoint; a torn line costs only itself', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-cp-'));
    dirs.push(dir);
    const out = join(dir, 'out');
    const cfg = join(dir, 'cfg');
    const store = new CheckpointFileStore(cfg);
    const id = 'ef'.repeat(16);
    const leaves = { count: 1, present: '', leaves: '' } as never;
    const entry = (index: number, extra: Partial<FileCheckpoint> = {}): FileCheckpoint => ({
      index,
      path: `f${index}`,
      size: 8,
      partPath: '',
      leaves,
      ...extra,
    });
    // A journal without a checkpoint is nothing to resume.
    await store.appendJournal(id, [entry(0, { savedAs: join(out, 'f0') })]);
    expect(await store.load(id)).toBeUndefined();

    await store.save({
      kind: 'receive',
      version: 2,
      transferId: id,
      targetDir: out,
      chunkSize: 1024,
      peerFingerprint: 'cd'.repeat(32),
      files: [
        entry(1, { partPath: join(out, '.f1.part') }),
        entry(2, { partPath: join(out, '.f2.part') }),
      ],
      updatedAt: Date.now(),
    });
    await store.appendJournal(id, [entry(1, { savedAs: join(out, 'f1') })]);
    // A crash cut this append short: no newline, half an object.
    await appendFile(join(cfg, 'sessions', `${id}.placed.jsonl`), '{"index":3,"pa');
    await store.appendJournal(id, [entry(3, { savedAs: join(out, 'f3') })]);
    // Placed in an earlier session, then found changed: withdrawn.
    await store.appendJournal(id, [entry(4, { savedAs: join(out, 'f4') })]);
    await store.appendJournal(id, [entry(4)]);
    // Part files journaled as they were created (not fsynced): one the
    // checkpoint never saw (5), one it saw with its leaves (2: it stands).
    await store.appendJournal(
      id,
      [entry(5, { partPath: join(out, 'f5.part') }), entry(2, { partPath: join(out, 'x.part') })],
      { sync: false },
    );

    const cp = (await store.load(id))!;
    expect(cp.files.map((f) => [f.index, f.savedAs ?? f.partPath])).toEqual([
      [0, join(out, 'f0')],
      [1, join(out, 'f1')],
      [2, join(out, '.f2.part')],
      [3, join(out, 'f3')],
      [5, join(out, 'f5.part')],
    ]);
    // remove forgets both, and the temp file of a save a crash cut short.
    await writeFile(join(cfg, 'sessions', `${id}.json.4242.tmp`), '{"kind":"rec');
    await writeFile(join(cfg, 'sessions', `${'aa'.repeat(16)}.json.4242.tmp`), 'not ours');
    await store.remove(id);
    expect(await store.load(id)).toBeUndefined();
    expect(await readdir(join(cfg, 'sessions'))).toEqual([`${'aa'.repeat(16)}.json.4242.tmp`]);
  });

  it.skipIf(!existsSync('/proc/self/fd'))(
    'keeps one journal open while appends come, and closes it at remove',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'ferry-cp-'));
      dirs.push(dir);
      const store = new CheckpointFileStore(join(dir, 'cfg'));
      const id = '12'.repeat(16);
      const journal = join(dir, 'cfg', 'sessions', `${id}.placed.jsonl`);
      const openOnJournal = async () => {
        let n = 0;
        for (const fd of await readdir('/proc/self/fd')) {
          const target = await readlink(join('/proc/self/fd', fd)).catch(() => '');
          // An unlinked file still open reads as '<path> (deleted)'.
          if (target.startsWith(journal)) n++;
        }
        return n;
      };
      const leaves = { count: 1, present: 'AA==', leaves: '' } as never;
      for (let i = 0; i < 5; i++) {
        await store.appendJournal(
          id,
          [{ index: i, path: `f${i}`, size: 1, partPath: `/x/f${i}.part`, leaves }],
          {
            sync: false,
          },
        );
      }
      expect(await openOnJournal()).toBe(1);
      await store.remove(id);
      expect(await openOnJournal()).toBe(0);
      expect(existsSync(journal)).toBe(false);
    },
  );
});
