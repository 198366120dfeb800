import { describe, expect, it } from 'vitest';
import {
  type Job,
  type JobRun,
  type JobRunner,
  type JobState,
  type QueueClock,
  type QueueEvent,
  type RunOutcome,
  type RunPhase,
  Scheduler,
  type SchedulerOptions,
} from '../../../src/engine/queue/scheduler.js';

/** Virtual time: timers fire only when the test advances the clock. */
class FakeClock implements QueueClock {
  t = 0;
  #next = 1;
  #timers = new Map<number, { at: number; fn: () => void }>();
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    const id = this.#next++;
    this.#timers.set(id, { at: this.t + ms, fn });
    return id;
  };
  clearTimeout = (h: unknown) => {
    this.#timers.delete(h as number);
  };
  get pending() {
    return this.#timers.size;
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.#timers.entries()]
        .filter(([, t]) => t.at <= end)
        .sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.#timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
    }
    this.t = end;
  }
}

class FakeRun implements JobRun {
  paused = false;
  cancelled: string | null = null;
  readonly done: Promise<RunOutcome>;
  #end!: (o: RunOutcome) => void;
  constructor(
    readonly job: Job,
    readonly phase: (p: RunPhase) => void,
  ) {
    this.done = new Promise((r) => {
      this.#end = r;
    });
  }
  pause() {
    this.paused = true;
  }
  resume() {
    this.paused = false;
  }
  cancel(reason: string) {
    this.cancelled = reason;
  }
  succeed() {
    this.#end({ ok: true });
  }
  fail(code: string, retryable: boolean, peerUnreachable = false) {
    this.#end({
      ok: false,
      error: { code, message: code.toLowerCase(), retryable },
      peerUnreachable,
    });
  }
}

class FakeRunner implements JobRunner {
  readonly runs: FakeRun[] = [];
  throwNext = false;
  start(job: Job, phase: (p: RunPhase) => void): JobRun {
    if (this.throwNext) throw new Error('runner broke');
    const r = new FakeRun(job, phase);
    this.runs.push(r);
    return r;
  }
  last(id: string): FakeRun {
    const r = this.runs.filter((x) => x.job.id === id).at(-1);
    if (!r) throw new Error(`no run of ${id}`);
    return r;
  }
  count(id: string): number {
    return this.runs.filter((x) => x.job.id === id).length;
  }
}

const tick = () => new Promise((r) => setImmediate(r));

function setup(opts: Partial<SchedulerOptions> = {}) {
  const clock = new FakeClock();
  const runner = new FakeRunner();
  const q = new Scheduler({ clock, runner, random: () => 0.5, ...opts });
  const events: QueueEvent[] = [];
  q.on((e) => events.push(e));
  const state = (id: string) => q.get(id)?.state;
  return { clock, runner, q, events, state };
}

