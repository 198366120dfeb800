/**
 * The Detail panel: everything about the selected transfer (see
 * detail-lines.ts for what shows and what gives way on a small screen).
 */
import { memo } from 'react';
import type { JobView } from '../app/controller.js';
import { detailLines } from './detail-lines.js';
import { Panel } from './Panel.js';
import { Lines } from './Row.js';

/** Props of `DetailPanel`. */
export interface DetailPanelProps {
  readonly job: JobView | undefined;
  readonly width: number;
  readonly height: number;
  readonly now: number;
}

/** The Detail panel. */
export const DetailPanel = memo(function DetailPanel({
  job,
  width,
  height,
  now,
}: DetailPanelProps) {
  const w = width - 2;
  return (
    <Panel title="Detail" width={width} height={height}>
      <Lines lines={detailLines(job, w, height - 2, now).map((l) => l.segs)} width={w} />
    </Panel>
  );
});
