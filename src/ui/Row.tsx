/**
 * Lines of styled segments (see format.ts `Seg`), each cut to `width` cells.
 * Padded to exactly `width` only on request (dialogs, to cover what is under
 * them): every cell ink draws costs CPU on every frame.
 *
 * ink's cost grows with its text nodes as well as with the cells it draws,
 * so `Lines` draws a run of lines as one multi-line text node, and the UI's
 * glyphs go to ink as ASCII stand-ins that a transform puts back (see
 * stand-ins.ts), so ink measures the text on its fast path. A line with other
 * non-ASCII text (a file name in another script) gets a text node of its own
 * that ink measures and cuts as usual.
 */
import { Text, Transform, useIsScreenReaderEnabled } from 'ink';
import { memo, type ReactNode } from 'react';
import { fitSegs, type Seg } from './format.js';
import { restoreGlyphs, type StandIns, toStandIns } from './stand-ins.js';

/**
 * One ink Text per styled segment, the text alone for a plain one (a Text
 * element is a component, a node and a styling pass for ink on every frame).
 * Keys are places: segments have no identity but their place.
 */
function segTexts(segs: readonly Seg[], line: number): ReactNode[] {
  const out: ReactNode[] = [];
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i] as Seg;
    if (!s.color && !s.bold && !s.dim && !s.inverse) {
      out.push(s.text);
      continue;
    }
    out.push(
      <Text key={`${line}.${i}`} color={s.color} bold={s.bold} dimColor={s.dim} inverse={s.inverse}>
        {s.text}
      </Text>,
    );
  }
  return out;
}

/** Props of `Lines`. */
export interface LinesProps {
  readonly lines: readonly (readonly Seg[])[];
  readonly width: number;
  /** Pad each line with spaces to the full width. */
  readonly pad?: boolean;
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

/** Whether two `Lines` draw the same: their segments are compared, not their arrays. */
export function sameLines(a: LinesProps, b: LinesProps): boolean {
  if (a.width !== b.width || a.pad !== b.pad || a.lines.length !== b.lines.length) return false;
  for (let i = 0; i < a.lines.length; i++) {
    const x = a.lines[i] as readonly Seg[];
    const y = b.lines[i] as readonly Seg[];
    if (x === y) continue;
    if (x.length !== y.length) return false;
    for (let j = 0; j < x.length; j++) if (!sameSeg(x[j] as Seg, y[j] as Seg)) return false;
  }
  return true;
}

/**
 * Styled lines of at most `width` cells each, one under the other. Drawn
 * again only when a segment changed: the panels build new segment arrays on
 * every frame, and a line that reads the same costs ink no new work.
 */
export const Lines = memo(function Lines({ lines, width, pad = false }: LinesProps) {
  const screenReader = useIsScreenReaderEnabled();
  if (width <= 0 || lines.length === 0) return null;
  const out: ReactNode[] = [];
  let block: StandIns[] = [];
  let start = 0;
  const flush = (end: number) => {
    if (block.length > 0) {
      const shown = block;
      const children: ReactNode[] = [];
      shown.forEach((s, i) => {
        if (i > 0) children.push('\n');
        children.push(...segTexts(s.segs, start + i));
      });
      // Every line is printable ASCII and single-cell glyphs cut to `width`: ink neither wraps nor cuts it.
      out.push(
        <Transform
          key={start}
          transform={(line, i) => {
            const s = shown[i];
            return s ? restoreGlyphs(line, s) : line;
          }}
        >
          {children}
        </Transform>,
      );
    }
    block = [];
    start = end;
  };
  lines.forEach((segs, i) => {
    const fitted = fitSegs(segs, width, pad);
    const standIns = screenReader ? null : toStandIns(fitted);
    if (standIns) {
      block.push(standIns);
      return;
    }
    flush(i);
    out.push(
      <Text key={i} wrap="truncate">
        {segTexts(fitted, i)}
      </Text>,
    );
    start = i + 1;
  });
  flush(lines.length);
  return out;
}, sameLines);

/** Props of `Row`. */
export interface RowProps {
  readonly segs: readonly Seg[];
  readonly width: number;
  /** Pad with spaces to the full width. */
  readonly pad?: boolean;
}

/** A single styled line of at most `width` cells. */
export function Row({ segs, width, pad = false }: RowProps) {
  return <Lines lines={[segs]} width={width} pad={pad} />;
}
