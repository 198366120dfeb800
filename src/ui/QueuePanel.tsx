/**
 * The Queue panel: this run's sends and receives, one row each, the
 * selected one marked `›`. Scrolls to keep the selection in view.
 */
import { memo } from 'react';
import type { JobView } from '../app/controller.js';
import type { Seg } from './format.js';
import { jobRowSegs, queueColumns, queueHeaderSegs } from './job-row.js';
import { Panel } from './Panel.js';
import { Lines } from './Row.js';
import { windowStart } from './selectors.js';

/** Props of `QueuePanel`. */
export interface QueuePanelProps {
  readonly jobs: readonly JobView[];
  /** Index of the selected job, -1 when none. */
  readonly selected: number;
  readonly focused: boolean;
  readonly width: number;
  readonly height: number;
  readonly now: number;
  /** Animation frame of the spinners on waiting rows. */
  readonly frame?: number;
}

/** The Queue panel. */
export const QueuePanel = memo(function QueuePanel({
  jobs,
  selected,
  focused,
  width,
  height,
  now,
  frame = 0,
}: QueuePanelProps) {
  const w = width - 2;
  const h = height - 2;
  const cols = queueColumns(w);
  const header = h >= 4 && jobs.length > 0;
  const rows = Math.max(0, h - (header ? 1 : 0));
  const start = windowStart(selected, jobs.length, rows);
  const shown = jobs.slice(start, start + rows);
  const title = jobs.length > 0 ? `Queue (${jobs.length})` : 'Queue';
  const lines: Seg[][] = shown.map((job, i) =>
    jobRowSegs(job, cols, now, start + i === selected, frame),
  );
  if (header) lines.unshift(queueHeaderSegs(cols));
  if (jobs.length === 0 && h > 0) {
    lines.push([{ text: 'No transfers. s sends a file, r receives by code.', dim: true }]);
  }
  return (
    <Panel title={title} width={width} height={height} focused={focused}>
      <Lines lines={lines} width={w} />
    </Panel>
  );
});
