import { describe, expect, it } from 'vitest';
import {
  bar,
  fitSegs,
  fitWidth,
  formatAgo,
  formatEta,
  formatRate,
  formatSize,
  mergeSegs,
  SPINNER_FRAMES,
  shortFingerprint,
  spinnerGlyph,
  textWidth,
  truncate,
  wrapWords,
} from '../../src/ui/format.js';

describe('ui format', () => {
  it('counts terminal cells, wide characters as two', () => {
    expect(textWidth('abc')).toBe(3);
    expect(textWidth('日本語')).toBe(6);
    expect(textWidth('e\u0301')).toBe(1);
    expect(textWidth('📁x')).toBe(3);
  });

  it('truncates with an ellipsis and pads to an exact width', () => {
    expect(truncate('report.pdf', 6)).toBe('repor…');
    expect(truncate('abc', 3)).toBe('abc');
    expect(truncate('abc', 0)).toBe('');
    expect(fitWidth('ab', 4)).toBe('ab  ');
    expect(fitWidth('ab', 4, true)).toBe('  ab');
    expect(textWidth(fitWidth('日本語のファイル', 7))).toBe(7);
  });

  it('fits segments to a width, cutting the one that overflows and padding the end', () => {
    const out = fitSegs([{ text: 'abc', bold: true }, { text: 'defgh' }, { text: 'ij' }], 6);
    expect(out.map((s) => s.text).join('')).toBe('abcde…');
    expect(out[0]?.bold).toBe(true);
    expect(
      fitSegs([{ text: 'a' }], 3)
        .map((s) => s.text)
        .join(''),
    ).toBe('a  ');
    expect(fitSegs([{ text: '⠋', color: 'cyan' }, { text: 'ab' }], 2)).toEqual([
      { text: '⠋', color: 'cyan' },
      { text: '…' },
    ]);
    expect(fitSegs([{ text: 'a' }], 3, false)).toEqual([{ text: 'a' }]);
  });

  it('joins adjacent segments of the same style', () => {
    expect(
      mergeSegs([
        { text: 'a' },
        { text: 'b' },
        { text: 'c', color: 'red' },
        { text: 'd', color: 'red' },
        { text: 'e', color: 'red', bold: true },
      ]),
    ).toEqual([
      { text: 'ab' },
      { text: 'cd', color: 'red' },
      { text: 'e', color: 'red', bold: true },
    ]);
  });

  it('turns the spinner one frame per animation frame, round and round', () => {
    const frames = Array.from({ length: 12 }, (_, i) => spinnerGlyph(i));
    expect(frames.join('')).toBe(`${SPINNER_FRAMES}${SPINNER_FRAMES.slice(0, 2)}`);
    expect(new Set(frames).size).toBe(10);
    expect(spinnerGlyph(-1)).toBe('⠏');
  });

  it('formats sizes, rates, ETAs and ages', () => {
    expect(formatSize(512)).toBe('512 B');
    expect(formatSize(1.5 * 1024 * 1024)).toBe('1.5 MiB');
    expect(formatSize(64 * 1024 ** 3)).toBe('64 GiB');
    expect(formatRate(0)).toBe('');
    expect(formatRate(3 * 1024 * 1024)).toBe('3.0 MiB/s');
    expect(formatEta(null)).toBe('');
    expect(formatEta(45)).toBe('45s');
    expect(formatEta(185)).toBe('3m05s');
    expect(formatEta(7440)).toBe('2h04m');
    const now = 1_000_000_000;
    expect(formatAgo(null, now)).toBe('never');
    expect(formatAgo(now - 1000, now)).toBe('now');
    expect(formatAgo(now - 12_000, now)).toBe('12s ago');
    expect(formatAgo(now - 120_000, now)).toBe('2m ago');
    expect(formatAgo(now - 3 * 3600_000, now)).toBe('3h ago');
    expect(formatAgo(now - 2 * 86_400_000, now)).toBe('2d ago');
  });

  it('draws bars, fingerprints and wraps words', () => {
    expect(bar(0.5, 10)).toBe('█████░░░░░');
    expect(bar(2, 4)).toBe('████');
    expect(bar(Number.NaN, 3)).toBe('░░░');
    expect(shortFingerprint('a1b2c3d4e5f6a7b8c9d0')).toBe('a1b2 c3d4 e5f6 a7b8…');
    expect(wrapWords('compare these words with the sender', 14)).toEqual([
      'compare these',
      'words with the',
      'sender',
    ]);
  });
});
