/**
 * A modal dialog drawn over the panels, centred. Every line is padded to the
 * full inner width so nothing underneath shows through. When the screen is
 * too short, middle lines give way; the last line (the keys) always shows.
 */
import { Box } from 'ink';
import type { DetailLine } from './detail-lines.js';
import { Panel } from './Panel.js';
import { Lines } from './Row.js';

/** Widest a dialog gets. */
export const DIALOG_MAX_WIDTH = 76;

/** Inner width of a dialog on a screen `screenWidth` wide. */
export function dialogInnerWidth(screenWidth: number): number {
  return Math.max(1, Math.min(DIALOG_MAX_WIDTH, screenWidth - 2) - 2);
}

/** Props of `DialogFrame`. */
export interface DialogFrameProps {
  readonly title: string;
  readonly lines: readonly DetailLine[];
  /** The area the dialog is centred in. */
  readonly screenWidth: number;
  readonly screenHeight: number;
}

/** Keep the last line and as many first lines as fit in `max`. */
export function clipLines<T>(lines: readonly T[], max: number): T[] {
  if (lines.length <= max) return [...lines];
  if (max <= 0) return [];
  const last = lines[lines.length - 1];
  return last === undefined ? lines.slice(0, max) : [...lines.slice(0, max - 1), last];
}

/** The frame of every dialog. */
export function DialogFrame({ title, lines, screenWidth, screenHeight }: DialogFrameProps) {
  const inner = dialogInnerWidth(screenWidth);
  const width = inner + 2;
  const shown = clipLines(lines, Math.max(0, screenHeight - 2));
  const height = Math.min(screenHeight, shown.length + 2);
  if (height < 2 || width < 4) return null;
  return (
    <Box
      position="absolute"
      marginTop={Math.max(0, Math.floor((screenHeight - height) / 2))}
      marginLeft={Math.max(0, Math.floor((screenWidth - width) / 2))}
    >
      <Panel title={title} width={width} height={height} focused>
        <Lines lines={shown.map((l) => l.segs)} width={inner} pad />
      </Panel>
    </Box>
  );
}
