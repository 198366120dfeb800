/**
 * Receiver checkpoints: debounced (never per chunk), present while a transfer
 * runs, plain JSON, and gone once the transfer completed. A save lists only
 * the files in progress; placed files go to the store's journal once.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemorySessionStore } from '../../../src/engine/transfer/memory-store.js';
import { LeafSet } from '../../../src/engine/transfer/merkle.js';
import type { FileCheckpoint, ReceiveCheckpoint } from '../../../src/engine/transfer/types.js';
import {
  cleanRunBytes,
  cleanup,
  listFiles,
  makeFile,
  outcome,
  settle,
  sha,
  startPair,
  tempDir,
} from './harness.js';

const CHUNK = 64 * 1024;
const CHUNKS = 128; // 8 MiB

/** A MemorySessionStore that also keeps every checkpoint and journal entry exactly as the engine passed it. */
class RecordingStore extends MemorySessionStore {
  readonly saved: ReceiveCheckpoint[] = [];
  readonly journaled: FileCheckpoint[] = [];
  override async save(checkpoint: ReceiveCheckpoint): Promise<void> {
    this.saved.push(checkpoint);
    await super.save(checkpoint);
  }
  override async appendJournal(id: string, entries: readonly FileCheckpoint[]): Promise<void> {
    this.journaled.push(...entries);
    await super.appendJournal(id, entries);
  }
}

const dirs: string[] = [];
afterEach(async () => {
  await cleanup(...dirs.splice(0));
});

const FILES = 300;

/** FILES small files sent as one folder, checkpoints every `checkpointIntervalMs` at most. */
async function smallFiles(checkpointIntervalMs: number) {
  const src = await tempDir();
  const dst = await tempDir();
  dirs.push(src, dst);
  for (let i = 0; i < FILES; i++) await makeFile(src, `tree/f${i}.txt`, 100 + i);
  const store = new RecordingStore();
  const pair = startPair({
    paths: [join(src, 'tree')],
    targetDir: dst,
    store,
    receive: { checkpointIntervalMs },
  });
  await Promise.all([pair.sender.done, pair.receiver.done]);
  await settle(pair);
  return { dst, store };
}

