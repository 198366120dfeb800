/**
 * Keys while a dialog is on screen. A dialog takes every key (it is modal);
 * Ctrl+C is handled before this, by the main reducer.
 */
import type { JobView, OfferView } from '../app/controller.js';
import { editText, emit, emitOnly, peerName, sendTargets } from './reducer-core.js';
import { resolveIndex } from './selectors.js';
import {
  BY_CODE,
  type Dialog,
  type ReceiveDialogState,
  type SendDialogState,
  type SettingsDialogState,
  type UiKey,
  type UiState,
  type ViewContext,
  type VisibleDialog,
} from './ui-state.js';

function isChar(key: UiKey, ...chars: string[]): boolean {
  return key.kind === 'char' && chars.includes(key.ch);
}

function isUp(key: UiKey): boolean {
  return key.kind === 'up' || isChar(key, 'k');
}

function isDown(key: UiKey): boolean {
  return key.kind === 'down' || isChar(key, 'j');
}

function withDialog(state: UiState, dialog: Dialog | null): UiState {
  return { ...state, dialog };
}

function answer(state: UiState, tag: string): UiState {
  return { ...state, answered: [...state.answered, tag] };
}

function offerKey(state: UiState, offer: OfferView, key: UiKey): UiState {
  const choice = isChar(key, 'a')
    ? 'accept'
    : isChar(key, 'd')
      ? 'decline'
      : isChar(key, 'A')
        ? 'always'
        : null;
  if (choice === null) return state;
  return emitOnly(answer(state, `offer:${offer.id}`), {
    type: 'answer-offer',
    id: offer.id,
    answer: choice,
  });
}

function confirmPeerKey(state: UiState, job: JobView, key: UiKey): UiState {
  const ok = isChar(key, 'y', 'Y') ? true : isChar(key, 'n', 'N') ? false : null;
  if (ok === null) return state;
  return emitOnly(answer(state, `confirm:${job.id}`), { type: 'confirm-peer', id: job.id, ok });
}

function confirmKey(
  state: UiState,
  dialog: Extract<Dialog, { kind: 'confirm' }>,
  key: UiKey,
  view: ViewContext,
): UiState {
  if (isChar(key, 'n', 'N') || key.kind === 'escape') return withDialog(state, null);
  if (!isChar(key, 'y', 'Y')) return state;
  const closed = withDialog(state, null);
  const { action } = dialog;
  if (action.kind === 'quit') {
    return emitOnly({ ...closed, quitting: true }, { type: 'quit', force: false });
  }
  const label = view.snapshot.jobs.find((j) => j.id === action.id)?.label ?? action.id;
  return emitOnly(closed, { type: action.kind, id: action.id, label });
}

function sendKey(state: UiState, d: SendDialogState, key: UiKey, view: ViewContext): UiState {
  if (d.pending !== null) return key.kind === 'escape' ? withDialog(state, null) : state;
  if (d.step === 'code') {
    return key.kind === 'return' || key.kind === 'escape' || isChar(key, 'q', ' ')
      ? withDialog(state, null)
      : state;
  }
  if (d.step === 'target') return sendTargetKey(state, d, key, view);
  if (key.kind === 'escape') return withDialog(state, null);
  if (key.kind === 'tab') return emitOnly(state, { type: 'complete-path', path: d.path });
  if (key.kind === 'return') {
    const path = d.path.trim();
    if (path === '')
      return withDialog(state, { ...d, error: 'Type a path to send (Tab completes).' });
    if (d.peer !== null) {
      const [s, seq] = emit(state, {
        type: 'send-to-peer',
        paths: [path],
        peer: d.peer,
        peerName: peerName(view.snapshot, d.peer),
      });
      return withDialog(s, { ...d, pending: seq, error: null });
    }
    return withDialog(state, { ...d, step: 'target', candidates: [], error: null });
  }
  const path = editText(d.path, key);
  return path === null ? state : withDialog(state, { ...d, path, candidates: [], error: null });
}

