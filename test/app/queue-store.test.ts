import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { persistQueue, restoreQueue } from '../../src/app/queue-store.js';
import type {
  Job,
  JobRun,
  JobRunner,
  QueueClock,
  RunOutcome,
} from '../../src/engine/queue/scheduler.js';
import { Scheduler } from '../../src/engine/queue/scheduler.js';
import { type SessionRecord, SessionRegistry } from '../../src/store/session-store.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** Timers never fire unless a test says so; persistence is what is under test. */
const clock: QueueClock = { now: () => 0, setTimeout: () => 0, clearTimeout: () => undefined };

class Runner implements JobRunner {
  readonly ends = new Map<string, (o: RunOutcome) => void>();
  start(job: Job): JobRun {
    return {
      pause: () => undefined,
      resume: () => undefined,
      cancel: () => undefined,
      done: new Promise((r) => this.ends.set(job.id, r)),
    };
  }
}

const tick = () => new Promise((r) => setImmediate(r));
const id = (n: number) => n.toString(16).padStart(32, '0');

function record(n: number, state: SessionRecord['state']) {
  return {
    id: id(n),
    direction: 'send' as const,
    state,
    priority: 'normal' as const,
    via: 'lan' as const,
    peer: { fingerprint: 'ab'.repeat(32) },
    paths: [`/tmp/f${n}`],
    files: [{ path: `f${n}`, size: 10 }],
    totalBytes: 10,
    bytesDone: 0,
    attempts: 1,
  };
}

async function open() {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-queue-store-'));
  dirs.push(dir);
  return dir;
}

describe('persistQueue', () => {
  it('creates a record for a new job and writes every state change; a restart sees them', async () => {
    const dir = await open();
    const registry = SessionRegistry.open(dir);
    const runner = new Runner();
    const q = new Scheduler({ runner, clock });
    persistQueue(q, registry, (job) => ({ ...record(7, job.state), id: job.id }));
    q.add({ id: id(7), direction: 'send' });
    expect(SessionRegistry.open(dir).get(id(7))?.state).toBe('connecting');
    runner.ends.get(id(7))!({
      ok: false,
      error: { code: 'INTEGRITY', message: 'bad', retryable: false },
    });
    await tick();
    expect(SessionRegistry.open(dir).get(id(7))).toMatchObject({
      state: 'failed',
      error: { code: 'INTEGRITY' },
    });
    q.retryNow(id(7));
    runner.ends.get(id(7))!({ ok: true });
    await tick();
    const after = SessionRegistry.open(dir).get(id(7));
    expect(after?.state).toBe('done');
    expect(after?.error).toBeUndefined();
    q.setPriority(id(7), 'high');
    expect(SessionRegistry.open(dir).get(id(7))?.priority).toBe('high');
    q.remove(id(7));
    expect(SessionRegistry.open(dir).get(id(7))).toBeUndefined();
  });
});

describe('restoreQueue', () => {
  async function withRecords() {
    const dir = await open();
    const registry = SessionRegistry.open(dir);
    registry.put(record(1, 'transferring'));
    registry.put(record(2, 'paused'));
    registry.put(record(3, 'done'));
    registry.put(record(4, 'failed'));
    registry.put({ ...record(5, 'retrying'), via: 'code' });
    return registry;
  }
  const lanOnly = (r: SessionRecord) =>
    r.via === 'lan' ? { id: r.id, direction: r.direction, data: { paths: r.paths } } : null;

  it('always: unfinished sessions run again, paused stay paused, history stays history', async () => {
    const registry = await withRecords();
    const q = new Scheduler({ runner: new Runner(), clock });
    expect(restoreQueue(q, registry, 'always', lanOnly)).toBe(4);
    expect([1, 2, 3, 4, 5].map((n) => q.get(id(n))?.state)).toEqual([
      'connecting',
      'paused',
      'done',
      'failed',
      undefined, // a code session this runner cannot run
    ]);
    expect(q.get(id(1))).toMatchObject({ attempts: 1, data: { paths: ['/tmp/f1'] } });
  });

  it('ask and never: unfinished sessions wait, paused, for the user', async () => {
    for (const policy of ['ask', 'never'] as const) {
      const registry = await withRecords();
      const q = new Scheduler({ runner: new Runner(), clock });
      restoreQueue(q, registry, policy, lanOnly);
      expect(q.get(id(1))?.state).toBe('paused');
      expect(q.running).toBe(0);
    }
  });
});