describe('Scheduler: concurrency and order', () => {
  it('runs at most maxConcurrent jobs, sends and receives together, and starts the next when one ends', async () => {
    const { q, runner, state } = setup({ maxConcurrent: 3 });
    for (const [i, d] of (['send', 'receive', 'send', 'receive', 'send'] as const).entries()) {
      q.add({ id: `j${i}`, direction: d });
    }
    expect(q.running).toBe(3);
    expect(['j0', 'j1', 'j2', 'j3', 'j4'].map(state)).toEqual([
      'connecting',
      'connecting',
      'connecting',
      'queued',
      'queued',
    ]);
    runner.last('j1').succeed();
    await tick();
    expect(state('j1')).toBe('done');
    expect(state('j3')).toBe('connecting');
    expect(q.running).toBe(3);
  });

  it('reports phases as states, and ignores phases after the run is over', async () => {
    const { q, runner, state } = setup();
    q.add({ id: 'a', direction: 'send' });
    const run = runner.last('a');
    run.phase('awaiting-accept');
    expect(state('a')).toBe('awaiting-accept');
    run.phase('transferring');
    run.phase('verifying');
    expect(state('a')).toBe('verifying');
    run.succeed();
    await tick();
    run.phase('transferring');
    expect(state('a')).toBe('done');
  });

  it('high before normal before low, FIFO within a level; reprioritising reorders the queue', () => {
    const { q, runner, state } = setup({ maxConcurrent: 1 });
    q.add({ id: 'busy', direction: 'send' });
    q.add({ id: 'low', direction: 'send', priority: 'low' });
    q.add({ id: 'n1', direction: 'send' });
    q.add({ id: 'high', direction: 'receive', priority: 'high' });
    q.add({ id: 'n2', direction: 'send' });
    expect(q.list().map((j) => j.id)).toEqual(['busy', 'high', 'n1', 'n2', 'low']);
    q.setPriority('n2', 'high');
    expect(q.list().map((j) => j.id)).toEqual(['busy', 'high', 'n2', 'n1', 'low']);
    expect(state('busy')).toBe('connecting');
    expect(runner.runs).toHaveLength(1); // a running job is never preempted
  });

  it('a low job is not starved forever: it gains a level per agingMs waited', async () => {
    const { q, runner, clock, state } = setup({ maxConcurrent: 1, agingMs: 60_000 });
    q.add({ id: 'busy', direction: 'send' });
    q.add({ id: 'low', direction: 'send', priority: 'low' });
    // A stream of high-priority jobs, each arriving while the slot is busy.
    for (let i = 0; i < 3; i++) {
      clock.advance(50_000);
      q.add({ id: `h${i}`, direction: 'send', priority: 'high' });
      runner.runs.at(-1)!.succeed();
      await tick();
    }
    // By now 'low' has waited 150 s (0 + 2 levels = high) and is older than the highs.
    expect(state('low')).toBe('connecting');
    expect(state('h2')).toBe('queued');
  });

  it('setMaxConcurrent raises the limit at once and lowers it without stopping anything', () => {
    const { q } = setup({ maxConcurrent: 1 });
    for (let i = 0; i < 4; i++) q.add({ id: `j${i}`, direction: 'send' });
    expect(q.running).toBe(1);
    q.setMaxConcurrent(3);
    expect(q.running).toBe(3);
    q.setMaxConcurrent(1);
    expect(q.running).toBe(3);
    expect(() => q.setMaxConcurrent(0)).toThrow(/maxConcurrent/);
  });
});

describe('Scheduler: failures and retries', () => {
  it('retries a network failure with exponential backoff, capped, and starts a fresh run', async () => {
    const { q, runner, clock, state } = setup({ baseBackoffMs: 1000, maxBackoffMs: 5000 });
    q.add({ id: 'a', direction: 'send' });
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 4; attempt++) {
      runner.last('a').fail('CONNECTION', true);
      await tick();
      const j = q.get('a')!;
      expect(j).toMatchObject({
        state: 'retrying',
        attempts: attempt,
        error: { code: 'CONNECTION' },
      });
      delays.push(j.retryAt! - clock.now());
      clock.advance(j.retryAt! - clock.now() - 1);
      expect(state('a')).toBe('retrying');
      clock.advance(1);
      expect(state('a')).toBe('connecting');
    }
    expect(delays).toEqual([1000, 2000, 4000, 5000]);
    expect(runner.count('a')).toBe(5);
    runner.last('a').succeed();
    await tick();
    expect(q.get('a')).toMatchObject({ state: 'done', attempts: 0, error: null });
  });

  it('jitter spreads delays within ± the configured fraction', () => {
    const lo = setup({ baseBackoffMs: 1000, jitter: 0.2, random: () => 0 }).q;
    const hi = setup({ baseBackoffMs: 1000, jitter: 0.2, random: () => 0.999999 }).q;
    expect(lo.backoff(1)).toBe(800);
    expect(hi.backoff(1)).toBe(1200);
    expect(lo.backoff(3)).toBe(3200);
  });

  it('does not retry integrity or trust failures on its own; retryNow does, with a clean slate', async () => {
    const { q, runner, clock, state } = setup();
    q.add({ id: 'a', direction: 'receive' });
    runner.last('a').fail('INTEGRITY', false);
    await tick();
    expect(q.get('a')).toMatchObject({ state: 'failed', error: { code: 'INTEGRITY' } });
    clock.advance(3_600_000);
    expect(state('a')).toBe('failed');
    expect(runner.count('a')).toBe(1);
    q.retryNow('a');
    expect(q.get('a')).toMatchObject({ state: 'connecting', attempts: 0, error: null });
    expect(runner.count('a')).toBe(2);
  });

  it('retryNow cuts a backoff short', async () => {
    const { q, runner, clock, state } = setup();
    q.add({ id: 'a', direction: 'send' });
    runner.last('a').fail('TIMEOUT', true);
    await tick();
    expect(state('a')).toBe('retrying');
    q.retryNow('a');
    expect(state('a')).toBe('connecting');
    expect(clock.pending).toBe(0); // the backoff timer is gone
  });

  it('parks a job whose peer is unreachable until the peer is seen (or a slow recheck)', async () => {
    const { q, runner, clock, state } = setup({ peerRecheckMs: 60_000 });
    q.add({ id: 'a', direction: 'send', peer: 'fp-bob' });
    q.add({ id: 'b', direction: 'send', peer: 'fp-carol' });
    runner.last('a').fail('CONNECTION', true, true);
    runner.last('b').fail('CONNECTION', true, true);
    await tick();
    expect([state('a'), state('b')]).toEqual(['waiting-for-peer', 'waiting-for-peer']);
    expect(q.running).toBe(0); // waiting holds no slot
    q.peerAvailable('fp-bob');
    expect([state('a'), state('b')]).toEqual(['connecting', 'waiting-for-peer']);
    clock.advance(60_000);
    expect(state('b')).toBe('connecting');
  });

  it('a runner that throws fails the job instead of the queue', () => {
    const { q, runner, state } = setup();
    runner.throwNext = true;
    q.add({ id: 'a', direction: 'send' });
    expect(q.get('a')).toMatchObject({ state: 'failed', error: { code: 'INTERNAL' } });
    runner.throwNext = false;
    q.add({ id: 'b', direction: 'send' });
    expect(state('b')).toBe('connecting');
  });
});