function sendTargetKey(state: UiState, d: SendDialogState, key: UiKey, view: ViewContext): UiState {
  const ids = sendTargets(view.snapshot);
  const at = resolveIndex(d.target, ids);
  if (key.kind === 'escape' || key.kind === 'left') {
    return withDialog(state, { ...d, step: 'path', error: null });
  }
  if (isUp(key) || isDown(key)) {
    const next = Math.min(Math.max(0, at + (isUp(key) ? -1 : 1)), ids.length - 1);
    return withDialog(state, { ...d, target: { id: ids[next] ?? null, index: next }, error: null });
  }
  if (key.kind !== 'return') return state;
  const target = ids[at] ?? BY_CODE;
  const paths = [d.path.trim()];
  const [s, seq] =
    target === BY_CODE
      ? emit(state, { type: 'send-by-code', paths })
      : emit(state, {
          type: 'send-to-peer',
          paths,
          peer: target,
          peerName: peerName(view.snapshot, target),
        });
  return withDialog(s, { ...d, pending: seq, error: null });
}

function receiveKey(state: UiState, d: ReceiveDialogState, key: UiKey, view: ViewContext): UiState {
  if (d.pending !== null) return key.kind === 'escape' ? withDialog(state, null) : state;
  if (key.kind === 'escape') return withDialog(state, null);
  if (key.kind === 'tab' || key.kind === 'backtab' || key.kind === 'up' || key.kind === 'down') {
    return withDialog(state, { ...d, field: d.field === 'code' ? 'dir' : 'code' });
  }
  if (key.kind === 'return') {
    const code = d.code.trim();
    if (code === '') {
      return withDialog(state, {
        ...d,
        field: 'code',
        error: 'Type the code the sender reads out.',
      });
    }
    const dir = d.dir.trim() || view.snapshot.downloadDir;
    const [s, seq] = emit(state, { type: 'receive-by-code', code, dir });
    return withDialog(s, { ...d, pending: seq, error: null });
  }
  const value = editText(d.field === 'code' ? d.code : d.dir, key);
  if (value === null) return state;
  return withDialog(state, { ...d, [d.field]: value, error: null });
}

function settingsKey(
  state: UiState,
  d: SettingsDialogState,
  key: UiKey,
  view: ViewContext,
): UiState {
  const settings = view.snapshot.settings;
  if (d.editing !== null) {
    if (d.pending !== null) return state;
    if (key.kind === 'escape') return withDialog(state, { ...d, editing: null, error: null });
    if (key.kind === 'return') {
      const [s, seq] = emit(state, {
        type: 'set-setting',
        key: d.editing.key,
        value: d.editing.value.trim(),
      });
      return withDialog(s, { ...d, pending: seq, error: null });
    }
    const value = editText(d.editing.value, key);
    if (value === null) return state;
    return withDialog(state, { ...d, editing: { ...d.editing, value }, error: null });
  }
  if (key.kind === 'escape' || isChar(key, 'q', ',', 'S')) return withDialog(state, null);
  if (isUp(key) || isDown(key)) {
    const index = Math.min(
      Math.max(0, d.index + (isUp(key) ? -1 : 1)),
      Math.max(0, settings.length - 1),
    );
    return withDialog(state, { ...d, index, error: null });
  }
  const setting = settings[Math.min(d.index, settings.length - 1)];
  if (key.kind === 'return' && setting) {
    return withDialog(state, {
      ...d,
      editing: { key: setting.key, value: setting.value },
      error: null,
    });
  }
  return state;
}

/** Apply a key to the dialog on screen. */
export function dialogKey(
  state: UiState,
  dialog: VisibleDialog,
  key: UiKey,
  view: ViewContext,
): UiState {
  switch (dialog.kind) {
    case 'help':
      return key.kind === 'escape' || key.kind === 'return' || isChar(key, '?', 'q')
        ? withDialog(state, null)
        : state;
    case 'confirm':
      return confirmKey(state, dialog, key, view);
    case 'offer':
      return offerKey(state, dialog.offer, key);
    case 'confirm-peer':
      return confirmPeerKey(state, dialog.job, key);
    case 'send':
      return sendKey(state, dialog, key, view);
    case 'receive':
      return receiveKey(state, dialog, key, view);
    case 'settings':
      return settingsKey(state, dialog, key, view);
  }
}
