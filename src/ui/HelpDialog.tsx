/** The help overlay (`?`): every key. */

import { DialogFrame } from './DialogFrame.js';
import type { DetailLine } from './detail-lines.js';

/** Every key, as [what, keys]. */
export const HELP: readonly (readonly [string, string])[] = [
  ['Move', '↑/↓ or j/k · PgUp/PgDn · g/G first/last'],
  ['Panels', 'Tab / Shift+Tab (or ←/→)'],
  ['Send', 's (Tab completes the path) · Enter on a peer'],
  ['Receive', 'r: by code'],
  ['Pause', 'p pause/resume · P pause all · U resume all'],
  ['Cancel', 'x (asks first)'],
  ['Priority', '+ higher · - lower'],
  ['Retry', 'R retry now'],
  ['Discard', 'd a finished transfer, or a session'],
  ['Resume', 'Enter or p on a session'],
  ['Trust', 't on a peer'],
  ['Settings', ', or S'],
  ['Offers', 'a accept · d decline · A always accept this device'],
  ['New device', 'y the words match · n they do not'],
  ['Quit', 'q (asks if transfers are active) · Ctrl+C, twice to force'],
];

/** Props of `HelpDialog`. */
export interface HelpDialogProps {
  readonly screenWidth: number;
  readonly screenHeight: number;
}

/** The help overlay. */
export function HelpDialog({ screenWidth, screenHeight }: HelpDialogProps) {
  const lines: DetailLine[] = HELP.map(([what, keys]) => ({
    key: what,
    segs: [{ text: what.padEnd(12), bold: true }, { text: keys }],
  }));
  lines.push({ key: 'close', segs: [{ text: 'Esc, ? or q closes this help.', dim: true }] });
  return (
    <DialogFrame title="Keys" lines={lines} screenWidth={screenWidth} screenHeight={screenHeight} />
  );
}
