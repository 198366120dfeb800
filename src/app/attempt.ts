/**
 * One run of a queue job as the app's runners make it: connect, start the
 * engine transfer, follow it to its end, release the connection, with
 * pause/resume/cancel/interrupt wired to whichever step the run is in.
 * The runners (LAN sends, code sends and receives) differ only in how they
 * connect, what they start and how a failure counts for the queue.
 */
import { isRetryableCode, toFerryError } from '../engine/errors.js';
import type { JobRun, RunOutcome, RunPhase } from '../engine/queue/scheduler.js';
import type { Transfer } from '../engine/transfer/transfer.js';

/** How a run gets going; `C` is what `connect` yields (a link and stream, a lease). */
export interface AttemptSteps<C> {
  readonly connect: (signal: AbortSignal) => Promise<C>;
  readonly begin: (connection: C) => Transfer | Promise<Transfer>;
  /** After the transfer settled, or failed to start (never throws). */
  readonly release: (connection: C) => Promise<void> | void;
  /** A connect failure as the queue sees it (default: `failure`). */
  readonly connectFailed?: (err: unknown) => RunOutcome;
  /** A failure once connected (default: `failure`). */
  readonly failed?: (err: unknown) => RunOutcome;
}

/** A failed outcome from anything thrown; network trouble is retryable. */
export function failure(err: unknown): RunOutcome {
  const fe = toFerryError(err);
  return {
    ok: false,
    error: { code: fe.code, message: fe.message, retryable: isRetryableCode(fe.code) },
  };
}

/** Run one attempt to its end (see the module comment). */
export function runAttempt<C>(steps: AttemptSteps<C>, phase: (p: RunPhase) => void): JobRun {
  const ac = new AbortController();
  let transfer: Transfer | null = null;
  let paused = false;
  const done = (async (): Promise<RunOutcome> => {
    let conn: C;
    try {
      conn = await steps.connect(ac.signal);
    } catch (err) {
      return (steps.connectFailed ?? failure)(err);
    }
    try {
      const t = await steps.begin(conn);
      transfer = t;
      if (paused) t.pause();
      if (ac.signal.aborted) t.cancel(String(ac.signal.reason ?? 'cancelled'));
      t.on((e) => {
        if (e.type === 'handshake') phase('awaiting-accept');
        if (e.type === 'started') phase('transferring');
      });
      await t.done;
      return { ok: true };
    } catch (err) {
      return (steps.failed ?? failure)(err);
    } finally {
      await transfer?.settled;
      await steps.release(conn);
    }
  })();
  return {
    pause: () => {
      paused = true;
      transfer?.pause();
    },
    resume: () => {
      paused = false;
      transfer?.resume();
    },
    cancel: (reason) => {
      ac.abort(reason);
      transfer?.cancel(reason);
    },
    interrupt: () => {
      ac.abort('ferry is quitting');
      transfer?.interrupt('ferry is quitting');
    },
    done,
  };
}

/** A run that ended before it began. */
export function finished(outcome: RunOutcome): JobRun {
  return { pause() {}, resume() {}, cancel() {}, done: Promise.resolve(outcome) };
}