describe('Scheduler: pause, resume, cancel in every state', () => {
  /** Bring job 'x' into `target`, with one other job 'busy' running (max 1) where useful. */
  async function inState(target: JobState) {
    const s = setup({ maxConcurrent: 2 });
    const { q, runner } = s;
    if (target === 'queued') {
      q.setMaxConcurrent(1);
      q.add({ id: 'busy', direction: 'send' });
      q.add({ id: 'x', direction: 'send' });
      return s;
    }
    q.add({ id: 'x', direction: 'send', peer: 'p' });
    const run = runner.last('x');
    switch (target) {
      case 'connecting':
        break;
      case 'awaiting-accept':
      case 'transferring':
      case 'verifying':
        run.phase(target);
        break;
      case 'paused':
        run.phase('transferring');
        q.pause('x');
        break;
      case 'retrying':
        run.fail('CONNECTION', true);
        break;
      case 'waiting-for-peer':
        run.fail('CONNECTION', true, true);
        break;
      case 'done':
        run.succeed();
        break;
      case 'failed':
        run.fail('INTEGRITY', false);
        break;
      case 'cancelled':
        q.cancel('x');
        break;
    }
    await tick();
    expect(q.get('x')!.state).toBe(target);
    return s;
  }

  const all: JobState[] = [
    'queued',
    'connecting',
    'awaiting-accept',
    'transferring',
    'verifying',
    'paused',
    'retrying',
    'waiting-for-peer',
    'done',
    'failed',
    'cancelled',
  ];
  const finals = new Set<JobState>(['done', 'failed', 'cancelled']);

  for (const s of all) {
    it(`pause, resume and cancel from ${s}`, async () => {
      const { q, runner, clock, state } = await inState(s);
      const runsBefore = runner.runs.length;
      q.pause('x');
      if (finals.has(s)) {
        expect(state('x')).toBe(s);
      } else {
        expect(state('x')).toBe('paused');
        expect(clock.pending).toBe(0); // no retry or recheck timer survives a pause
        const run = runner.runs.filter((r) => r.job.id === 'x').at(-1);
        if (['connecting', 'awaiting-accept', 'transferring', 'verifying', 'paused'].includes(s)) {
          expect(run!.paused).toBe(true);
        }
      }
      q.resume('x');
      if (finals.has(s)) {
        expect(state('x')).toBe(s);
      } else if (s === 'queued') {
        expect(state('x')).toBe('queued'); // the slot is still busy
      } else {
        // A run that was paused continues (same run, same phase); others start afresh.
        const resumedSameRun = [
          'awaiting-accept',
          'transferring',
          'verifying',
          'paused',
          'connecting',
        ].includes(s);
        expect(state('x')).toBe(
          resumedSameRun ? (s === 'paused' ? 'transferring' : s) : 'connecting',
        );
        expect(runner.runs.length).toBe(resumedSameRun ? runsBefore : runsBefore + 1);
        expect(runner.last('x').paused).toBe(false);
      }
      q.cancel('x');
      expect(state('x')).toBe(finals.has(s) ? s : 'cancelled');
      if (!finals.has(s) && s !== 'queued' && s !== 'retrying' && s !== 'waiting-for-peer') {
        expect(runner.last('x').cancelled).toBe('cancelled by user');
      }
      expect(clock.pending).toBe(0);
    });
  }

  it('a paused running job gives its slot back and waits for one to resume', async () => {
    const { q, runner, state } = setup({ maxConcurrent: 1 });
    q.add({ id: 'a', direction: 'send' });
    runner.last('a').phase('transferring');
    q.add({ id: 'b', direction: 'send' });
    expect(state('b')).toBe('queued');
    q.pause('a');
    expect(state('b')).toBe('connecting');
    q.resume('a');
    expect(state('a')).toBe('queued');
    expect(runner.last('a').paused).toBe(true); // still holding its connection, not moving
    runner.last('b').succeed();
    await tick();
    expect(state('a')).toBe('transferring');
    expect(runner.last('a').paused).toBe(false);
    expect(runner.count('a')).toBe(1);
  });

  it('a run that ends while paused stays paused and runs afresh on resume', async () => {
    const { q, runner, state } = setup();
    q.add({ id: 'a', direction: 'send' });
    runner.last('a').phase('transferring');
    q.pause('a');
    runner.last('a').fail('CONNECTION', true);
    await tick();
    expect(state('a')).toBe('paused');
    q.resume('a');
    expect(state('a')).toBe('connecting');
    expect(runner.count('a')).toBe(2);
  });

  it('an outcome that arrives after cancel changes nothing', async () => {
    const { q, runner, state } = setup();
    q.add({ id: 'a', direction: 'send' });
    const run = runner.last('a');
    q.cancel('a', 'changed my mind');
    expect(run.cancelled).toBe('changed my mind');
    run.succeed();
    await tick();
    expect(state('a')).toBe('cancelled');
  });

  it('pauseAll and resumeAll', async () => {
    const { q, runner, state } = setup({ maxConcurrent: 2 });
    for (const id of ['a', 'b', 'c']) q.add({ id, direction: 'send' });
    runner.last('b').fail('INTEGRITY', false);
    await tick();
    q.pauseAll();
    expect(['a', 'b', 'c'].map(state)).toEqual(['paused', 'failed', 'paused']);
    expect(q.running).toBe(0);
    q.resumeAll();
    expect(['a', 'b', 'c'].map(state)).toEqual(['connecting', 'failed', 'connecting']);
  });
});

