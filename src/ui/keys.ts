/**
 * Ink's `useInput` callback arguments turned into a list of `UiKey`s.
 *
 * Ink delivers a run of plain characters as one `input` ("jjj", or "j\r"
 * when a key and Enter arrive in one read), so a chunk becomes one key per
 * character; escape sequences (arrows, Shift+Tab) come one per call.
 */
import type { Key } from 'ink';
import type { UiKey } from './ui-state.js';

/** The flags of ink's `Key` that matter here (tests pass only some). */
export type KeyFlags = Partial<
  Pick<
    Key,
    | 'upArrow'
    | 'downArrow'
    | 'leftArrow'
    | 'rightArrow'
    | 'pageUp'
    | 'pageDown'
    | 'home'
    | 'end'
    | 'return'
    | 'escape'
    | 'ctrl'
    | 'shift'
    | 'tab'
    | 'backspace'
    | 'delete'
  >
>;

/** One key per character of a plain chunk; control characters get their names. */
function charsToKeys(input: string): UiKey[] {
  const keys: UiKey[] = [];
  for (const ch of input) {
    if (ch === '\r' || ch === '\n') keys.push({ kind: 'return' });
    else if (ch === '\t') keys.push({ kind: 'tab' });
    else if (ch === '\x7f' || ch === '\b') keys.push({ kind: 'backspace' });
    else if (ch === '\x03') keys.push({ kind: 'ctrl-c' });
    else if (ch === '\x15') keys.push({ kind: 'ctrl-u' });
    else if (ch === '\x1b') keys.push({ kind: 'escape' });
    else if (ch >= ' ') keys.push({ kind: 'char', ch });
  }
  return keys;
}

/** Normalise one `useInput` call. */
export function toUiKeys(input: string, key: KeyFlags): UiKey[] {
  if (key.upArrow) return [{ kind: 'up' }];
  if (key.downArrow) return [{ kind: 'down' }];
  if (key.leftArrow) return [{ kind: 'left' }];
  if (key.rightArrow) return [{ kind: 'right' }];
  if (key.pageUp) return [{ kind: 'pageup' }];
  if (key.pageDown) return [{ kind: 'pagedown' }];
  if (key.home) return [{ kind: 'home' }];
  if (key.end) return [{ kind: 'end' }];
  if (key.tab) return [{ kind: key.shift ? 'backtab' : 'tab' }];
  if (key.escape) return [{ kind: 'escape' }];
  if (key.backspace || key.delete) return [{ kind: 'backspace' }];
  if (key.ctrl) {
    if (input === 'c') return [{ kind: 'ctrl-c' }];
    if (input === 'u') return [{ kind: 'ctrl-u' }];
    // Ctrl+J and Ctrl+M are Enter on some terminals.
    if (input === 'j' || input === 'm') return [{ kind: 'return' }];
    return [];
  }
  if (key.return && input.length <= 1) return [{ kind: 'return' }];
  return charsToKeys(input);
}
