import { open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemorySessionStore } from '../../../src/engine/transfer/memory-store.js';
import {
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
const SIZE = 40 * CHUNK + 12_345;
/** Every temp dir this file makes; removed in afterAll even when an assertion threw. */
const made: string[] = [];
async function tmp(): Promise<string> {
  const d = await tempDir();
  made.push(d);
  return d;
}
let src: string;
let file: string;
let wire: { s2r: number; r2s: number };

beforeAll(async () => {
  src = await tmp();
  file = await makeFile(src, 'movie.mkv', SIZE);
  // A clean baseline run measures how many bytes each direction carries.
  const dst = await tmp();
  const pair = startPair({ paths: [file], targetDir: dst, send: { compression: false } });
  await pair.receiver.done;
  await settle(pair);
  wire = { ...pair.wire };
  await cleanup(dst);
});
afterAll(async () => cleanup(src, ...made));

/** Interrupt a transfer by cutting sender→receiver at `cutAt`; returns what is left behind. */
async function interrupted(cutAt: number, dst: string, store: MemorySessionStore) {
  const pair = startPair({
    paths: [file],
    targetDir: dst,
    store,
    send: { compression: false },
    faults: { aToB: { cutAtByte: cutAt } },
  });
  const r = await outcome(pair.receiver.done);
  await settle(pair);
  expect(r.ok).toBe(false);
  return pair.sender.snapshot().transferId!;
}

async function resumeRun(dst: string, store: MemorySessionStore, transferId: string) {
  const pair = startPair({
    paths: [file],
    targetDir: dst,
    store,
    send: { compression: false, transferId: Buffer.from(transferId, 'hex') },
  });
  const [s, r] = await Promise.all([pair.sender.done, pair.receiver.done]);
  await settle(pair);
  return { s, r, pair };
}

describe('resume', () => {
  it('after a cut mid-way, resumes: only missing chunks travel, the file is identical', async () => {
    const dst = await tmp();
    const store = new MemorySessionStore();
    const id = await interrupted(Math.floor(wire.s2r / 2), dst, store);
    expect(store.ids).toEqual([id]);
    expect(await listFiles(dst)).toEqual(['movie.mkv.part']); // nothing unverified in place
    const { s, r, pair } = await resumeRun(dst, store, id);
    expect(await listFiles(dst)).toEqual(['movie.mkv']);
    expect(await sha(join(dst, 'movie.mkv'))).toBe(await sha(file));
    expect(r.bytesSkipped).toBeGreaterThan(SIZE / 4);
    expect(r.bytesTransferred + r.bytesSkipped).toBe(SIZE);
    expect(s.bytesSkipped).toBe(r.bytesSkipped);
    const started = pair.receiverEvents.find((e) => e.type === 'started');
    expect(started).toMatchObject({ resumedBytes: r.bytesSkipped });
    // The sender reports the same: what the receiver claimed (and proved).
    const senderStarted = pair.senderEvents.find((e) => e.type === 'started');
    expect(senderStarted).toMatchObject({ resumedBytes: r.bytesSkipped });
    expect(store.ids).toEqual([]);
    await cleanup(dst);
  });

  it("the receiver reports 'started' before its accept leaves (a session recorded then precedes the sender's start)", async () => {
    const dst = await tmp();
    const pair = startPair({ paths: [file], targetDir: dst });
    // Bytes the receiver had sent when each side reported 'started'.
    let atReceiver = -1;
    let atSender = -1;
    pair.receiver.on((e) => {
      if (e.type === 'started') atReceiver = pair.wire.r2s;
    });
    pair.sender.on((e) => {
      if (e.type === 'started') atSender = pair.wire.r2s;
    });
    await Promise.all([pair.sender.done, pair.receiver.done]);
    await settle(pair);
    expect(atReceiver).toBeGreaterThan(0); // after the handshake
    expect(atSender).toBeGreaterThan(atReceiver); // the accept crossed after it
  });

  it('detects a source changed between sessions and repairs it chunk-wise', async () => {
    const dst = await tmp();
    const store = new MemorySessionStore();
    const changedSrc = await tmp();
    const changed = await makeFile(changedSrc, 'movie.mkv', await readFile(file));
    const cutAt = Math.floor(wire.s2r * 0.7);
    const first = startPair({
      paths: [changed],
      targetDir: dst,
      store,
      send: { compression: false },
      faults: { aToB: { cutAtByte: cutAt } },
    });
    await outcome(first.receiver.done);
    await settle(first);
    const id = first.sender.snapshot().transferId!;
    // Change bytes inside chunk 3, which the receiver already holds.
    const fh = await open(changed, 'r+');
    await fh.write(Buffer.from('CHANGED!'), 0, 8, 3 * CHUNK + 100);
    await fh.close();
    const second = startPair({
      paths: [changed],
      targetDir: dst,
      store,
      send: { compression: false, transferId: Buffer.from(id, 'hex') },
    });
    const r = await second.receiver.done;
    await settle(second);
    expect(await sha(join(dst, 'movie.mkv'))).toBe(await sha(changed));
    expect(await sha(join(dst, 'movie.mkv'))).not.toBe(await sha(file));
    // Chunk 3 travelled again although the receiver had claimed it.
    expect(r.bytesTransferred).toBeGreaterThanOrEqual(CHUNK);
    expect(r.bytesSkipped).toBeGreaterThan(0);
    await cleanup(dst, changedSrc);
  });

  it('re-hashes the part file before claiming: a torn or altered chunk is fetched again', async () => {
    const dst = await tmp();
    const store = new MemorySessionStore();
    const id = await interrupted(Math.floor(wire.s2r * 0.8), dst, store);
    const part = join(dst, 'movie.mkv.part');
    const fh = await open(part, 'r+');
    await fh.write(Buffer.from([0xde, 0xad]), 0, 2, CHUNK + 7); // bit rot in chunk 1
    await fh.close();
    const { r } = await resumeRun(dst, store, id);
    expect(await sha(join(dst, 'movie.mkv'))).toBe(await sha(file));
    expect(r.bytesTransferred).toBeGreaterThanOrEqual(CHUNK);
    await cleanup(dst);
  });

  it('a part file truncated by a crash loses only the chunks past its end', async () => {
    const dst = await tmp();
    const store = new MemorySessionStore();
    const id = await interrupted(Math.floor(wire.s2r * 0.9), dst, store);
    const part = join(dst, 'movie.mkv.part');
    const fh = await open(part, 'r+');
    await fh.truncate(5 * CHUNK + 3);
    await fh.close();
    const { r } = await resumeRun(dst, store, id);
    expect(await sha(join(dst, 'movie.mkv'))).toBe(await sha(file));
    expect(r.bytesSkipped).toBe(5 * CHUNK);
    await cleanup(dst);
  });

  it('a checkpoint whose part file was deleted starts that file afresh', async () => {
    const dst = await tmp();
    const store = new MemorySessionStore();
    const id = await interrupted(Math.floor(wire.s2r / 2), dst, store);
    await writeFile(join(dst, 'movie.mkv.part'), '');
    const { r } = await resumeRun(dst, store, id);
    expect(r.bytesSkipped).toBe(0);
    expect(await sha(join(dst, 'movie.mkv'))).toBe(await sha(file));
    expect((await stat(join(dst, 'movie.mkv'))).size).toBe(SIZE);
    await cleanup(dst);
  });

  it('property: a cut at any byte, then resume, gives the identical file', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: wire.s2r - 1 }),
        fc.boolean(),
        async (cutAt, senderSide) => {
          const dst = await tmp();
          const store = new MemorySessionStore();
          const pair = startPair({
            paths: [file],
            targetDir: dst,
            store,
            send: { compression: false },
            faults: senderSide
              ? { aToB: { cutAtByte: cutAt } }
              : { bToA: { cutAtByte: Math.max(1, Math.floor((cutAt / wire.s2r) * wire.r2s)) } },
          });
          const first = await outcome(pair.receiver.done);
          await settle(pair);
          const id = pair.sender.snapshot().transferId;
          if (first.ok || id === null) {
            // Cut after the receiver finished (or before the offer): nothing to resume.
            if (first.ok) expect(await sha(join(dst, 'movie.mkv'))).toBe(await sha(file));
            await cleanup(dst);
            return;
          }
          const { r } = await resumeRun(dst, store, id);
          expect(await sha(join(dst, 'movie.mkv'))).toBe(await sha(file));
          expect(r.bytesTransferred + r.bytesSkipped).toBe(SIZE);
          if (senderSide && cutAt > wire.s2r * 0.6) expect(r.bytesTransferred).toBeLessThan(SIZE);
          await cleanup(dst);
        },
      ),
      { numRuns: 20 },
    );
  });
});

