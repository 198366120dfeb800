/**
 * The queue of transfers: which job runs when, and what happens when it
 * stops. Pure: it talks to the world through a `JobRunner` (starts a send
 * or a receive and reports its phases) and a `QueueClock` (time and timers),
 * so every rule below is tested with a fake clock.
 *
 * States (issue 5): queued → connecting → awaiting-accept → transferring ⇄
 * paused → verifying → done | failed | cancelled, plus waiting-for-peer and
 * retrying (with its time). Every transition is an event.
 *
 * - Concurrency: at most `maxConcurrent` jobs hold a slot (connecting,
 *   awaiting-accept, transferring, verifying), sends and receives together.
 *   A paused job gives its slot back; resuming it waits for a free one.
 * - Priority: high before normal before low, FIFO within a level. Running
 *   jobs are never preempted. A queued job gains one level per `agingMs`
 *   waited, so a low one cannot be starved forever by a stream of high ones.
 * - Failures: a retryable (network) error retries after an exponential
 *   backoff with jitter; an integrity or trust failure does not retry on its
 *   own (the user may `retryNow`). A run that found its peer unreachable
 *   parks the job in waiting-for-peer until `peerAvailable` (or a slow timer).
 */
import type { TimerClock } from './bandwidth.js';

/** Every state of a job, in lifecycle order. */
export const JOB_STATES = [
  'queued',
  'waiting-for-peer',
  'connecting',
  'awaiting-accept',
  'transferring',
  'paused',
  'verifying',
  'retrying',
  'done',
  'failed',
  'cancelled',
] as const;

/** Lifecycle of a job. */
export type JobState = (typeof JOB_STATES)[number];

/** Phases a running job reports. */
export type RunPhase = 'connecting' | 'awaiting-accept' | 'transferring' | 'verifying';

/** Scheduling priority. */
export type Priority = 'high' | 'normal' | 'low';

const LEVEL: Record<Priority, number> = { low: 0, normal: 1, high: 2 };
const RUNNING: ReadonlySet<JobState> = new Set([
  'connecting',
  'awaiting-accept',
  'transferring',
  'verifying',
]);
const FINAL: ReadonlySet<JobState> = new Set(['done', 'failed', 'cancelled']);

/** A job in this state has ended (done, failed or cancelled) and will not run again by itself. */
export function isFinal(state: JobState): boolean {
  return FINAL.has(state);
}

/** Why a run ended without success. */
export interface JobError {
  readonly code: string;
  readonly message: string;
  /** Worth retrying automatically (network trouble), as opposed to integrity or trust. */
  readonly retryable: boolean;
}

/** How a run ended. */
export type RunOutcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly error: JobError; readonly peerUnreachable?: boolean };

/** A started run of a job, as the runner hands it back. */
export interface JobRun {
  pause(): void;
  resume(): void;
  cancel(reason: string): void;
  /**
   * Stop without ending the session for the peer (the app quits; the job
   * resumes next start). Runs without it are cancelled instead.
   */
  interrupt?(): void;
  readonly done: Promise<RunOutcome>;
}

/** The port that actually moves bytes. */
export interface JobRunner {
  /** Start (or restart) `job`; `phase` reports progress through the running states. */
  start(job: Job, phase: (p: RunPhase) => void): JobRun;
}

/** Time and timers: the same port the bandwidth limiter uses (systemClock in production). */
export type QueueClock = TimerClock;

/** What a caller enqueues; `data` is carried along for the runner untouched. */
export interface JobSpec<D = unknown> {
  readonly id: string;
  readonly direction: 'send' | 'receive';
  readonly priority?: Priority;
  /** Peer key (fingerprint, or a code session's room) for `peerAvailable`. */
  readonly peer?: string;
  readonly data?: D;
}

/** A job as the scheduler tracks it (a fresh snapshot on every event). */
export interface Job<D = unknown> {
  readonly id: string;
  readonly direction: 'send' | 'receive';
  readonly priority: Priority;
  readonly peer: string | undefined;
  readonly data: D | undefined;
  readonly state: JobState;
  /** Failed runs so far (reset by success or `retryNow`). */
  readonly attempts: number;
  /** When `retrying` ends (clock time), else null. */
  readonly retryAt: number | null;
  readonly error: JobError | null;
  /** Clock time it entered the queue (for FIFO and aging). */
  readonly queuedAt: number;
  readonly seq: number;
}

/** What happened. */
export type QueueEvent =
  | { readonly type: 'added'; readonly job: Job }
  | { readonly type: 'state'; readonly job: Job; readonly from: JobState }
  | { readonly type: 'priority'; readonly job: Job }
  | { readonly type: 'removed'; readonly id: string };

