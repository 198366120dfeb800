import { Box, Text } from 'ink';
import { describe, expect, it } from 'vitest';
import type { Seg } from '../../src/ui/format.js';
import { Lines, Row } from '../../src/ui/Row.js';
import { GLYPHS, restoreGlyphs, STAND_IN, toStandIns } from '../../src/ui/stand-ins.js';
import { renderTui } from './render-tui.js';

const text = (segs: readonly Seg[]) => segs.map((s) => s.text).join('');

describe('ASCII stand-ins for glyphs', () => {
  it('swaps each UI glyph for the stand-in and records where it was', () => {
    const segs: Seg[] = [
      { text: '› ', bold: true },
      { text: '↑', color: 'magenta' },
      { text: ' a·b ' },
      { text: '███░░', color: 'cyan' },
    ];
    const s = toStandIns(segs);
    expect(s).not.toBeNull();
    expect(text(s?.segs ?? [])).toBe('# # a#b #####');
    expect(s?.at).toEqual([0, 2, 5, 8, 9, 10, 11, 12]);
    expect(s?.glyphs.join('')).toBe('›↑·███░░');
    // Styles stay with their segments; untouched segments are the same objects.
    expect(s?.segs.map((x) => x.color)).toEqual([undefined, 'magenta', undefined, 'cyan']);
    expect(s?.segs[0]?.bold).toBe(true);
  });

  it('leaves plain ASCII rows as they are', () => {
    const segs: Seg[] = [{ text: 'hello ' }, { text: 'world', dim: true }];
    const s = toStandIns(segs);
    expect(s?.segs).toBe(segs);
    expect(s?.at).toEqual([]);
  });

  it('gives up on text ink must measure itself: other scripts, emoji, wide and control characters', () => {
    for (const t of ['Grüße', '照片.jpg', 'party 🎉', 'e\u0301', 'tab\there', 'esc\u001B[2J']) {
      expect(toStandIns([{ text: '↑ ' }, { text: t }])).toBeNull();
    }
  });

  it('puts the glyphs back around SGR escape sequences, as ink styles the line', () => {
    const segs: Seg[] = [{ text: '› ' }, { text: '↑', color: 'magenta' }, { text: ' x ██░' }];
    const s = toStandIns(segs);
    if (!s) throw new Error('expected stand-ins');
    const styled = `\u001B[1m# \u001B[22m\u001B[35m#\u001B[39m x \u001B[38;2;0;255;255m##\u001B[39m#`;
    expect(restoreGlyphs(styled, s)).toBe(
      `\u001B[1m› \u001B[22m\u001B[35m↑\u001B[39m x \u001B[38;2;0;255;255m██\u001B[39m░`,
    );
    expect(restoreGlyphs('# # x ###', s)).toBe('› ↑ x ██░');
    // A place that does not hold a stand-in (ink changed the line) is left alone.
    expect(restoreGlyphs('# ! x', s)).toBe('› ! x');
  });

  it('only lists glyphs of one cell and one UTF-16 code unit', () => {
    for (const g of GLYPHS) {
      expect(g.length).toBe(1);
      expect(g).not.toBe(STAND_IN);
    }
  });
});

describe('Row', () => {
  const cases: Seg[][] = [
    [
      { text: '› ', bold: true, color: 'cyan' },
      { text: '↑', color: 'magenta' },
      { text: '▲ a.bin' },
    ],
    [{ text: '█████░░░░░', color: 'cyan' }, { text: ' 45% ·' }, { text: '✗ failed', color: 'red' }],
    [{ text: '┏━ ' }, { text: 'Queue (3)', bold: true }, { text: ' ━━━━┓' }],
    [{ text: '↓ Grüße.txt' }, { text: ' ██' }],
    [{ text: 'plain ascii' }],
  ];

  it('draws glyph rows exactly as ink draws the same segments', async () => {
    for (const segs of cases) {
      const row = renderTui(<Row segs={segs} width={30} />, 40, 3);
      const plain = renderTui(
        <Text wrap="truncate">
          {segs.map((s) => (
            <Text key={s.text} color={s.color} bold={s.bold}>
              {s.text}
            </Text>
          ))}
        </Text>,
        40,
        3,
      );
      expect(row.stdout.frames.at(-1)).toBe(plain.stdout.frames.at(-1));
      expect(row.lastFrame()).toBe(text(segs));
      await row.unmount();
      await plain.unmount();
    }
  });

  it('draws every glyph of the stand-in set where ink draws it', async () => {
    const all = [...GLYPHS].join('');
    const segs: Seg[] = [{ text: `a${all}b` }];
    const row = renderTui(<Row segs={segs} width={all.length + 2} />, all.length + 10, 3);
    const plain = renderTui(<Text>{`a${all}b`}</Text>, all.length + 10, 3);
    expect(row.stdout.frames.at(-1)).toBe(plain.stdout.frames.at(-1));
    expect(row.lastFrame()).toBe(`a${all}b`);
    await row.unmount();
    await plain.unmount();
  });

  it('cuts a row that is too wide, glyphs and all', async () => {
    const t = renderTui(<Row segs={[{ text: '↑ abc ██████████' }]} width={9} />, 40, 3);
    expect(t.lastFrame()).toBe('↑ abc ██…');
    await t.unmount();
  });
});

describe('Lines', () => {
  it('draws runs of glyph lines and lines ink must measure itself, in order, each in its place', async () => {
    const lines: Seg[][] = [
      [{ text: '› ↑ one.bin ' }, { text: '██░░', color: 'cyan' }],
      [{ text: '  ↓ two.bin ' }, { text: '█░░░', color: 'cyan' }],
      [{ text: '  ↑ 照片.jpg ' }, { text: '░░░░', color: 'cyan' }],
      [{ text: '  ↓ three.bin ·' }],
      [],
      [{ text: '  ↑ Grüße ✓' }],
    ];
    const t = renderTui(<Lines lines={lines} width={20} />, 30, 10);
    expect(t.lastFrame().split('\n')).toEqual([
      '› ↑ one.bin ██░░',
      '  ↓ two.bin █░░░',
      '  ↑ 照片.jpg ░░░░',
      '  ↓ three.bin ·',
      '',
      '  ↑ Grüße ✓',
    ]);
    await t.unmount();
  });

  it('pads every line to the width when asked, covering what is under it (dialogs)', async () => {
    const t = renderTui(
      <Box flexDirection="column">
        <Text>XXXXXXXX</Text>
        <Text>XXXXXXXX</Text>
        <Box position="absolute" flexDirection="column">
          <Lines lines={[[{ text: '↑ a' }], [{ text: 'b ✗' }]]} width={6} pad />
        </Box>
      </Box>,
      10,
      4,
    );
    expect(t.lastFrame().split('\n')).toEqual(['↑ a   XX', 'b ✗   XX']);
    await t.unmount();
  });
});
