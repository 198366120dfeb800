/** A yes/no question: cancel a transfer, discard a session, quit with transfers active. */

import { DialogFrame, dialogInnerWidth } from './DialogFrame.js';
import type { DetailLine } from './detail-lines.js';
import { wrapWords } from './format.js';
import type { ConfirmAction } from './ui-state.js';

/** Props of `ConfirmDialog`. */
export interface ConfirmDialogProps {
  readonly text: string;
  readonly action: ConfirmAction;
  readonly screenWidth: number;
  readonly screenHeight: number;
}

/** The y/n dialog. */
export function ConfirmDialog({ text, action, screenWidth, screenHeight }: ConfirmDialogProps) {
  const inner = dialogInnerWidth(screenWidth);
  const lines: DetailLine[] = wrapWords(text, inner).map((t, i) => ({
    key: `t${i}`,
    segs: [{ text: t, bold: true }],
  }));
  const force = action.kind === 'quit' && action.viaCtrlC ? ' · Ctrl+C again quits' : '';
  lines.push({ key: 'keys', segs: [{ text: `y yes · n no${force}`, color: 'cyan' }] });
  const title = action.kind === 'quit' ? 'Quit' : action.kind === 'cancel' ? 'Cancel' : 'Discard';
  return (
    <DialogFrame
      title={title}
      lines={lines}
      screenWidth={screenWidth}
      screenHeight={screenHeight}
    />
  );
}