/** Options of the Scheduler. */
export interface SchedulerOptions {
  readonly runner: JobRunner;
  readonly clock: QueueClock;
  /** Jobs holding a slot at once; default 3. */
  readonly maxConcurrent?: number;
  /** First retry delay; default 2 s. Doubles per attempt up to `maxBackoffMs`. */
  readonly baseBackoffMs?: number;
  /** Longest retry delay; default 5 min. */
  readonly maxBackoffMs?: number;
  /** ± fraction of random jitter on each delay; default 0.2. */
  readonly jitter?: number;
  /** A queued job gains one priority level per this long waited; default 2 min. */
  readonly agingMs?: number;
  /** How often a waiting-for-peer job tries again without news; default 5 min. */
  readonly peerRecheckMs?: number;
  /** Uniform [0, 1); default Math.random (tests pass their own). */
  readonly random?: () => number;
}

interface Entry {
  job: Job;
  run: JobRun | null;
  /** Phase the run was in when paused (to return to it). */
  phase: RunPhase | null;
  /** A paused running job that wants its slot back. */
  resumeWanted: boolean;
  timer: unknown;
  /** Increments per run, so a stale run's outcome is ignored. */
  generation: number;
}

/** The transfer queue. */
export class Scheduler {
  readonly #runner: JobRunner;
  readonly #clock: QueueClock;
  #max: number;
  readonly #base: number;
  readonly #maxBackoff: number;
  readonly #jitter: number;
  readonly #agingMs: number;
  readonly #recheckMs: number;
  readonly #random: () => number;
  readonly #entries = new Map<string, Entry>();
  readonly #listeners = new Set<(e: QueueEvent) => void>();
  #seq = 0;
  #pumping = false;

