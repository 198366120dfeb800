/**
 * A Queue row as styled segments, its columns chosen to fit the width: the
 * name, progress and state always show; the path badge, size, rate, peer,
 * ETA and bar go (in that order) when the panel is narrow.
 */
import type { JobView } from '../app/controller.js';
import type { JobState } from '../engine/queue/scheduler.js';
import {
  bar,
  fitWidth,
  formatEta,
  formatRate,
  formatSize,
  fraction,
  type Seg,
  secondsUntil,
  spinnerGlyph,
} from './format.js';
import { WAITING } from './selectors.js';

/** Optional columns of a Queue row, with their width (leading space included). */
const OPTIONAL = {
  peer: 13,
  size: 9,
  bar: 11,
  rate: 11,
  eta: 7,
  path: 12,
} as const;

/** An optional column. */
export type QueueColumn = keyof typeof OPTIONAL;

/** Dropped first to last as the width shrinks. */
const DROP_ORDER: readonly QueueColumn[] = ['path', 'size', 'rate', 'peer', 'eta', 'bar'];

/** Marker (2) + direction and priority (3) + percentage (5) + state (15). */
const FIXED = 2 + 3 + 5 + 15;
const MIN_LABEL = 14;

/** Which columns a row of `width` cells shows, and the label's width. */
export interface QueueColumns {
  readonly label: number;
  readonly show: ReadonlySet<QueueColumn>;
}

/** Choose the columns for `width` cells. */
export function queueColumns(width: number): QueueColumns {
  const show = new Set<QueueColumn>(Object.keys(OPTIONAL) as QueueColumn[]);
  let used = FIXED + [...show].reduce((n, c) => n + OPTIONAL[c], 0);
  for (const c of DROP_ORDER) {
    if (used + MIN_LABEL <= width) break;
    show.delete(c);
    used -= OPTIONAL[c];
  }
  return { label: Math.max(1, width - used), show };
}

const STATE_COLOR: Partial<Record<JobState, string>> = {
  transferring: 'cyan',
  paused: 'yellow',
  retrying: 'yellow',
  'waiting-for-peer': 'yellow',
  done: 'green',
  failed: 'red',
  cancelled: 'gray',
};

/** Short state text for a 12-cell column (the retry countdown from `retryAt`). */
export function stateText(job: JobView, now: number): string {
  if (job.needsConfirm) return 'check words';
  switch (job.state) {
    case 'waiting-for-peer':
      return 'waiting peer';
    case 'awaiting-accept':
      return 'awaiting ok';
    case 'transferring':
      return job.direction === 'send' ? 'sending' : 'receiving';
    case 'paused':
      return job.pausedByPeer ? 'peer paused' : 'paused';
    case 'retrying':
      return job.retryAt === null
        ? 'retrying'
        : `retry ${formatEta(secondsUntil(job.retryAt, now)) || '0s'}`;
    default:
      return job.state;
  }
}

/** `direct·QUIC`, `relay·TCP`, or empty before connecting. */
export function pathBadge(job: JobView): string {
  return job.path ? `${job.path.kind}·${job.path.transport.toUpperCase()}` : '';
}

/** `▲` high, `▼` low, a space for normal. */
export function priorityGlyph(job: JobView): string {
  return job.priority === 'high' ? '▲' : job.priority === 'low' ? '▼' : ' ';
}

/** The segments of one Queue row; a waiting job shows the spinner at animation `frame`. */
export function jobRowSegs(
  job: JobView,
  cols: QueueColumns,
  now: number,
  selected: boolean,
  frame = 0,
): Seg[] {
  const f = job.state === 'done' ? 1 : fraction(job.bytesDone, job.total);
  const color = STATE_COLOR[job.state];
  // Styles only where they carry meaning: every colour change costs ink work on every frame.
  const segs: Seg[] = [
    selected ? { text: '› ', bold: true, color: 'cyan' } : { text: '  ' },
    {
      text: job.direction === 'send' ? '↑' : '↓',
      color: job.direction === 'send' ? 'magenta' : 'blue',
    },
    { text: `${priorityGlyph(job)} ` },
    { text: fitWidth(job.label, cols.label), bold: selected },
  ];
  const { show } = cols;
  if (show.has('peer')) segs.push({ text: ` ${fitWidth(job.peer, 12)}` });
  if (show.has('size'))
    segs.push({ text: ` ${fitWidth(job.total > 0 ? formatSize(job.total) : '', 8, true)}` });
  if (show.has('bar')) segs.push({ text: ` ${bar(f, 10)}`, color: color ?? 'cyan' });
  segs.push({ text: ` ${fitWidth(`${Math.floor(f * 100)}%`, 4, true)}` });
  if (show.has('rate')) {
    const rate = job.state === 'transferring' ? formatRate(job.rateBps) : '';
    segs.push({ text: ` ${fitWidth(rate, 10, true)}` });
  }
  if (show.has('eta')) {
    const eta = job.state === 'transferring' ? formatEta(job.etaSeconds) : '';
    segs.push({ text: ` ${fitWidth(eta, 6, true)}` });
  }
  segs.push({ text: ' ' });
  segs.push(WAITING.has(job.state) ? { text: spinnerGlyph(frame), color } : { text: ' ' });
  segs.push({ text: ` ${fitWidth(stateText(job, now), 12)}`, color, bold: job.state === 'failed' });
  if (show.has('path')) segs.push({ text: ` ${fitWidth(pathBadge(job), 11)}` });
  return segs;
}

/** The header row matching `jobRowSegs`. */
export function queueHeaderSegs(cols: QueueColumns): Seg[] {
  const { show } = cols;
  let t = `     ${fitWidth('Name', cols.label)}`;
  if (show.has('peer')) t += ` ${fitWidth('Peer', 12)}`;
  if (show.has('size')) t += ` ${fitWidth('Size', 8, true)}`;
  if (show.has('bar')) t += ` ${fitWidth('Progress', 10)}`;
  t += ` ${fitWidth('', 4)}`;
  if (show.has('rate')) t += ` ${fitWidth('Rate', 10, true)}`;
  if (show.has('eta')) t += ` ${fitWidth('ETA', 6, true)}`;
  t += `   ${fitWidth('State', 12)}`;
  if (show.has('path')) t += ` ${fitWidth('Path', 11)}`;
  return [{ text: t, dim: true, bold: true }];
}
