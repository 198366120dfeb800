/**
 * ASCII stand-ins for the UI's own glyphs, so that ink measures a row on its
 * fast path. ink measures every text node with string-width, twice a frame
 * when the text changed (layout, then output); a line that is printable ASCII
 * is measured with one regular expression, any other line is cut into
 * graphemes and each is matched against Unicode property classes (~1 µs per
 * character). Nearly every row of the TUI has a glyph (an arrow, a bar, a
 * border, a `·`), so that was a fifth of the TUI's CPU in bench/tui.ts.
 *
 * A row made only of printable ASCII and the glyphs below is handed to ink
 * with each glyph replaced by `STAND_IN`; a transform puts the glyphs back
 * after ink measured the line and before it draws it. Every glyph here takes
 * one cell for string-width and for ink's tokenizer alike, and one UTF-16
 * code unit, so the line's width and the glyphs' places do not change. Any
 * other character (a file name in another script, an emoji) and the row is
 * drawn as it is.
 */
import type { Seg } from './format.js';

/** Single-cell glyphs the UI draws (borders, arrows, bars, chunk map, marks, spinner frames). */
export const GLYPHS: ReadonlySet<string> = new Set('·×–—…›‹•←↑→↓−─━│┃┏┓┗┛╭╮╰╯█░▒▲▼○●✓✗⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏');

/** What ink is given in place of a glyph. */
export const STAND_IN = '#';

/** A row with its glyphs swapped for stand-ins, and where they go back. */
export interface StandIns {
  readonly segs: readonly Seg[];
  /** Offsets of the glyphs in the row's visible text (UTF-16 code units), ascending. */
  readonly at: readonly number[];
  readonly glyphs: readonly string[];
}

function isPrintableAscii(c: number): boolean {
  return c >= 0x20 && c <= 0x7e;
}

/**
 * `segs` with every glyph of `GLYPHS` replaced by `STAND_IN`; null when some
 * text is neither printable ASCII nor such a glyph (ink must measure it).
 */
export function toStandIns(segs: readonly Seg[]): StandIns | null {
  const at: number[] = [];
  const glyphs: string[] = [];
  let offset = 0;
  let out: Seg[] | null = null;
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i] as Seg;
    const text = seg.text;
    let swapped = '';
    let from = 0;
    for (let j = 0; j < text.length; j++) {
      if (isPrintableAscii(text.charCodeAt(j))) continue;
      const ch = text[j] as string;
      if (!GLYPHS.has(ch)) return null;
      at.push(offset + j);
      glyphs.push(ch);
      swapped += text.slice(from, j) + STAND_IN;
      from = j + 1;
    }
    if (from > 0) {
      out ??= segs.slice(0, i);
      out.push({ ...seg, text: swapped + text.slice(from) });
    } else if (out) {
      out.push(seg);
    }
    offset += text.length;
  }
  return { segs: out ?? segs, at, glyphs };
}

/**
 * `line` (the stand-in text as ink styled it, with SGR escape sequences) with
 * the glyphs put back at their offsets. A place that does not hold a stand-in
 * is left alone.
 */
export function restoreGlyphs(line: string, s: StandIns): string {
  const { at, glyphs } = s;
  if (at.length === 0) return line;
  let out = '';
  let from = 0;
  let visible = 0;
  let g = 0;
  for (let i = 0; i < line.length && g < at.length; i++) {
    if (line.charCodeAt(i) === 0x1b) {
      // ESC [ parameters final-byte: skip to the final byte (0x40–0x7e).
      let j = i + 2;
      while (j < line.length) {
        const c = line.charCodeAt(j);
        if (c >= 0x40 && c <= 0x7e) break;
        j++;
      }
      i = j;
      continue;
    }
    if (visible === at[g]) {
      if (line[i] === STAND_IN) {
        out += line.slice(from, i) + glyphs[g];
        from = i + 1;
      }
      g++;
    }
    visible++;
  }
  return from === 0 ? line : out + line.slice(from);
}
