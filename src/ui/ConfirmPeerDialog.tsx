/**
 * A send to a device not trusted yet: before any file leaves, the user
 * compares the words with the receiver. y they match (send), n cancel.
 */
import type { JobView } from '../app/controller.js';
import { DialogFrame, dialogInnerWidth } from './DialogFrame.js';
import type { DetailLine } from './detail-lines.js';
import { shortFingerprint, wrapWords } from './format.js';

/** Props of `ConfirmPeerDialog`. */
export interface ConfirmPeerDialogProps {
  readonly job: JobView;
  readonly screenWidth: number;
  readonly screenHeight: number;
}

/** The lines of the dialog for an inner width `w`. */
export function confirmPeerLines(job: JobView, w: number): DetailLine[] {
  const hs = job.handshake;
  const lines: DetailLine[] = [
    {
      key: 'what',
      segs: [
        { text: 'Sending ' },
        { text: job.label, bold: true },
        { text: ' to ' },
        { text: job.peer, bold: true },
        { text: ', a new device.' },
      ],
    },
    {
      key: 'sas',
      segs: [
        { text: 'Words: ' },
        { text: hs?.sas ?? '(not known yet)', bold: true, color: 'yellow' },
      ],
    },
  ];
  wrapWords(
    'Ask the receiver which words their screen shows. Send only if they are the same.',
    w,
  ).forEach((t, i) => {
    lines.push({ key: `ask${i}`, segs: [{ text: t, color: 'yellow' }] });
  });
  if (hs) {
    lines.push({
      key: 'fp',
      segs: [{ text: `Key: ${shortFingerprint(hs.fingerprint)}`, dim: true }],
    });
  }
  lines.push({
    key: 'keys',
    segs: [{ text: 'y same words, send · n different, cancel the send', color: 'cyan' }],
  });
  return lines;
}

/** The confirm-peer dialog. */
export function ConfirmPeerDialog({ job, screenWidth, screenHeight }: ConfirmPeerDialogProps) {
  return (
    <DialogFrame
      title="Compare the words"
      lines={confirmPeerLines(job, dialogInnerWidth(screenWidth))}
      screenWidth={screenWidth}
      screenHeight={screenHeight}
    />
  );
}
