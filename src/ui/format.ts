/**
 * Small text formatters for the TUI: sizes, rates, times, bars, and fitting
 * text to a column width. Widths count terminal cells (a CJK character or an
 * emoji takes two), so columns line up whatever a file is called.
 */

/** A piece of a line with its style. */
export interface Seg {
  readonly text: string;
  readonly color?: string;
  readonly bold?: boolean;
  readonly dim?: boolean;
  readonly inverse?: boolean;
}

/** The frames of the spinner on waiting rows (cli-spinners' "dots"). */
export const SPINNER_FRAMES = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏';

/**
 * The spinner's glyph at animation frame `frame`. The UI has one frame count
 * for every spinner, moved on by the snapshot poll (see use-snapshot.ts),
 * not a timer per spinner.
 */
export function spinnerGlyph(frame: number): string {
  const n = SPINNER_FRAMES.length;
  return SPINNER_FRAMES[((Math.floor(frame) % n) + n) % n] ?? '⠋';
}

/** Terminal cells taken by one code point (0 for combining marks, 2 for wide ones). */
export function cellWidth(cp: number): number {
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return 0;
  if (
    (cp >= 0x300 && cp <= 0x36f) ||
    (cp >= 0x200b && cp <= 0x200f) ||
    (cp >= 0xfe00 && cp <= 0xfe0f)
  ) {
    return 0;
  }
  if (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1faff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  ) {
    return 2;
  }
  return 1;
}

/** Terminal cells taken by a string. */
export function textWidth(s: string): number {
  let w = 0;
  for (const ch of s) w += cellWidth(ch.codePointAt(0) ?? 0);
  return w;
}

/** Cut `s` to at most `width` cells, ending in `…` when something was cut. */
export function truncate(s: string, width: number): string {
  if (width <= 0) return '';
  if (textWidth(s) <= width) return s;
  let out = '';
  let w = 0;
  for (const ch of s) {
    const cw = cellWidth(ch.codePointAt(0) ?? 0);
    if (w + cw > width - 1) break;
    out += ch;
    w += cw;
  }
  return `${out}…`;
}

/** Exactly `width` cells: truncated, then padded with spaces (on the left if `right`). */
export function fitWidth(s: string, width: number, right = false): string {
  const t = truncate(s, width);
  const pad = ' '.repeat(Math.max(0, width - textWidth(t)));
  return right ? pad + t : t + pad;
}

/** Segments cut to at most `width` cells; padded to exactly `width` when `pad`. */
export function fitSegs(segs: readonly Seg[], width: number, pad = true): Seg[] {
  const out: Seg[] = [];
  let left = width;
  for (const s of segs) {
    if (left <= 0) break;
    const w = textWidth(s.text);
    if (w <= left) {
      out.push(s);
      left -= w;
    } else {
      out.push({ ...s, text: truncate(s.text, left) });
      left = 0;
    }
  }
  if (pad && left > 0) out.push({ text: ' '.repeat(left) });
  return mergeSegs(out);
}

function sameStyle(a: Seg, b: Seg): boolean {
  return (
    a.color === b.color &&
    !!a.bold === !!b.bold &&
    !!a.dim === !!b.dim &&
    !!a.inverse === !!b.inverse
  );
}

/** Adjacent segments of the same style joined (fewer nested Texts for ink to style). */
export function mergeSegs(segs: readonly Seg[]): Seg[] {
  const out: Seg[] = [];
  for (const s of segs) {
    const last = out.at(-1);
    if (last && sameStyle(last, s)) {
      out[out.length - 1] = { ...last, text: last.text + s.text };
    } else {
      out.push(s);
    }
  }
  return out;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** `512 B`, `1.5 MiB`, `64 GiB` (binary units, at most 8 cells). */
export function formatSize(n: number): string {
  let v = Math.max(0, n);
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${Math.round(v)} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${UNITS[i]}`;
}

/** `3.1 MiB/s`, or an empty string when nothing moves. */
export function formatRate(bps: number): string {
  return bps > 0 ? `${formatSize(bps)}/s` : '';
}

/** `45s`, `3m05s`, `2h04m`, or `` when unknown. */
export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds) || seconds < 0) return '';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 100 * 3600) {
    return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  }
  return '>4d';
}

/** How long ago: `now`, `12s ago`, `2m ago`, `3h ago`, `2d ago`, or `never`. */
export function formatAgo(at: number | null, now: number): string {
  if (at === null) return 'never';
  const s = Math.floor((now - at) / 1000);
  if (s < 5) return 'now';
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

/** Seconds until `at`, rounded up, never negative. */
export function secondsUntil(at: number, now: number): number {
  return Math.max(0, Math.ceil((at - now) / 1000));
}

/** `HH:MM:SS` local time. */
export function formatClock(at: number): string {
  const d = new Date(at);
  return [d.getHours(), d.getMinutes(), d.getSeconds()]
    .map((n) => String(n).padStart(2, '0'))
    .join(':');
}

/** A progress bar of `width` cells (`█` done, `░` to do): readable without colour. */
export function bar(fraction: number, width: number): string {
  if (width <= 0) return '';
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const filled = Math.round(f * width);
  return '█'.repeat(filled) + '░'.repeat(width - filled);
}

/** Fraction done of a job, 0 when the total is not known yet. */
export function fraction(done: number, total: number): number {
  return total > 0 ? Math.min(1, done / total) : 0;
}

/** `a1b2 c3d4 e5f6 a7b8…`: the first 16 hex digits of a fingerprint, grouped. */
export function shortFingerprint(fp: string): string {
  const head =
    fp
      .slice(0, 16)
      .match(/.{1,4}/g)
      ?.join(' ') ?? '';
  return fp.length > 16 ? `${head}…` : head;
}

/** Split `text` into lines of at most `width` cells, at spaces (a longer word gets its own line). */
export function wrapWords(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (word === '') continue;
    if (line !== '' && textWidth(line) + 1 + textWidth(word) > width) {
      out.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') out.push(line);
  return out;
}
