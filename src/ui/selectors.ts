/**
 * Pure views of the snapshot shared by the reducer and the panels, so that
 * what a key acts on is exactly what the panel shows.
 */
import type { AppSnapshot, JobView, PeerView } from '../app/controller.js';
import type { JobState } from '../engine/queue/scheduler.js';
import type { PanelId, Selection } from './ui-state.js';

const FINAL: ReadonlySet<JobState> = new Set(['done', 'failed', 'cancelled']);

/** States that show a spinner: the job waits on something. */
export const WAITING: ReadonlySet<JobState> = new Set([
  'queued',
  'waiting-for-peer',
  'connecting',
  'awaiting-accept',
  'retrying',
  'verifying',
]);

/** Finished for good (done, failed, cancelled): can be discarded. */
export function isFinal(job: JobView): boolean {
  return FINAL.has(job.state);
}

/** Neither finished nor paused: quitting interrupts it. */
export function isActive(job: JobView): boolean {
  return !FINAL.has(job.state) && job.state !== 'paused';
}

/** Jobs of this run, sends and receives together, in queue order. */
export function queueJobs(s: AppSnapshot): JobView[] {
  return s.jobs.filter((j) => !j.restored);
}

/** Jobs restored from earlier runs, waiting to be resumed or discarded. */
export function sessionJobs(s: AppSnapshot): JobView[] {
  return s.jobs.filter((j) => j.restored);
}

/** How many transfers of this run are active. */
export function activeCount(s: AppSnapshot): number {
  return queueJobs(s).filter(isActive).length;
}

/** The ids a panel lists, in display order. */
export function panelIds(s: AppSnapshot, panel: PanelId): string[] {
  if (panel === 'peers') return s.peers.map((p) => p.fingerprint);
  return (panel === 'queue' ? queueJobs(s) : sessionJobs(s)).map((j) => j.id);
}

/** The row a selection points at: its id if still listed, else its old index clamped; -1 if empty. */
export function resolveIndex(sel: Selection, ids: readonly string[]): number {
  if (ids.length === 0) return -1;
  const i = sel.id === null ? -1 : ids.indexOf(sel.id);
  if (i >= 0) return i;
  return Math.min(Math.max(0, sel.index), ids.length - 1);
}

/** The selected job of a job panel, if any. */
export function selectedJob(
  s: AppSnapshot,
  panel: 'queue' | 'sessions',
  sel: Selection,
): JobView | undefined {
  const jobs = panel === 'queue' ? queueJobs(s) : sessionJobs(s);
  return jobs[
    resolveIndex(
      sel,
      jobs.map((j) => j.id),
    )
  ];
}

/** The selected peer, if any. */
export function selectedPeer(s: AppSnapshot, sel: Selection): PeerView | undefined {
  return s.peers[resolveIndex(sel, panelIds(s, 'peers'))];
}

/** First row of a window of `height` rows that keeps `index` in view (centred when it can). */
export function windowStart(index: number, count: number, height: number): number {
  if (height <= 0 || count <= height) return 0;
  const start = index - Math.floor(height / 2);
  return Math.min(Math.max(0, start), count - height);
}
