/**
 * Lines of styled segments (see format.ts `Seg`), each cut to `width` cells.
 * Padded to exactly `width` only on request (dialogs, to cover what is under
 * them): every cell ink draws costs CPU on every frame.
 *
 * Each line is its own ink text node, drawn again only when one of its
 * segments changed, so ink lays out and measures only the lines that moved.
 * The UI's glyphs go to ink as ASCII stand-ins that a transform puts back
 * (see stand-ins.ts), so ink measures a line on its fast path; a line with
 * other non-ASCII text (a file name in another script) goes as it is, and
 * ink measures and cuts it as usual.
 */
import { Text, Transform, useIsScreenReaderEnabled } from 'ink';
import { memo, type ReactNode } from 'react';
import { fitSegs, type Seg } from './format.js';
import { restoreGlyphs, toStandIns } from './stand-ins.js';

/**
 * One ink Text per styled segment, the text alone for a plain one (a Text
 * element is a component, a node and a styling pass for ink on every frame).
 * Keys are places: segments have no identity but their place.
 */
function segTexts(segs: readonly Seg[]): ReactNode[] {
  const out: ReactNode[] = [];
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i] as Seg;
    if (!s.color && !s.bold && !s.dim && !s.inverse) {
      out.push(s.text);
      continue;
    }
    out.push(
      <Text key={i} color={s.color} bold={s.bold} dimColor={s.dim} inverse={s.inverse}>
        {s.text}
      </Text>,
    );
  }
  return out;
}

function sameSeg(a: Seg, b: Seg): boolean {
  return (
    a.text === b.text &&
    a.color === b.color &&
    a.bold === b.bold &&
    a.dim === b.dim &&
    a.inverse === b.inverse
  );
}

/** Props of `Row`. */
export interface RowProps {
  readonly segs: readonly Seg[];
  readonly width: number;
  /** Pad with spaces to the full width. */
  readonly pad?: boolean;
}

/** Whether two rows draw the same: their segments are compared, not their arrays. */
export function sameRow(a: RowProps, b: RowProps): boolean {
  if (a.width !== b.width || a.pad !== b.pad) return false;
  if (a.segs === b.segs) return true;
  if (a.segs.length !== b.segs.length) return false;
  for (let i = 0; i < a.segs.length; i++) {
    if (!sameSeg(a.segs[i] as Seg, b.segs[i] as Seg)) return false;
  }
  return true;
}

/**
 * A single styled line of at most `width` cells (an empty one still takes
 * its row). Drawn again only when a segment changed: the panels build new
 * segment arrays on every frame.
 */
export const Row = memo(function Row({ segs, width, pad = false }: RowProps) {
  const screenReader = useIsScreenReaderEnabled();
  if (width <= 0) return null;
  const fitted = fitSegs(segs, width, pad);
  const standIns = screenReader ? null : toStandIns(fitted);
  if (!standIns) return <Text wrap="truncate">{segTexts(fitted)}</Text>;
  if (standIns.segs.every((s) => s.text === '')) return <Text> </Text>;
  // The stand-in line is exactly as wide as the real one and fits: ink neither wraps nor cuts it.
  return (
    <Transform transform={(line) => restoreGlyphs(line, standIns)}>
      {segTexts(standIns.segs)}
    </Transform>
  );
}, sameRow);

/** Props of `Lines`. */
export interface LinesProps {
  readonly lines: readonly (readonly Seg[])[];
  readonly width: number;
  /** Pad each line with spaces to the full width. */
  readonly pad?: boolean;
}

/** Styled lines one under the other, a `Row` each. */
export function Lines({ lines, width, pad = false }: LinesProps) {
  return lines.map((segs, i) => (
    // biome-ignore lint/suspicious/noArrayIndexKey: a line is its place; rows compare their segments.
    <Row key={i} segs={segs} width={width} pad={pad} />
  ));
}
