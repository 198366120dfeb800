/**
 * Receiver checkpoints: debounced (never per chunk), present while a transfer
 * runs, plain JSON, and gone once the transfer completed.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemorySessionStore } from '../../../src/engine/transfer/memory-store.js';
import { LeafSet } from '../../../src/engine/transfer/merkle.js';
import type { ReceiveCheckpoint } from '../../../src/engine/transfer/types.js';
import { cleanup, makeFile, settle, sha, startPair, tempDir } from './harness.js';

const CHUNK = 64 * 1024;
const CHUNKS = 128; // 8 MiB

/** A MemorySessionStore that also keeps every checkpoint object exactly as the engine passed it. */
class RecordingStore extends MemorySessionStore {
  readonly saved: ReceiveCheckpoint[] = [];
  override async save(checkpoint: ReceiveCheckpoint): Promise<void> {
    this.saved.push(checkpoint);
    await super.save(checkpoint);
  }
}

const dirs: string[] = [];
afterEach(async () => {
  await cleanup(...dirs.splice(0));
});

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
          present: cp ? LeafSet.fromJSON(cp.files[0]!.leaves).presentCount : null,
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
      expect(cp).toMatchObject({ kind: 'receive', version: 1, transferId: summary.transferId });
      // Empty until the first chunk creates the part file.
      const part = cp.files[0]!.partPath;
      expect(part === '' || part.startsWith(dst)).toBe(true);
    }
    expect(store.saved.some((cp) => cp.files[0]!.partPath.startsWith(dst))).toBe(true);

    // Gone after completion.
    expect(await store.load(summary.transferId)).toBeUndefined();
    expect(store.ids).toEqual([]);
  });

  it('many small files: a bounded number of saves, not one per file, and none after completion', async () => {
    const src = await tempDir();
    const dst = await tempDir();
    dirs.push(src, dst);
    const FILES = 300;
    for (let i = 0; i < FILES; i++) await makeFile(src, `tree/f${i}.txt`, 100 + i);
    const store = new RecordingStore();
    const pair = startPair({
      paths: [join(src, 'tree')],
      targetDir: dst,
      store,
      receive: { checkpointIntervalMs: 60_000 },
    });
    await Promise.all([pair.sender.done, pair.receiver.done]);
    await settle(pair);
    // One at accept, one for the first placed file, then at most one per
    // half interval (30 s here): a save per file would be 300.
    expect(store.saves).toBeLessThan(10);
    expect(store.ids).toEqual([]); // removed at completion, nothing saved after it
  });
});
