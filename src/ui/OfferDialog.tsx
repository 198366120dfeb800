/**
 * An incoming offer: who sends (and whether we know the device), the words
 * to compare, the files and where they go. a accept, d decline, A always
 * accept this device.
 */
import type { OfferView } from '../app/controller.js';
import { DialogFrame, dialogInnerWidth } from './DialogFrame.js';
import type { DetailLine } from './detail-lines.js';
import { fitWidth, formatSize, shortFingerprint, wrapWords } from './format.js';

/** Files listed before "and N more". */
export const OFFER_FILES_SHOWN = 8;

/** Props of `OfferDialog`. */
export interface OfferDialogProps {
  readonly offer: OfferView;
  /** Offers waiting behind this one. */
  readonly queued: number;
  readonly screenWidth: number;
  readonly screenHeight: number;
}

/** The lines of the offer dialog for an inner width `w`. */
export function offerLines(offer: OfferView, w: number, queued: number): DetailLine[] {
  const who = offer.peerName ?? 'An unnamed device';
  const n = offer.files.length;
  const lines: DetailLine[] = [
    {
      key: 'who',
      segs: [
        { text: who, bold: true },
        { text: ` (${offer.shortId}) ` },
        offer.known
          ? { text: 'known device', color: 'green' }
          : { text: 'NEW DEVICE', color: 'yellow', bold: true },
      ],
    },
    {
      key: 'what',
      segs: [
        {
          text: `${offer.resuming ? 'resumes sending' : 'wants to send'} ${n} file${n === 1 ? '' : 's'}, ${formatSize(offer.total)}${offer.folders > 0 ? ` and ${offer.folders} empty folder${offer.folders === 1 ? '' : 's'}` : ''}`,
        },
      ],
    },
    { key: 'sas', segs: [{ text: 'Words: ' }, { text: offer.sas, bold: true, color: 'yellow' }] },
  ];
  if (!offer.known) {
    wrapWords(
      'Compare these words with the sender (ask what their screen shows). Accept only if they match exactly.',
      w,
    ).forEach((t, i) => {
      lines.push({ key: `warn${i}`, segs: [{ text: t, color: 'yellow' }] });
    });
  }
  lines.push({
    key: 'fp',
    segs: [{ text: `Key: ${shortFingerprint(offer.fingerprint)}`, dim: true }],
  });
  const sizeW = 9;
  for (const f of offer.files.slice(0, OFFER_FILES_SHOWN)) {
    lines.push({
      key: `f:${f.path}`,
      segs: [
        { text: `  ${fitWidth(f.path, Math.max(1, w - sizeW - 3))} ` },
        { text: fitWidth(formatSize(f.size), sizeW, true), dim: true },
      ],
    });
  }
  if (n > OFFER_FILES_SHOWN) {
    lines.push({
      key: 'more',
      segs: [{ text: `  …and ${n - OFFER_FILES_SHOWN} more`, dim: true }],
    });
  }
  lines.push({
    key: 'to',
    segs: [{ text: `Total ${formatSize(offer.total)} → ${offer.targetDir}` }],
  });
  if (queued > 0) {
    lines.push({
      key: 'queued',
      segs: [{ text: `${queued} more offer${queued === 1 ? '' : 's'} waiting`, dim: true }],
    });
  }
  lines.push({
    key: 'keys',
    segs: [
      {
        text: `a accept · d decline · A always${w >= 52 ? ' accept this device' : ''}`,
        color: 'cyan',
      },
    ],
  });
  return lines;
}

/** The incoming-offer dialog. */
export function OfferDialog({ offer, queued, screenWidth, screenHeight }: OfferDialogProps) {
  return (
    <DialogFrame
      title="Incoming files"
      lines={offerLines(offer, dialogInnerWidth(screenWidth), queued)}
      screenWidth={screenWidth}
      screenHeight={screenHeight}
    />
  );
}