describe('Scheduler: events and restore', () => {
  it('every transition is one event with its previous state', async () => {
    const { q, runner, events } = setup();
    q.add({ id: 'a', direction: 'send' });
    runner.last('a').phase('transferring');
    runner.last('a').succeed();
    await tick();
    const path = events
      .filter((e): e is Extract<QueueEvent, { type: 'state' }> => e.type === 'state')
      .map((e) => `${e.from}→${e.job.state}`);
    expect(events[0]).toMatchObject({ type: 'added' });
    expect(path).toEqual(['queued→connecting', 'connecting→transferring', 'transferring→done']);
  });

  it('restored jobs: finished ones stay history, unfinished ones queue again, paused stay paused', () => {
    const { q, runner, state } = setup();
    q.add({ id: 'old', direction: 'send' }, { state: 'done' });
    q.add({ id: 'mid', direction: 'receive' }, { state: 'transferring', attempts: 2 });
    q.add({ id: 'held', direction: 'send' }, { state: 'paused' });
    expect([state('old'), state('mid'), state('held')]).toEqual(['done', 'connecting', 'paused']);
    expect(q.get('mid')!.attempts).toBe(2);
    expect(runner.runs.map((r) => r.job.id)).toEqual(['mid']);
    q.remove('old');
    expect(q.get('old')).toBeUndefined();
    expect(() => q.remove('mid')).toThrow(/not finished/);
    expect(() => q.add({ id: 'mid', direction: 'send' })).toThrow(/already exists/);
  });
});