describe('receiver checkpoints', () => {
  it('are debounced, present mid-transfer, plain JSON, and removed after completion', async () => {
    const src = await tempDir();
    const dst = await tempDir();
    dirs.push(src, dst);
    const file = await makeFile(src, 'big.bin', CHUNKS * CHUNK);
    const store = new RecordingStore();
    // A window of 8 chunks over a 100 ms round trip: about 5 MiB/s, so ~1.6 s in all.
    const pair = startPair({
      paths: [file],
      targetDir: dst,
      store,
      send: { chunkSize: CHUNK, memoryBudget: 8 * CHUNK, compression: false, idleTimeoutMs: 5000 },
      receive: { idleTimeoutMs: 5000 },
      faults: { aToB: { latencyMs: 50 }, bToA: { latencyMs: 50 } },
    });

    // While bytes arrive, look at what the store holds.
    const seen: Promise<{ bytes: number; present: number | null }>[] = [];
    pair.receiver.on((e) => {
      const id = pair.receiver.snapshot().transferId;
      if (e.type !== 'progress' || id === null || e.bytes >= e.total) return;
      seen.push(
        store.load(id).then((cp) => ({
          bytes: e.bytes,
          // Not listed before its first chunk: nothing to resume yet.
          present: cp
            ? cp.files[0]
              ? LeafSet.fromJSON(cp.files[0].leaves).presentCount
              : 0
            : null,
        })),
      );
    });

    const started = performance.now();
    const [, summary] = await Promise.all([pair.sender.done, pair.receiver.done]);
    const elapsed = performance.now() - started;
    await settle(pair);
    expect(await sha(join(dst, 'big.bin'))).toBe(await sha(file));
    // A floor set by the latency fault (16 round trips of 100 ms), not a speed claim:
    // the transfer must outlast the 1 s debounce for this test to mean anything.
    expect(elapsed).toBeGreaterThan(1000);

    // Mid-transfer: a checkpoint existed every time we looked, and at least
    // one (after the debounce interval) already claimed written chunks.
    const looks = await Promise.all(seen);
    expect(looks.length).toBeGreaterThan(0);
    expect(looks.every((l) => l.present !== null)).toBe(true);
    expect(looks.some((l) => (l.present ?? 0) > 0)).toBe(true);

    // Debounced: a handful of saves, not one per chunk.
    expect(store.saves).toBeGreaterThan(0);
    expect(store.saves).toBeLessThan(CHUNKS / 4);
    expect(store.saved).toHaveLength(store.saves);

    // Plain JSON: survives a round trip unchanged (no bytes, bigints, undefined or classes).
    for (const cp of store.saved) {
      expect(JSON.parse(JSON.stringify(cp))).toStrictEqual(cp);
      expect(cp).toMatchObject({ kind: 'receive', version: 2, transferId: summary.transferId });
      // Listed only once its first chunk created the part file.
      expect(cp.files.every((f) => f.partPath.startsWith(dst))).toBe(true);
    }
    expect(store.saved.some((cp) => cp.files[0]?.partPath.startsWith(dst))).toBe(true);

    // Gone after completion.
    expect(await store.load(summary.transferId)).toBeUndefined();
    expect(store.ids).toEqual([]);
  });

  it('many small files: a bounded number of saves, not one per file, and none after completion', async () => {
    const { store } = await smallFiles(60_000);
    // One at accept, one for the first placed file, then at most one per
    // half interval (30 s here): a save per file would be 300.
    expect(store.saves).toBeLessThan(10);
    expect(store.ids).toEqual([]); // removed at completion, nothing saved after it
  });

  it('a save lists only files in progress; each placed file goes to the journal once', async () => {
    // Saves as often as the engine allows, so many land mid-transfer.
    const { dst, store } = await smallFiles(2);
    expect(store.saves).toBeGreaterThan(3);
    // Listing every file (placed, or not started) made each save cost the
    // whole offer: a folder of N files cost O(N²) to checkpoint.
    const listed = Math.max(...store.saved.map((cp) => cp.files.length));
    expect(listed).toBeGreaterThan(0);
    expect(listed).toBeLessThan(FILES / 4);
    for (const cp of store.saved) {
      for (const f of cp.files) {
        expect(f.savedAs).toBeUndefined();
        expect(f.partPath.startsWith(dst)).toBe(true);
      }
    }
    const placed = store.journaled.filter((e) => e.savedAs !== undefined);
    const indices = placed.map((e) => e.index);
    expect(indices.length).toBeGreaterThan(0);
    expect(new Set(indices).size).toBe(indices.length);
    expect(placed.every((e) => e.savedAs?.startsWith(dst))).toBe(true);
    // The rest: each part file, journaled before it was created, claiming nothing.
    const parts = store.journaled.filter((e) => e.savedAs === undefined);
    expect(parts.length).toBeGreaterThan(0);
    for (const e of parts) {
      expect(e.partPath.startsWith(dst) && e.partPath.endsWith('.part')).toBe(true);
      expect(LeafSet.fromJSON(e.leaves).presentCount).toBe(0);
    }
    expect(store.ids).toEqual([]);
  });

  it('a journal that cannot be written does not stop the transfer', async () => {
    const src = await tempDir();
    const dst = await tempDir();
    dirs.push(src, dst);
    for (let i = 0; i < 40; i++) await makeFile(src, `tree/f${i}.txt`, 100 + i);
    /** Part files are journaled with sync: false; those writes fail (a full config disk, say). */
    class NoPartJournal extends MemorySessionStore {
      failed = 0;
      override async appendJournal(
        id: string,
        entries: readonly FileCheckpoint[],
        opts?: { readonly sync?: boolean },
      ): Promise<void> {
        if (opts?.sync === false) {
          this.failed++;
          throw new Error('ENOSPC: no space left on device');
        }
        await super.appendJournal(id, entries, opts);
      }
    }
    const store = new NoPartJournal();
    const pair = startPair({ paths: [join(src, 'tree')], targetDir: dst, store });
    const [, r] = await Promise.all([pair.sender.done, pair.receiver.done]);
    await settle(pair);
    expect(r.files).toHaveLength(40);
    expect(store.failed).toBeGreaterThan(1); // the batch, then each file on its own
    expect((await listFiles(dst)).filter((f) => f.endsWith('.part'))).toEqual([]);
  });

  it('a crash before the next save leaves no part file nobody knows: the resume takes it up', async () => {
    const src = await tempDir();
    const dst = await tempDir();
    dirs.push(src, dst);
    const file = await makeFile(src, 'big.bin', CHUNKS * CHUNK);
    /** Keeps the accept's save only: a kill -9 before the first periodic save. */
    class SavesOnce extends MemorySessionStore {
      override async save(checkpoint: ReceiveCheckpoint): Promise<void> {
        if (this.saves === 0) await super.save(checkpoint);
        else this.saves++;
      }
    }
    const store = new SavesOnce();
    const send = { chunkSize: CHUNK, compression: false };
    const first = startPair({
      paths: [file],
      targetDir: dst,
      store,
      send,
      faults: { aToB: { cutAtByte: (CHUNKS * CHUNK) / 2 } },
    });
    expect((await outcome(first.receiver.done)).ok).toBe(false);
    await settle(first);
    expect(store.saves).toBeGreaterThan(1); // later saves were lost
    expect(await listFiles(dst)).toEqual(['big.bin.part']);
    const id = first.sender.snapshot().transferId!;

    const again = startPair({
      paths: [file],
      targetDir: dst,
      store,
      send: { ...send, transferId: Buffer.from(id, 'hex') },
    });
    await Promise.all([again.sender.done, again.receiver.done]);
    await settle(again);
    // Not 'big.bin (1).part' beside an orphaned 'big.bin.part'.
    expect(await listFiles(dst)).toEqual(['big.bin']);
    expect(await sha(join(dst, 'big.bin'))).toBe(await sha(file));
  });

  it("resumes from an earlier version's checkpoint (placed files listed in it) without fetching them again", async () => {
    const src = await tempDir();
    const dst = await tempDir();
    dirs.push(src, dst);
    const N = 120;
    for (let i = 0; i < N; i++) await makeFile(src, `tree/f${i}.txt`, 2000 + i);
    const tree = join(src, 'tree');
    const clean = await cleanRunBytes([tree]);
    const cutAt = (fraction: number) => Math.floor(clean * fraction);

    // A first session, cut at about a third.
    const first = new MemorySessionStore();
    const one = startPair({
      paths: [tree],
      targetDir: dst,
      store: first,
      faults: { aToB: { cutAtByte: cutAt(1 / 3) } },
    });
    expect((await outcome(one.receiver.done)).ok).toBe(false);
    await settle(one);
    const id = one.sender.snapshot().transferId!;
    const merged = (await first.load(id))!;
    const placedFirst = merged.files.filter((f) => f.savedAs).length;
    expect(placedFirst).toBeGreaterThan(0);

    // The same state as version 1 wrote it: one checkpoint listing everything, no journal.
    const store = new RecordingStore();
    await store.save({ ...merged, version: 1 });
    const again = (cut: number) =>
      startPair({
        paths: [tree],
        targetDir: dst,
        store,
        send: { transferId: Buffer.from(id, 'hex') },
        faults: { aToB: { cutAtByte: cut } },
      });
    // A second session, cut again: the files placed in the first must stay recorded.
    const two = again(cutAt(1 / 3));
    expect((await outcome(two.receiver.done)).ok).toBe(false);
    await settle(two);
    const after = (await store.load(id))!;
    expect(after.version).toBe(2);
    expect(after.files.filter((f) => f.savedAs).length).toBeGreaterThanOrEqual(placedFirst);

    const three = again(Number.MAX_SAFE_INTEGER);
    const [, r] = await Promise.all([three.sender.done, three.receiver.done]);
    await settle(three);
    expect(r.bytesSkipped).toBeGreaterThan(0);
    // Every file once, under its own name: none fetched again as `name (1)`.
    expect(await listFiles(join(dst, 'tree'))).toEqual(await listFiles(tree));
  });
});
