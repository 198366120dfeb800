/**
 * The Sessions panel: unfinished transfers restored from earlier runs of
 * ferry. Enter (or p) resumes one, d discards it.
 */
import { memo } from 'react';
import type { JobView } from '../app/controller.js';
import { fitWidth, fraction, type Seg } from './format.js';
import { Panel } from './Panel.js';
import { Lines } from './Row.js';
import { windowStart } from './selectors.js';

/** Props of `SessionsPanel`. */
export interface SessionsPanelProps {
  readonly jobs: readonly JobView[];
  readonly selected: number;
  readonly focused: boolean;
  readonly width: number;
  readonly height: number;
}

/** The segments of one session row of `w` cells. */
export function sessionRowSegs(job: JobView, w: number, selected: boolean): Seg[] {
  const pct = `${Math.floor(fraction(job.bytesDone, job.total) * 100)}%`;
  return [
    { text: selected ? '› ' : '  ', bold: true, color: 'cyan' },
    {
      text: job.direction === 'send' ? '↑ ' : '↓ ',
      color: job.direction === 'send' ? 'magenta' : 'blue',
    },
    { text: fitWidth(job.label, Math.max(1, w - 4 - 5)), bold: selected },
    { text: fitWidth(pct, 5, true), dim: true },
  ];
}

/** The Sessions panel. */
export const SessionsPanel = memo(function SessionsPanel({
  jobs,
  selected,
  focused,
  width,
  height,
}: SessionsPanelProps) {
  const w = width - 2;
  const rows = Math.max(0, height - 2);
  const start = windowStart(selected, jobs.length, rows);
  return (
    <Panel title={`Sessions (${jobs.length})`} width={width} height={height} focused={focused}>
      <Lines
        lines={
          jobs.length === 0 && rows > 0
            ? [[{ text: 'No earlier sessions.', dim: true }]]
            : jobs
                .slice(start, start + rows)
                .map((j, i) => sessionRowSegs(j, w, start + i === selected))
        }
        width={w}
      />
    </Panel>
  );
});
