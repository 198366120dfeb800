import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  FILES_KEPT,
  fileCountOf,
  type NewSessionRecord,
  SessionRegistry,
  type SessionStoreOptions,
} from '../../src/store/session-store.js';

const dirs: string[] = [];
async function dir() {
  const d = await mkdtemp(join(tmpdir(), 'ferry-sessions-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** Virtual time: timers fire only when the test advances the clock. */
function fakeClock(start = '2025-06-01T12:00:00.000Z') {
  let now = Date.parse(start);
  let nextHandle = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => now,
    setTimeout(fn: () => void, ms: number) {
      timers.set(++nextHandle, { at: now + ms, fn });
      return nextHandle;
    },
    clearTimeout(handle: unknown) {
      timers.delete(handle as number);
    },
    advance(ms: number) {
      const end = now + ms;
      for (;;) {
        const due = [...timers].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].fn();
      }
      now = end;
    },
    get timers() {
      return timers.size;
    },
  };
}

function open(d: string, opts: SessionStoreOptions = {}) {
  const warnings: string[] = [];
  const registry = SessionRegistry.open(d, {
    clock: fakeClock(),
    ...opts,
    onWarning: (m) => warnings.push(m),
  });
  return { registry, warnings };
}

function job(n: number, extra: Partial<NewSessionRecord> = {}): NewSessionRecord {
  return {
    id: n.toString(16).padStart(32, '0'),
    direction: 'send',
    state: 'queued',
    priority: 'normal',
    via: 'lan',
    peer: { fingerprint: 'ab'.repeat(32), name: 'laptop' },
    paths: [`/home/u/file-${n}.bin`],
    files: [{ path: `file-${n}.bin`, size: 5000, mtime: 1_700_000_000_000 }],
    totalBytes: 5000,
    bytesDone: 0,
    attempts: 0,
    ...extra,
  };
}

async function onDisk(registry: SessionRegistry) {
  return JSON.parse(await readFile(registry.path, 'utf8'));
}

describe('SessionRegistry', () => {
  it('puts, gets, lists newest first and removes, across re-open', async () => {
    const d = await dir();
    const clock = fakeClock();
    const { registry, warnings } = open(d, { clock });
    expect(registry.path).toBe(join(d, 'sessions.json'));
    const first = registry.put(job(1));
    expect(first).toStrictEqual({
      ...job(1),
      createdAt: '2025-06-01T12:00:00.000Z',
      updatedAt: '2025-06-01T12:00:00.000Z',
    });
    clock.advance(5000);
    const second = registry.put(
      job(2, { direction: 'receive', via: 'code', paths: ['/home/u/in'], targetDir: '/home/u/in' }),
    );
    expect(registry.list()).toStrictEqual([second, first]);

    const again = open(d).registry;
    expect(again.list()).toStrictEqual([second, first]);
    expect(again.get(first.id)).toStrictEqual(first);
    expect(again.get('constructor')).toBeUndefined();

    clock.advance(1000);
    const replaced = registry.put(job(1, { priority: 'high' }));
    expect(replaced.createdAt).toBe(first.createdAt);
    expect(replaced.updatedAt).toBe('2025-06-01T12:00:06.000Z');

    expect(registry.remove(second.id)).toBe(true);
    expect(registry.remove(second.id)).toBe(false);
    expect(open(d).registry.list()).toStrictEqual([replaced]);
    expect(warnings).toEqual([]);
  });

  it('writes an update at once and rejects bad input without writing', async () => {
    const d = await dir();
    const { registry } = open(d);
    const { id } = registry.put(job(1));
    const writes = registry.writes;
    const failed = registry.update(id, {
      state: 'failed',
      attempts: 1,
      error: { code: 'CONNECTION', message: 'reset', retryable: true },
    });
    expect(registry.writes).toBe(writes + 1);
    expect(open(d).registry.get(id)).toStrictEqual(failed);

    const retried = registry.update(id, { state: 'retrying', error: undefined });
    expect(retried).not.toHaveProperty('error');
    expect((await onDisk(registry)).sessions[id]).toStrictEqual(retried);

    const before = registry.writes;
    expect(() => registry.update('f'.repeat(32), { state: 'paused' })).toThrow(
      new RangeError('id: no such session'),
    );
    expect(() => registry.update(id, { bytesDone: -1 })).toThrow(/^patch\.bytesDone: /);
    expect(() => registry.put(job(2, { paths: ['relative/path'] }))).toThrow(
      /^record\.paths\.0: must be an absolute path$/,
    );
    expect(() => registry.put({ ...job(3), id: 'nope' })).toThrow(/^record\.id: /);
    expect(registry.writes).toBe(before);
  });

  it('drops the resume secret once a session is done or cancelled', async () => {
    const d = await dir();
    const { registry } = open(d);
    const { id } = registry.put(job(1, { via: 'code', resumeSecret: 'cd'.repeat(32) }));
    expect(registry.update(id, { state: 'paused' }).resumeSecret).toBe('cd'.repeat(32));
    expect(registry.update(id, { state: 'done' })).not.toHaveProperty('resumeSecret');
    expect(await readFile(registry.path, 'utf8')).not.toContain('cd'.repeat(32));
  });

  it('writes a burst of progress once per debounce window', async () => {
    const d = await dir();
    const clock = fakeClock();
    const { registry } = open(d, { clock });
    const { id } = registry.put(job(1, { totalBytes: 1_000_000 }));
    const writes = registry.writes;
    for (let i = 1; i <= 1000; i++) registry.progress(id, i * 1000);
    expect(registry.get(id)?.bytesDone).toBe(1_000_000);
    expect(registry.writes).toBe(writes);
    expect((await onDisk(registry)).sessions[id].bytesDone).toBe(0);

    clock.advance(999);
    expect(registry.writes).toBe(writes);
    clock.advance(1);
    expect(registry.writes).toBe(writes + 1);
    expect((await onDisk(registry)).sessions[id].bytesDone).toBe(1_000_000);
    expect(clock.timers).toBe(0);

    clock.advance(10_000);
    expect(registry.writes).toBe(writes + 1);
    registry.progress('e'.repeat(32), 10);
    expect(clock.timers).toBe(0);
    expect(() => registry.progress(id, 1.5)).toThrow(RangeError);
  });

  it('flush writes pending progress, and only when there is some', async () => {
    const d = await dir();
    const clock = fakeClock();
    const { registry } = open(d, { clock });
    const { id } = registry.put(job(1));
    const writes = registry.writes;
    registry.flush();
    expect(registry.writes).toBe(writes);
    registry.progress(id, 2500);
    registry.flush();
    expect(registry.writes).toBe(writes + 1);
    expect(open(d).registry.get(id)?.bytesDone).toBe(2500);
    registry.flush();
    clock.advance(5000);
    expect(registry.writes).toBe(writes + 1);
  });

  it('writes pending progress together with a state change', async () => {
    const d = await dir();
    const clock = fakeClock();
    const { registry } = open(d, { clock });
    const { id } = registry.put(job(1));
    const writes = registry.writes;
    registry.progress(id, 1200);
    clock.advance(300);
    registry.progress(id, 3400);
    const paused = registry.update(id, { state: 'paused' });
    expect(paused).toMatchObject({ state: 'paused', bytesDone: 3400 });
    expect(registry.writes).toBe(writes + 1);
    expect((await onDisk(registry)).sessions[id]).toStrictEqual(paused);
    clock.advance(5000);
    expect(registry.writes).toBe(writes + 1);
  });

  it('keeps the records of another registry on the same dir', async () => {
    const d = await dir();
    const clock = fakeClock();
    const a = open(d, { clock }).registry;
    const b = open(d, { clock }).registry;
    const one = a.put(job(1));
    clock.advance(10);
    const two = b.put(job(2));
    a.progress(one.id, 4000);
    a.flush();
    b.update(two.id, { state: 'transferring' });
    expect(b.get(one.id)?.bytesDone).toBe(4000);
    // b never loaded job 1 before, yet can change it: it is on disk.
    b.update(one.id, { priority: 'low' });

    const c = open(d).registry;
    expect(c.list().map((r) => [r.id, r.state, r.bytesDone, r.priority])).toEqual([
      [two.id, 'transferring', 0, 'normal'],
      [one.id, 'queued', 4000, 'low'],
    ]);
    expect(a.remove(two.id)).toBe(true);
    expect(
      open(d)
        .registry.list()
        .map((r) => r.id),
    ).toEqual([one.id]);
  });
});

describe('SessionRegistry with a bad file', () => {
  const clock = () => fakeClock('2025-01-02T03:04:05.678Z');
  const moved = 'sessions.json.corrupt-2025-01-02T03-04-05-678Z';

  async function expectMovedAside(bytes: string, problem: RegExp) {
    const d = await dir();
    await writeFile(join(d, 'sessions.json'), bytes, { mode: 0o600 });
    const { registry, warnings } = open(d, { clock: clock() });
    expect(registry.list()).toEqual([]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(problem);
    expect(warnings[0]).toContain(join(d, 'sessions.json'));
    expect(warnings[0]).toContain(join(d, moved));
    expect(await readFile(join(d, moved), 'utf8')).toBe(bytes);
    expect(await onDisk(registry)).toEqual({ version: 1, sessions: {} });
  }

  it('moves corrupt JSON aside and keeps its bytes', async () => {
    await expectMovedAside('{"version":1,"sessions":{', /is not valid JSON/);
  });

  it('moves a schema-invalid file aside', async () => {
    await expectMovedAside(
      JSON.stringify({ version: 1, sessions: [] }),
      /does not match the sessions schema \(sessions: /,
    );
  });

  it('moves a file from a newer ferry aside instead of overwriting it', async () => {
    const bytes = JSON.stringify({ version: 2, sessions: {}, future: true });
    await expectMovedAside(bytes, /newer ferry \(sessions version 2, this one knows up to 1\)/);
  });

  it('drops a single bad record and keeps the others', async () => {
    const d = await dir();
    const { registry } = open(d);
    const good = registry.put(job(1));
    const bad = registry.put(job(2));
    const other = registry.put(job(3));
    const doc = await onDisk(registry);
    doc.sessions[bad.id].state = 'exploded';
    doc.sessions[other.id].id = good.id;
    await writeFile(registry.path, JSON.stringify(doc));

    const { registry: again, warnings } = open(d);
    expect(again.list()).toStrictEqual([good]);
    expect(warnings).toEqual([
      `${registry.path}: dropped session "${bad.id}" (state: Invalid enum value. Expected ` +
        `'queued' | 'waiting-for-peer' | 'connecting' | 'awaiting-accept' | 'transferring' | ` +
        `'paused' | 'verifying' | 'retrying' | 'done' | 'failed' | 'cancelled', received 'exploded')`,
      `${registry.path}: dropped session "${other.id}" (id: does not match its key)`,
    ]);
  });

  it('keeps the first 20 names of a long file list and its count, on disk too', async () => {
    const d = await dir();
    const { registry } = open(d);
    const many = Array.from({ length: 5000 }, (_, i) => ({ path: `tree/f${i}`, size: 10 }));
    const put = registry.put(job(1, { files: many, totalBytes: 50_000 }));
    expect(put.files).toStrictEqual(many.slice(0, FILES_KEPT));
    expect(put.fileCount).toBe(5000);
    expect(fileCountOf(put)).toBe(5000);
    expect((await onDisk(registry)).sessions[put.id].files).toHaveLength(FILES_KEPT);
    // An update that does not touch the files keeps the count; a new list brings its own.
    expect(registry.update(put.id, { state: 'transferring' }).fileCount).toBe(5000);
    const short = registry.update(put.id, { files: many.slice(0, 3) });
    expect(short.files).toHaveLength(3);
    expect(short.fileCount).toBeUndefined();
    expect(fileCountOf(short)).toBe(3);
    expect(registry.update(put.id, { files: many.slice(0, 30) }).fileCount).toBe(30);
  });

  it('compacts a long list written by an earlier version when it reads the file', async () => {
    const d = await dir();
    const { registry } = open(d);
    const rec = registry.put(job(1));
    const doc = await onDisk(registry);
    doc.sessions[rec.id].files = Array.from({ length: 100 }, (_, i) => ({
      path: `f${i}`,
      size: 1,
    }));
    await writeFile(registry.path, JSON.stringify(doc));
    const again = open(d).registry.get(rec.id)!;
    expect(again.files).toHaveLength(FILES_KEPT);
    expect(fileCountOf(again)).toBe(100);
  });

  it('creates a 0600 file in a 0700 dir', async () => {
    const d = join(await dir(), 'nested', 'ferry');
    const { registry } = open(d);
    registry.put(job(1));
    expect((await stat(d)).mode & 0o777).toBe(0o700);
    expect((await stat(registry.path)).mode & 0o777).toBe(0o600);
  });
});
