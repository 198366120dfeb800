/**
 * Building blocks shared by the main-screen and dialog key handlers: queue a
 * command, set a footer message, edit a text field, and the Send dialog's
 * target list. All pure.
 */
import type { AppSnapshot } from '../app/controller.js';
import { BY_CODE, type Command, type UiKey, type UiState } from './ui-state.js';

/** Queue a command for the component to run; returns the new state and the command's seq. */
export function emit(state: UiState, command: Command): [UiState, number] {
  const seq = state.nextSeq;
  return [{ ...state, effects: [...state.effects, { seq, command }], nextSeq: seq + 1 }, seq];
}

/** Queue a command, dropping its seq. */
export function emitOnly(state: UiState, command: Command): UiState {
  return emit(state, command)[0];
}

/** Show a transient footer message (it expires on its own). */
export function say(state: UiState, text: string, level: 'info' | 'error' = 'info'): UiState {
  return { ...state, status: { id: state.nextSeq, level, text }, nextSeq: state.nextSeq + 1 };
}

/** Apply a key to a one-line text field; null when the key is not an edit. */
export function editText(value: string, key: UiKey): string | null {
  if (key.kind === 'char') return value + key.ch;
  if (key.kind === 'backspace') return [...value].slice(0, -1).join('');
  if (key.kind === 'ctrl-u') return '';
  return null;
}

/** The Send dialog's targets: every listed peer, then "by code". */
export function sendTargets(s: AppSnapshot): string[] {
  return [...s.peers.map((p) => p.fingerprint), BY_CODE];
}

/** A peer's display name by fingerprint (its short id if unlisted). */
export function peerName(s: AppSnapshot, fingerprint: string): string {
  return s.peers.find((p) => p.fingerprint === fingerprint)?.name ?? fingerprint.slice(0, 8);
}
