/**
 * The app's start-up with recorded sessions (no network: discovery off):
 * finished ones come back as history unless they ended more than 30 days
 * ago; an unfinished one comes back held for the user under `autoResume
 * ask`; a code send that never started (its code is not kept) fails with
 * that reason rather than hanging. A record of many files keeps a few names
 * and their count, and the job still reads as that many files.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FerryApp, HISTORY_MS } from '../../src/app/ferry-app.js';
import { FerryConfig } from '../../src/store/config.js';
import { type NewSessionRecord, SessionRegistry } from '../../src/store/session-store.js';
import { detailLines } from '../../src/ui/detail-lines.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const record = (id: string, patch: Partial<NewSessionRecord>): NewSessionRecord => ({
  id: id.repeat(32).slice(0, 32),
  direction: 'send',
  state: 'done',
  priority: 'normal',
  via: 'lan',
  peer: { fingerprint: 'ab'.repeat(32), name: 'bob' },
  paths: ['/tmp/x.bin'],
  files: [{ path: 'x.bin', size: 10 }],
  totalBytes: 10,
  bytesDone: 10,
  attempts: 0,
  ...patch,
});

describe('FerryApp start-up with recorded sessions', () => {
  it('keeps recent history, drops old, holds unfinished ones under ask, fails a code send it cannot resume', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-hist-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const old = Date.now() - HISTORY_MS - 86_400_000;
    const past = SessionRegistry.open(dir, {
      clock: { now: () => old, setTimeout: () => 0, clearTimeout: () => undefined },
    });
    past.put(record('a', {}));
    past.flush();
    const reg = SessionRegistry.open(dir);
    reg.put(record('b', {}));
    reg.put(record('c', { state: 'transferring', bytesDone: 4 }));
    reg.put(record('d', { via: 'code', peer: {}, state: 'connecting' }));
    const many = Array.from({ length: 3000 }, (_, i) => ({ path: `tree/f${i}`, size: 10 }));
    reg.put(record('e', { paths: ['/tmp/tree'], files: many, totalBytes: 30_000 }));
    reg.flush();
    FerryConfig.open(dir).updateSettings({ autoResume: 'ask' });

    const app = await FerryApp.start({ configDir: dir, mdns: false, env: { FERRY_RELAY: '' } });
    cleanups.push(() => app.close());
    const jobs = () => new Map(app.snapshot().jobs.map((j) => [j.id[0], j]));
    expect(jobs().has('a')).toBe(false);
    expect(SessionRegistry.open(dir).get('a'.repeat(32))).toBeUndefined();
    expect(jobs().get('b')).toMatchObject({ state: 'done', restored: true, label: 'x.bin' });
    expect(jobs().get('c')).toMatchObject({ state: 'paused', restored: true, bytesDone: 4 });
    // The record keeps 20 names of 3000 and their count: the view says 3000.
    const e = jobs().get('e')!;
    expect(e).toMatchObject({ label: '3000 files', fileCount: 3000, total: 30_000 });
    expect(e.files.length).toBeLessThan(3000);
    const lines = detailLines(e, 80, 30, Date.now()).map((l) => l.segs.map((g) => g.text).join(''));
    expect(lines.some((l) => /…and 2998 more files/.test(l))).toBe(true);
    // A finished job known from its record: its files read as verified, no "0/0 leaves".
    expect(e.files[0]!.root).toBe('verified');
    expect(lines.some((l) => /tree\/f0 .*root verified/.test(l))).toBe(true);
    expect(lines.some((l) => /0\/0 leaves/.test(l))).toBe(false);
    expect(jobs().get('c')!.files[0]!.root).toBe('streaming'); // unfinished
    expect(app.snapshot().notices.some((n) => /Sessions/.test(n.text))).toBe(true);
    // The code send cannot meet anyone again: resumed, it fails and says why.
    app.resume('d'.repeat(32));
    const end = Date.now() + 10_000;
    while (jobs().get('d')?.state !== 'failed' && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(jobs().get('d')?.error?.message).toMatch(/code is not kept/);
    // Discarding history removes it from the queue and from sessions.json.
    app.discard('b'.repeat(32));
    expect(jobs().has('b')).toBe(false);
    expect(SessionRegistry.open(dir).get('b'.repeat(32))).toBeUndefined();
  });
});