describe('tampering', () => {
  it('property: any flipped byte sender→receiver fails the transfer; nothing unverified lands', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: wire.s2r - 1 }), async (at) => {
        const dst = await tmp();
        const pair = startPair({
          paths: [file],
          targetDir: dst,
          send: { compression: false, idleTimeoutMs: 400 },
          receive: { idleTimeoutMs: 400 },
          faults: { aToB: { flipByteAt: at } },
        });
        const [s, r] = await Promise.all([outcome(pair.sender.done), outcome(pair.receiver.done)]);
        await settle(pair);
        expect(r.ok).toBe(false);
        expect(s.ok).toBe(false);
        if (!r.ok) {
          expect(r.error.code).toMatch(
            /^(INTEGRITY|PROTOCOL|HANDSHAKE|CONNECTION|REMOTE|TIMEOUT)$/,
          );
          expect(r.error.message.length).toBeGreaterThan(10);
        }
        expect(await listFiles(dst)).not.toContain('movie.mkv');
        await cleanup(dst);
      }),
      { numRuns: 40 },
    );
  });

  it('property: any flipped byte receiver→sender fails the sender; a landed file is always intact', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: wire.r2s - 1 }), async (at) => {
        const dst = await tmp();
        const pair = startPair({
          paths: [file],
          targetDir: dst,
          send: { compression: false, idleTimeoutMs: 400 },
          receive: { idleTimeoutMs: 400 },
          faults: { bToA: { flipByteAt: at } },
        });
        const s = await outcome(pair.sender.done);
        await outcome(pair.receiver.done);
        await settle(pair);
        // Acks coalesce by timing, so this direction's length varies per run:
        // judge only runs in which the flipped byte was actually sent.
        if (pair.wire.r2s > at) expect(s.ok).toBe(false);
        if ((await listFiles(dst)).includes('movie.mkv')) {
          expect(await sha(join(dst, 'movie.mkv'))).toBe(await sha(file));
        }
        await cleanup(dst);
      }),
      { numRuns: 30 },
    );
  });
});
