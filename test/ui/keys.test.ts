import { describe, expect, it } from 'vitest';
import { toUiKeys } from '../../src/ui/keys.js';

describe('toUiKeys', () => {
  it('splits a chunk of typed characters into one key each, Enter and Tab included', () => {
    expect(toUiKeys('jj\r', {})).toEqual([
      { kind: 'char', ch: 'j' },
      { kind: 'char', ch: 'j' },
      { kind: 'return' },
    ]);
    expect(toUiKeys('a\tb\u007f', {})).toEqual([
      { kind: 'char', ch: 'a' },
      { kind: 'tab' },
      { kind: 'char', ch: 'b' },
      { kind: 'backspace' },
    ]);
    expect(toUiKeys('日本', {})).toEqual([
      { kind: 'char', ch: '日' },
      { kind: 'char', ch: '本' },
    ]);
  });

  it('maps ink key flags to named keys', () => {
    expect(toUiKeys('', { upArrow: true })).toEqual([{ kind: 'up' }]);
    expect(toUiKeys('', { downArrow: true })).toEqual([{ kind: 'down' }]);
    expect(toUiKeys('', { pageDown: true })).toEqual([{ kind: 'pagedown' }]);
    expect(toUiKeys('\t', { tab: true })).toEqual([{ kind: 'tab' }]);
    expect(toUiKeys('', { tab: true, shift: true })).toEqual([{ kind: 'backtab' }]);
    expect(toUiKeys('', { escape: true, meta: true } as never)).toEqual([{ kind: 'escape' }]);
    expect(toUiKeys('', { delete: true })).toEqual([{ kind: 'backspace' }]);
    expect(toUiKeys('\r', { return: true })).toEqual([{ kind: 'return' }]);
    expect(toUiKeys('c', { ctrl: true })).toEqual([{ kind: 'ctrl-c' }]);
    expect(toUiKeys('u', { ctrl: true })).toEqual([{ kind: 'ctrl-u' }]);
    expect(toUiKeys('x', { ctrl: true })).toEqual([]);
    expect(toUiKeys('A', { shift: true })).toEqual([{ kind: 'char', ch: 'A' }]);
  });
});