  constructor(opts: SchedulerOptions) {
    this.#runner = opts.runner;
    this.#clock = opts.clock;
    this.#max = positive(opts.maxConcurrent ?? 3, 'maxConcurrent');
    this.#base = positive(opts.baseBackoffMs ?? 2000, 'baseBackoffMs');
    this.#maxBackoff = positive(opts.maxBackoffMs ?? 5 * 60_000, 'maxBackoffMs');
    this.#jitter = opts.jitter ?? 0.2;
    if (!(this.#jitter >= 0 && this.#jitter < 1)) throw new RangeError('jitter: expected 0..1');
    this.#agingMs = positive(opts.agingMs ?? 2 * 60_000, 'agingMs');
    this.#recheckMs = positive(opts.peerRecheckMs ?? 5 * 60_000, 'peerRecheckMs');
    this.#random = opts.random ?? Math.random;
  }

  /** Subscribe to events; returns the unsubscribe function. */
  on(listener: (e: QueueEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Add a job. `restore` brings back a job from an earlier run of the app:
   * finished ones stay as history, anything else is queued again (paused
   * ones stay paused).
   */
  add<D>(
    spec: JobSpec<D>,
    restore?: { state: JobState; attempts?: number; error?: JobError | null },
  ): Job<D> {
    if (this.#entries.has(spec.id)) throw new RangeError(`id: job '${spec.id}' already exists`);
    const state: JobState = restore
      ? FINAL.has(restore.state) || restore.state === 'paused'
        ? restore.state
        : 'queued'
      : 'queued';
    const job: Job<D> = {
      id: spec.id,
      direction: spec.direction,
      priority: spec.priority ?? 'normal',
      peer: spec.peer,
      data: spec.data,
      state,
      attempts: restore?.attempts ?? 0,
      retryAt: null,
      error: restore?.error ?? null,
      queuedAt: this.#clock.now(),
      seq: this.#seq++,
    };
    this.#entries.set(spec.id, {
      job,
      run: null,
      phase: null,
      resumeWanted: false,
      timer: undefined,
      generation: 0,
    });
    this.#emit({ type: 'added', job });
    this.#pump();
    return job;
  }

  /** One job, or undefined. */
  get(id: string): Job | undefined {
    return this.#entries.get(id)?.job;
  }

  /** All jobs: running first, then in the order they would start, then the rest. */
  list(): Job[] {
    const now = this.#clock.now();
    const rank = (j: Job) =>
      RUNNING.has(j.state) ? 0 : j.state === 'queued' ? 1 : FINAL.has(j.state) ? 3 : 2;
    return [...this.#entries.values()]
      .map((e) => e.job)
      .sort(
        (a, b) =>
          rank(a) - rank(b) ||
          (rank(a) === 1 ? this.#effective(b, now) - this.#effective(a, now) : 0) ||
          a.seq - b.seq,
      );
  }

  /** Jobs holding a slot now. */
  get running(): number {
    let n = 0;
    for (const e of this.#entries.values()) if (RUNNING.has(e.job.state)) n++;
    return n;
  }

  /** Change the concurrency limit (takes effect as slots free up; nothing is stopped). */
  setMaxConcurrent(n: number): void {
    this.#max = positive(n, 'maxConcurrent');
    this.#pump();
  }

  /** Pause one job. A running one keeps its connection and gives up its slot. */
  pause(id: string): void {
    const e = this.#entry(id);
    const s = e.job.state;
    if (FINAL.has(s) || s === 'paused') return;
    this.#clearTimer(e);
    if (RUNNING.has(s) && e.run) {
      e.phase = s as RunPhase;
      e.run.pause();
    }
    e.resumeWanted = false;
    this.#set(e, { state: 'paused', retryAt: null });
    this.#pump();
  }

  /** Resume a paused job: straight back if a slot is free, else queued for one. */
  resume(id: string): void {
    const e = this.#entry(id);
    if (e.job.state !== 'paused') return;
    e.resumeWanted = e.run !== null;
    this.#set(e, { state: 'queued', queuedAt: this.#clock.now() });
    this.#pump();
  }

  /** Cancel a job in any state but a final one; its run is told why. */
  cancel(id: string, reason = 'cancelled by user'): void {
    const e = this.#entry(id);
    if (FINAL.has(e.job.state)) return;
    this.#clearTimer(e);
    const run = e.run;
    e.run = null;
    e.generation++;
    run?.cancel(reason);
    this.#set(e, { state: 'cancelled', retryAt: null, error: null });
    this.#pump();
  }

  /** Change a job's priority (a running job keeps running). */
  setPriority(id: string, priority: Priority): void {
    const e = this.#entry(id);
    if (e.job.priority === priority) return;
    e.job = { ...e.job, priority };
    this.#emit({ type: 'priority', job: e.job });
    this.#pump();
  }

  /** Try again now: a retrying, waiting, failed (or cancelled) job is queued with a clean slate. */
  retryNow(id: string): void {
    const e = this.#entry(id);
    const s = e.job.state;
    if (s !== 'retrying' && s !== 'waiting-for-peer' && s !== 'failed' && s !== 'cancelled') return;
    this.#clearTimer(e);
    this.#set(e, {
      state: 'queued',
      retryAt: null,
      attempts: 0,
      error: null,
      queuedAt: this.#clock.now(),
    });
    this.#pump();
  }

  /** Jobs parked for this peer become queued (e.g. discovery saw it, the relay is back). */
  peerAvailable(peer: string): void {
    for (const e of this.#entries.values()) {
      if (e.job.peer === peer && e.job.state === 'waiting-for-peer') {
        this.#clearTimer(e);
        this.#set(e, { state: 'queued', queuedAt: this.#clock.now() });
      }
    }
    this.#pump();
  }

  /** Pause every job that is not finished. */
  pauseAll(): void {
    for (const e of [...this.#entries.values()]) this.pause(e.job.id);
  }

  /** Resume every paused job. */
  resumeAll(): void {
    for (const e of [...this.#entries.values()]) this.resume(e.job.id);
  }

  /** Forget a finished job (history). */
  remove(id: string): void {
    const e = this.#entry(id);
    if (!FINAL.has(e.job.state)) throw new RangeError(`id: job '${id}' is not finished`);
    this.#entries.delete(id);
    this.#emit({ type: 'removed', id });
  }

  /** Stop every timer and pause every run (the app is quitting; jobs resume next start). */
  shutdown(): void {
    for (const e of this.#entries.values()) {
      this.#clearTimer(e);
      e.generation++;
      if (e.run?.interrupt) e.run.interrupt();
      else e.run?.cancel('ferry is quitting');
      e.run = null;
    }
  }

  // -------------------------------------------------------------------------

  #entry(id: string): Entry {
    const e = this.#entries.get(id);
    if (!e) throw new RangeError(`id: no job '${id}'`);
    return e;
  }

  /** Priority with aging: one level per `agingMs` waited in the queue. */
  #effective(j: Job, now: number): number {
    return LEVEL[j.priority] + Math.floor(Math.max(0, now - j.queuedAt) / this.#agingMs);
  }

  /** Start (or resume) queued jobs while slots are free. */
  #pump(): void {
    if (this.#pumping) return; // re-entered from an event listener or a runner callback
    this.#pumping = true;
    try {
      for (;;) {
        if (this.running >= this.#max) return;
        const now = this.#clock.now();
        let next: Entry | undefined;
        for (const e of this.#entries.values()) {
          if (e.job.state !== 'queued') continue;
          if (
            !next ||
            this.#effective(e.job, now) > this.#effective(next.job, now) ||
            (this.#effective(e.job, now) === this.#effective(next.job, now) &&
              e.job.seq < next.job.seq)
          ) {
            next = e;
          }
        }
        if (!next) return;
        this.#start(next);
      }
    } finally {
      this.#pumping = false;
    }
  }

  #start(e: Entry): void {
    if (e.resumeWanted && e.run) {
      e.resumeWanted = false;
      this.#set(e, { state: e.phase ?? 'transferring' });
      e.run.resume();
      return;
    }
    const generation = ++e.generation;
    this.#set(e, { state: 'connecting' });
    let run: JobRun;
    try {
      run = this.#runner.start(e.job, (phase) => {
        if (e.generation !== generation || !RUNNING.has(e.job.state)) return;
        if (phase !== e.job.state) this.#set(e, { state: phase });
      });
    } catch (err) {
      this.#finishRun(e, generation, {
        ok: false,
        error: { code: 'INTERNAL', message: (err as Error).message, retryable: false },
      });
      return;
    }
    e.run = run;
    run.done.then(
      (outcome) => this.#finishRun(e, generation, outcome),
      (err: unknown) =>
        this.#finishRun(e, generation, {
          ok: false,
          error: {
            code: 'INTERNAL',
            message: String((err as Error)?.message ?? err),
            retryable: false,
          },
        }),
    );
  }

  #finishRun(e: Entry, generation: number, outcome: RunOutcome): void {
    if (e.generation !== generation || FINAL.has(e.job.state)) return;
    e.run = null;
    e.phase = null;
    e.resumeWanted = false;
    if (outcome.ok) {
      this.#set(e, { state: 'done', error: null, attempts: 0, retryAt: null });
    } else if (e.job.state === 'paused') {
      // Ended while paused (the peer went away): stays paused, runs afresh on resume.
      this.#set(e, { state: 'paused', error: outcome.error });
    } else if (outcome.peerUnreachable) {
      this.#set(e, { state: 'waiting-for-peer', error: outcome.error });
      e.timer = this.#clock.setTimeout(() => {
        e.timer = undefined;
        if (e.job.state === 'waiting-for-peer') {
          this.#set(e, { state: 'queued', queuedAt: this.#clock.now() });
          this.#pump();
        }
      }, this.#recheckMs);
    } else if (outcome.error.retryable) {
      const attempts = e.job.attempts + 1;
      const delay = this.backoff(attempts);
      const retryAt = this.#clock.now() + delay;
      this.#set(e, { state: 'retrying', attempts, retryAt, error: outcome.error });
      e.timer = this.#clock.setTimeout(() => {
        e.timer = undefined;
        if (e.job.state === 'retrying') {
          this.#set(e, { state: 'queued', retryAt: null, queuedAt: this.#clock.now() });
          this.#pump();
        }
      }, delay);
    } else {
      this.#set(e, {
        state: 'failed',
        attempts: e.job.attempts + 1,
        error: outcome.error,
      });
    }
    this.#pump();
  }

  /** Delay before retry number `attempt` (1-based): exponential, capped, ± jitter. */
  backoff(attempt: number): number {
    const raw = Math.min(this.#maxBackoff, this.#base * 2 ** Math.max(0, attempt - 1));
    const spread = raw * this.#jitter * (2 * this.#random() - 1);
    return Math.max(0, Math.round(raw + spread));
  }

  #clearTimer(e: Entry): void {
    if (e.timer !== undefined) this.#clock.clearTimeout(e.timer);
    e.timer = undefined;
  }

  #set(e: Entry, patch: Partial<Omit<Job, 'id' | 'seq'>>): void {
    const from = e.job.state;
    e.job = { ...e.job, ...patch } as Job;
    this.#emit({ type: 'state', job: e.job, from });
  }

  #emit(ev: QueueEvent): void {
    for (const l of this.#listeners) {
      try {
        l(ev);
      } catch {
        // A listener's bug (UI, persistence) must not break the queue.
      }
    }
  }
}

function positive(n: number, name: string): number {
  if (!(Number.isFinite(n) && n > 0)) throw new RangeError(`${name}: expected a positive number`);
  return n;
}
