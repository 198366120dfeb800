/**
 * The queue and `sessions.json` kept in step: every scheduler transition is
 * written (state at once, through the registry's own debouncing for
 * progress), and at start the unfinished sessions come back into the queue
 * according to the `autoResume` setting.
 */
import { isFinal, type Job, type JobSpec, type Scheduler } from '../engine/queue/scheduler.js';
import type { AutoResume } from '../store/config.js';
import type { NewSessionRecord, SessionRecord, SessionRegistry } from '../store/session-store.js';

/** Persist every change of `queue` into `registry`; returns the unsubscribe function. */
export function persistQueue(
  queue: Scheduler,
  registry: SessionRegistry,
  /** The record to create for a job the registry does not have yet. */
  describe: (job: Job) => NewSessionRecord,
): () => void {
  const safely = (fn: () => void) => {
    try {
      fn();
    } catch {
      // Bookkeeping must never break the queue (a full disk is reported by the registry).
    }
  };
  return queue.on((e) => {
    switch (e.type) {
      case 'added':
        if (!registry.get(e.job.id)) safely(() => registry.put(describe(e.job)));
        break;
      case 'state':
        safely(() =>
          registry.update(e.job.id, {
            state: e.job.state,
            attempts: e.job.attempts,
            error: e.job.error ?? undefined,
          }),
        );
        break;
      case 'priority':
        safely(() => registry.update(e.job.id, { priority: e.job.priority }));
        break;
      case 'removed':
        safely(() => registry.remove(e.id));
        break;
    }
  });
}

/**
 * Put recorded sessions back into the queue. Finished ones come back as
 * history; unfinished ones are queued (`always`) or held paused for the user
 * (`ask`, `never`). Records `toSpec` cannot run (null) are left alone.
 * Returns how many were restored.
 */
export function restoreQueue(
  queue: Scheduler,
  registry: SessionRegistry,
  policy: AutoResume,
  toSpec: (record: SessionRecord) => JobSpec | null,
): number {
  let n = 0;
  // Oldest first, so FIFO order within a priority survives the restart.
  for (const r of [...registry.list()].reverse()) {
    if (queue.get(r.id)) continue;
    const spec = toSpec(r);
    if (!spec) continue;
    const finished = isFinal(r.state);
    const state = finished || r.state === 'paused' || policy === 'always' ? r.state : 'paused';
    queue.add(
      { ...spec, priority: r.priority },
      { state, attempts: r.attempts, error: r.error ?? null },
    );
    n++;
  }
  return n;
}
