/** Draws whichever dialog is on screen (at most one). */
import type { AppSnapshot } from '../app/controller.js';
import { ConfirmDialog } from './ConfirmDialog.js';
import { ConfirmPeerDialog } from './ConfirmPeerDialog.js';
import { HelpDialog } from './HelpDialog.js';
import { OfferDialog } from './OfferDialog.js';
import { ReceiveDialog } from './ReceiveDialog.js';
import { SendDialog } from './SendDialog.js';
import { SettingsDialog } from './SettingsDialog.js';
import type { VisibleDialog } from './ui-state.js';

/** Props of `DialogLayer`. */
export interface DialogLayerProps {
  readonly dialog: VisibleDialog;
  readonly snapshot: AppSnapshot;
  /** Offers waiting behind the one shown. */
  readonly offersWaiting: number;
  readonly width: number;
  readonly height: number;
}

/** The dialog on screen. */
export function DialogLayer({ dialog, snapshot, offersWaiting, width, height }: DialogLayerProps) {
  const size = { screenWidth: width, screenHeight: height };
  switch (dialog.kind) {
    case 'help':
      return <HelpDialog {...size} />;
    case 'confirm':
      return <ConfirmDialog text={dialog.text} action={dialog.action} {...size} />;
    case 'offer':
      return <OfferDialog offer={dialog.offer} queued={offersWaiting} {...size} />;
    case 'confirm-peer':
      return <ConfirmPeerDialog job={dialog.job} {...size} />;
    case 'send':
      return <SendDialog dialog={dialog} snapshot={snapshot} {...size} />;
    case 'receive':
      return <ReceiveDialog dialog={dialog} {...size} />;
    case 'settings':
      return <SettingsDialog dialog={dialog} settings={snapshot.settings} {...size} />;
  }
}
