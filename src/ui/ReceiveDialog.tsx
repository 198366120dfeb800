/** The Receive-by-code dialog: the code the sender reads out, and where to save. */

import { DialogFrame, dialogInnerWidth } from './DialogFrame.js';
import type { DetailLine } from './detail-lines.js';
import { errorLines, fieldSegs } from './text-field.js';
import type { ReceiveDialogState } from './ui-state.js';

/** Props of `ReceiveDialog`. */
export interface ReceiveDialogProps {
  readonly dialog: ReceiveDialogState;
  readonly screenWidth: number;
  readonly screenHeight: number;
}

/** The lines of the Receive dialog for an inner width `w`. */
export function receiveLines(d: ReceiveDialogState, w: number): DetailLine[] {
  const lines: DetailLine[] = [
    { key: 'code', segs: fieldSegs('Code   ', d.code, w, d.field === 'code') },
    { key: 'dir', segs: fieldSegs('Save to', d.dir, w, d.field === 'dir') },
  ];
  if (d.pending !== null)
    lines.push({ key: 'busy', segs: [{ text: 'Joining…', color: 'yellow' }] });
  lines.push(...errorLines(d.error, w));
  lines.push({
    key: 'keys',
    segs: [{ text: 'Enter receive · Tab switch field · Esc close', color: 'cyan' }],
  });
  return lines;
}

/** The Receive-by-code dialog. */
export function ReceiveDialog({ dialog, screenWidth, screenHeight }: ReceiveDialogProps) {
  return (
    <DialogFrame
      title="Receive by code"
      lines={receiveLines(dialog, dialogInnerWidth(screenWidth))}
      screenWidth={screenWidth}
      screenHeight={screenHeight}
    />
  );
}
