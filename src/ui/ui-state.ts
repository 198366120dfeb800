/**
 * The TUI's own state (focus, selection, dialogs, confirmations) and the
 * actions that change it. Everything about transfers comes from the
 * controller's snapshot; this is only what the user is looking at and typing.
 *
 * Keys go through `uiReducer` (ui-reducer.ts), never through closures over
 * render-time values: a fast `j` then Enter must act on the row `j` moved to
 * (DESIGN.md, "Key handling").
 */
import type { AppSnapshot, JobView, OfferAnswer, OfferView } from '../app/controller.js';
import type { Priority } from '../engine/queue/scheduler.js';

/** A panel that can hold the focus (Detail follows the selection, it takes no keys). */
export type PanelId = 'queue' | 'peers' | 'sessions';

/** Keys with a name (arrows, Enter, …), after normalisation by `toUiKeys`. */
export type NamedKey =
  | 'up'
  | 'down'
  | 'left'
  | 'right'
  | 'pageup'
  | 'pagedown'
  | 'home'
  | 'end'
  | 'return'
  | 'escape'
  | 'tab'
  | 'backtab'
  | 'backspace'
  | 'ctrl-c'
  | 'ctrl-u';

/** One key press: a printable character or a named key. */
export type UiKey = { readonly kind: 'char'; readonly ch: string } | { readonly kind: NamedKey };

/** A list selection: by id (survives reordering), with the index as fallback when the id is gone. */
export interface Selection {
  readonly id: string | null;
  readonly index: number;
}

/** What a yes/no confirmation does on `y`. */
export type ConfirmAction =
  | { readonly kind: 'cancel'; readonly id: string }
  | { readonly kind: 'discard'; readonly id: string }
  | { readonly kind: 'quit'; readonly viaCtrlC: boolean };

/** The id of the "by code" entry in the Send dialog's target list. */
export const BY_CODE = '@code';

/** The Send dialog: a path, then a target (a peer or "by code"), then the code to read out. */
export interface SendDialogState {
  readonly kind: 'send';
  readonly step: 'path' | 'target' | 'code';
  readonly path: string;
  /** Completions offered by the last Tab, when there were several. */
  readonly candidates: readonly string[];
  /** Selected target: a peer fingerprint or BY_CODE. */
  readonly target: Selection;
  /** Set when opened from the Peers panel: Enter on the path sends to it directly. */
  readonly peer: string | null;
  /** Sequence number of the command in flight, if any. */
  readonly pending: number | null;
  readonly error: string | null;
  /** The code to read out, once a send by code was queued. */
  readonly code: string | null;
}

/** The Receive-by-code dialog. */
export interface ReceiveDialogState {
  readonly kind: 'receive';
  readonly field: 'code' | 'dir';
  readonly code: string;
  readonly dir: string;
  readonly pending: number | null;
  readonly error: string | null;
}

/** The Settings dialog: a list, one value edited at a time. */
export interface SettingsDialogState {
  readonly kind: 'settings';
  readonly index: number;
  readonly editing: { readonly key: string; readonly value: string } | null;
  readonly pending: number | null;
  readonly error: string | null;
}

/** A dialog the user opened (as opposed to those the snapshot pops up). */
export type Dialog =
  | SendDialogState
  | ReceiveDialogState
  | SettingsDialogState
  | { readonly kind: 'help' }
  | { readonly kind: 'confirm'; readonly action: ConfirmAction; readonly text: string };

/** The dialog on screen: one the user opened, else a decision the snapshot asks for. */
export type VisibleDialog =
  | Dialog
  | { readonly kind: 'offer'; readonly offer: OfferView }
  | { readonly kind: 'confirm-peer'; readonly job: JobView };

/** A controller call (or UI-local side effect) the reducer asks for. */
export type Command =
  | {
      readonly type: 'send-to-peer';
      readonly paths: readonly string[];
      readonly peer: string;
      readonly peerName: string;
    }
  | { readonly type: 'send-by-code'; readonly paths: readonly string[] }
  | { readonly type: 'receive-by-code'; readonly code: string; readonly dir: string }
  | { readonly type: 'answer-offer'; readonly id: string; readonly answer: OfferAnswer }
  | { readonly type: 'confirm-peer'; readonly id: string; readonly ok: boolean }
  | {
      readonly type: 'toggle-pause' | 'resume' | 'cancel' | 'retry-now' | 'discard';
      readonly id: string;
      readonly label: string;
    }
  | { readonly type: 'set-priority'; readonly id: string; readonly priority: Priority }
  | { readonly type: 'pause-all' }
  | { readonly type: 'resume-all' }
  | { readonly type: 'trust-peer'; readonly fingerprint: string; readonly name: string }
  | { readonly type: 'set-setting'; readonly key: string; readonly value: string }
  | { readonly type: 'complete-path'; readonly path: string }
  | { readonly type: 'quit'; readonly force: boolean };

/** A command with its sequence number (results refer to it). */
export interface Effect {
  readonly seq: number;
  readonly command: Command;
}

/** A transient line in the footer. */
export interface StatusMessage {
  readonly id: number;
  readonly level: 'info' | 'error';
  readonly text: string;
}

/** The whole UI state. */
export interface UiState {
  readonly focus: PanelId;
  readonly selection: Readonly<Record<PanelId, Selection>>;
  readonly dialog: Dialog | null;
  /** Offers (`offer:<id>`) and peer confirmations (`confirm:<id>`) answered, hidden until the snapshot drops them. */
  readonly answered: readonly string[];
  readonly status: StatusMessage | null;
  /** Commands not yet taken by the component. */
  readonly effects: readonly Effect[];
  readonly nextSeq: number;
  /** The user quit; the app is closing. */
  readonly quitting: boolean;
}

/** What a key is interpreted against: the snapshot on screen and the panels shown. */
export interface ViewContext {
  readonly snapshot: AppSnapshot;
  /** Focusable panels on screen, in Tab order. */
  readonly panels: readonly PanelId[];
}

/** Everything that changes the UI state. */
export type UiAction =
  | { readonly type: 'keys'; readonly keys: readonly UiKey[]; readonly view: ViewContext }
  /** The component started every effect up to `through`. */
  | { readonly type: 'effects-taken'; readonly through: number }
  | {
      readonly type: 'command-ok';
      readonly seq: number;
      readonly command: Command;
      /** The code of a send by code. */
      readonly code?: string;
    }
  | {
      readonly type: 'command-failed';
      readonly seq: number;
      readonly command: Command;
      readonly message: string;
    }
  | {
      readonly type: 'path-completed';
      /** The text that was completed (ignored if the user typed on meanwhile). */
      readonly input: string;
      readonly value: string;
      readonly candidates: readonly string[];
    }
  | { readonly type: 'status-expired'; readonly id: number };
