import { mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCode } from '../../../src/engine/crypto/code-phrase.js';
import { ChunkState, type TransferSnapshot } from '../../../src/engine/transfer/types.js';
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

const dirs: string[] = [];
async function dir(): Promise<string> {
  const d = await tempDir();
  dirs.push(d);
  return d;
}
afterEach(async () => {
  await cleanup(...dirs.splice(0));
});

describe('transfer over the in-memory link', () => {
  it('sends one file: identical bytes, events in order, summary counts', async () => {
    const src = await dir();
    const dst = await dir();
    const file = await makeFile(src, 'data.bin', 1_000_000);
    const pair = startPair({ paths: [file], targetDir: dst });
    const [s, r] = await Promise.all([pair.sender.done, pair.receiver.done]);
    await settle(pair);
    expect(await listFiles(dst)).toEqual(['data.bin']);
    expect(await sha(join(dst, 'data.bin'))).toBe(await sha(file));
    // Private while partial; once verified, the mode any new file gets here.
    const umask = process.umask();
    expect((await stat(join(dst, 'data.bin'))).mode & 0o777).toBe(0o666 & ~umask);
    expect(s.files[0]!.merkleRoot).toBe(r.files[0]!.merkleRoot);
    expect(r.bytesTransferred).toBe(1_000_000);
    expect(r.bytesSkipped).toBe(0);
    const types = pair.receiverEvents.map((e) => e.type);
    expect(types[0]).toBe('handshake');
    expect(types[1]).toBe('started');
    expect(types.indexOf('file-verified')).toBeLessThan(types.indexOf('completed'));
    expect(types.at(-1)).toBe('completed');
    // Peers agree on the SAS and see each other's fingerprint.
    const sh = pair.senderEvents.find((e) => e.type === 'handshake');
    const rh = pair.receiverEvents.find((e) => e.type === 'handshake');
    expect(
      sh?.type === 'handshake' && rh?.type === 'handshake' && sh.peer.sas === rh.peer.sas,
    ).toBe(true);
    const snap = pair.receiver.snapshot();
    expect(snap.state).toBe('completed');
    expect(snap.files[0]!.root).toBe('verified');
    expect([...snap.files[0]!.chunks].every((c) => c === ChunkState.Verified)).toBe(true);
    expect(pair.store.ids).toEqual([]); // a finished transfer leaves no checkpoint
  });

  it('sends folders with nested dirs and an empty file, keeping relative paths', async () => {
    const src = await dir();
    const dst = await dir();
    await makeFile(src, 'album/a.jpg', 70_000);
    await makeFile(src, 'album/2024/deep/b.raw', 200_000);
    await makeFile(src, 'album/empty.txt', 0);
    const single = await makeFile(src, 'notes.txt', Buffer.from('hello\n'));
    const pair = startPair({ paths: [join(src, 'album'), single], targetDir: dst });
    const r = await pair.receiver.done;
    await settle(pair);
    expect(await listFiles(dst)).toEqual([
      'album/2024/deep/b.raw',
      'album/a.jpg',
      'album/empty.txt',
      'notes.txt',
    ]);
    for (const f of await listFiles(dst))
      expect(await sha(join(dst, f))).toBe(await sha(join(src, f)));
    expect(r.files).toHaveLength(4);
  });

  it('recreates empty folders, only the deepest, and shows them in the offer', async () => {
    const src = await dir();
    const dst = await dir();
    await makeFile(src, 'project/src/main.c', 1000);
    await mkdir(join(src, 'project/logs'), { recursive: true });
    await mkdir(join(src, 'project/build/out/tmp'), { recursive: true });
    // A folder holding only a symlink sends nothing, so it counts as empty.
    await mkdir(join(src, 'project/links'));
    await symlink(join(src, 'project/src/main.c'), join(src, 'project/links/main.c'));
    let offered: readonly string[] = [];
    const pair = startPair({
      paths: [join(src, 'project')],
      targetDir: dst,
      receive: {
        decide: (offer) => {
          offered = offer.dirs;
          return { accept: true };
        },
      },
    });
    await pair.receiver.done;
    await settle(pair);
    expect(offered).toEqual(['project/build/out/tmp', 'project/links', 'project/logs']);
    expect(await listFiles(dst)).toEqual(['project/src/main.c']);
    for (const d of offered) expect((await stat(join(dst, d))).isDirectory()).toBe(true);
    expect(await readdir(join(dst, 'project/links'))).toEqual([]);
  });

  it('a partial accept leaves the empty folders out', async () => {
    const src = await dir();
    const dst = await dir();
    await makeFile(src, 'p/a', 100);
    await makeFile(src, 'p/b', 100);
    await mkdir(join(src, 'p/empty'));
    const pair = startPair({
      paths: [join(src, 'p')],
      targetDir: dst,
      receive: { decide: () => ({ accept: true, files: [1] }) },
    });
    await pair.receiver.done;
    await settle(pair);
    expect(await readdir(join(dst, 'p'))).toEqual(['b']);
  });

  it('with the same code phrase on both sides: succeeds and reports the code was used', async () => {
    const src = await dir();
    const dst = await dir();
    const file = await makeFile(src, 'x', 100_000);
    const { password } = parseCode('7-guitar-orbit-velvet');
    const pair = startPair({
      paths: [file],
      targetDir: dst,
      send: { password },
      receive: { password },
    });
    await pair.receiver.done;
    await settle(pair);
    const h = pair.receiverEvents.find((e) => e.type === 'handshake');
    expect(h?.type === 'handshake' && h.peer.usedCode).toBe(true);
  });

  it('with a wrong code: both sides fail with WRONG_CODE and nothing is written', async () => {
    const src = await dir();
    const dst = await dir();
    const file = await makeFile(src, 'x', 100_000);
    const pair = startPair({
      paths: [file],
      targetDir: dst,
      send: { password: parseCode('7-guitar-orbit-velvet').password },
      receive: { password: parseCode('7-guitar-orbit-violin').password },
    });
    const [s, r] = await Promise.all([outcome(pair.sender.done), outcome(pair.receiver.done)]);
    await settle(pair);
    expect(s.ok || r.ok).toBe(false);
    expect(!s.ok && s.error.code).toBe('WRONG_CODE');
    expect(!r.ok && r.error.code).toBe('WRONG_CODE');
    expect(await listFiles(dst)).toEqual([]);
  });

  it('compresses compressible data and not random data', async () => {
    const src = await dir();
    const dst = await dir();
    const text = await makeFile(src, 'log.txt', Buffer.from('ferry moves files. '.repeat(50_000)));
    const rnd = await makeFile(src, 'rnd.bin', 500_000);
    const pair = startPair({ paths: [text, rnd], targetDir: dst });
    const s = await pair.sender.done;
    await pair.receiver.done;
    await settle(pair);
    expect(await sha(join(dst, 'log.txt'))).toBe(await sha(text));
    expect(s.wireBytes).toBeLessThan(s.bytesTransferred - 800_000);
    const off = startPair({ paths: [rnd], targetDir: await dir(), send: { compression: false } });
    const s2 = await off.sender.done;
    await settle(off);
    expect(s2.wireBytes).toBe(500_000);
  });

  it('never overwrites: an existing name gets a (1) suffix', async () => {
    const src = await dir();
    const dst = await dir();
    const file = await makeFile(src, 'report.pdf', 10_000);
    await writeFile(join(dst, 'report.pdf'), 'mine, keep me');
    const pair = startPair({ paths: [file], targetDir: dst });
    const r = await pair.receiver.done;
    await settle(pair);
    expect(await readFile(join(dst, 'report.pdf'), 'utf8')).toBe('mine, keep me');
    expect(r.files[0]!.savedAs).toBe(join(dst, 'report (1).pdf'));
    expect(await sha(join(dst, 'report (1).pdf'))).toBe(await sha(file));
  });

  it('a file already there byte for byte is kept as it is, not doubled as name (1)', async () => {
    const src = await dir();
    const dst = await dir();
    const same = await makeFile(src, 'same.bin', 300_000);
    const other = await makeFile(src, 'other.bin', 300_000);
    await writeFile(join(dst, 'same.bin'), await readFile(same));
    // Same size, one byte different: a different file, so it gets (1).
    const changed = await readFile(other);
    changed[123_456]! ^= 1;
    await writeFile(join(dst, 'other.bin'), changed);
    const pair = startPair({
      paths: [same, other],
      targetDir: dst,
      send: { chunkSize: 64 * 1024 },
    });
    const r = await pair.receiver.done;
    await settle(pair);
    expect(r.files.map((f) => f.savedAs)).toEqual([
      join(dst, 'same.bin'),
      join(dst, 'other (1).bin'),
    ]);
    expect(await sha(join(dst, 'other.bin'))).not.toBe(await sha(other));
    expect(await sha(join(dst, 'other (1).bin'))).toBe(await sha(other));
    expect((await readdir(dst)).filter((n) => n.endsWith('.part'))).toEqual([]);
  });

  it('decline: the sender fails with DECLINED and nothing is written', async () => {
    const src = await dir();
    const dst = await dir();
    const file = await makeFile(src, 'x', 1000);
    const pair = startPair({
      paths: [file],
      targetDir: dst,
      receive: { decide: () => ({ accept: false, reason: 'not today' }) },
    });
    const s = await outcome(pair.sender.done);
    await settle(pair);
    expect(!s.ok && s.error.code).toBe('DECLINED');
    expect(!s.ok && s.error.message).toContain('not today');
    expect(await listFiles(dst)).toEqual([]);
  });

  it('partial accept: only the chosen files travel', async () => {
    const src = await dir();
    const dst = await dir();
    const a = await makeFile(src, 'a', 5000);
    const b = await makeFile(src, 'b', 5000);
    const pair = startPair({
      paths: [a, b],
      targetDir: dst,
      receive: {
        decide: (offer) => {
          expect(offer.files.map((f) => f.path)).toEqual(['a', 'b']);
          return { accept: true, files: [1] };
        },
      },
    });
    const s = await pair.sender.done;
    await settle(pair);
    expect(await listFiles(dst)).toEqual(['b']);
    expect(s.files.map((f) => f.path)).toEqual(['b']);
  });

  it('refuses an offer larger than the free space, before writing anything', async () => {
    const src = await dir();
    const dst = await dir();
    // A sparse 15 TiB file: no disk used here, far more than any test machine has free.
    const huge = join(src, 'huge.img');
    const { open } = await import('node:fs/promises');
    const fh = await open(huge, 'w');
    await fh.truncate(15 * 2 ** 40);
    await fh.close();
    const pair = startPair({ paths: [huge], targetDir: dst, send: { chunkSize: 8 * 1024 * 1024 } });
    const [s, r] = await Promise.all([outcome(pair.sender.done), outcome(pair.receiver.done)]);
    await settle(pair);
    expect(!r.ok && r.error.code).toBe('NO_SPACE');
    expect(!s.ok && s.error.message).toMatch(/NO_SPACE/);
    expect(await listFiles(dst)).toEqual([]);
  });

  it('pause and resume from either side; cancel tells the peer', async () => {
    const src = await dir();
    const dst = await dir();
    const file = await makeFile(src, 'big', 4_000_000);
    const pair = startPair({ paths: [file], targetDir: dst, faults: { aToB: { latencyMs: 2 } } });
    await new Promise<void>((res) => {
      const off = pair.receiver.on((e) => {
        if (e.type === 'progress' && e.bytes > 0) {
          off();
          res();
        }
      });
    });
    pair.receiver.pause();
    await new Promise((r) => setTimeout(r, 100));
    const at = pair.receiver.snapshot().bytesDone;
    await new Promise((r) => setTimeout(r, 150));
    expect(pair.receiver.snapshot().bytesDone).toBe(at);
    expect(pair.sender.currentState).toBe('paused');
    expect(pair.senderEvents).toContainEqual({ type: 'paused', by: 'peer' });
    pair.receiver.resume();
    await pair.receiver.done;
    await settle(pair);
    expect(await sha(join(dst, 'big'))).toBe(await sha(file));

    const dst2 = await dir();
    const p2 = startPair({ paths: [file], targetDir: dst2, faults: { aToB: { latencyMs: 2 } } });
    p2.sender.on((e) => {
      if (e.type === 'progress' && e.bytes > 0) p2.sender.cancel('changed my mind');
    });
    const [s, r] = await Promise.all([outcome(p2.sender.done), outcome(p2.receiver.done)]);
    await settle(p2);
    expect(!s.ok && s.error.code).toBe('CANCELLED');
    expect(!r.ok && r.error.code).toBe('CANCELLED');
    expect(p2.receiverEvents.find((e) => e.type === 'cancelled')).toMatchObject({
      by: 'peer',
      reason: expect.stringContaining('changed my mind'),
    });
    expect(await listFiles(dst2)).not.toContain('big');
  });

  it('a target folder that is not there fails before anyone is asked, on both sides', async () => {
    const src = await dir();
    const file = await makeFile(src, 'f', 1000);
    const missing = join(src, 'not-there');
    let asked = false;
    const pair = startPair({
      paths: [file],
      targetDir: missing,
      receive: {
        decide: () => {
          asked = true;
          return { accept: true };
        },
      },
    });
    const [s, r] = await Promise.allSettled([pair.sender.done, pair.receiver.done]);
    await settle(pair);
    expect(r.status === 'rejected' && r.reason).toMatchObject({
      code: 'IO',
      message: `cannot save the files: ${missing}: no such folder (create it first)`,
    });
    expect(s.status === 'rejected' && s.reason.message).toMatch(/no such folder/);
    expect(asked).toBe(false);
  });

  it('snapshots are versioned, never change once handed out, and share what did not change', async () => {
    const src = await dir();
    const dst = await dir();
    const file = await makeFile(src, 'f', 300_000);
    const pair = startPair({ paths: [file], targetDir: dst });
    let during: { snap: TransferSnapshot; copy: TransferSnapshot } | undefined;
    pair.receiver.on((e) => {
      if (e.type !== 'progress' || during) return;
      const snap = pair.receiver.snapshot();
      during = { snap, copy: structuredClone(snap) };
    });
    const first = pair.receiver.snapshot();
    await pair.receiver.done;
    await settle(pair);
    const last = pair.receiver.snapshot();
    expect(last.version).toBeGreaterThan(first.version);
    expect(pair.receiver.snapshot().version).toBe(last.version);
    expect(during).toBeDefined();
    expect(during!.snap).toEqual(during!.copy);
    expect(during!.snap.files[0]!.chunks).not.toEqual(last.files[0]!.chunks);
    expect(last.files[0]!.chunks.every((c) => c === ChunkState.Verified)).toBe(true);
    expect(pair.receiver.snapshot().files).toBe(last.files); // nothing changed since
  });
});
