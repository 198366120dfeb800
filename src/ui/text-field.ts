/** A one-line text field as segments: label, the value's tail that fits, and a cursor when focused. */
import type { DetailLine } from './detail-lines.js';
import { type Seg, textWidth, wrapWords } from './format.js';

/** The end of `value` that fits in `width` cells, led by `…` when cut. */
export function tail(value: string, width: number): string {
  if (width <= 0) return '';
  if (textWidth(value) <= width) return value;
  const chars = [...value];
  let out = '';
  for (let i = chars.length - 1; i >= 0; i--) {
    const next = (chars[i] ?? '') + out;
    if (textWidth(next) > width - 1) break;
    out = next;
  }
  return `…${out}`;
}

/** `› Label  value█` (the cursor and marker only when focused). */
export function fieldSegs(label: string, value: string, width: number, focused: boolean): Seg[] {
  const head = `${focused ? '›' : ' '} ${label} `;
  const room = Math.max(1, width - textWidth(head) - 1);
  return [
    { text: head, bold: focused, color: focused ? 'cyan' : undefined },
    { text: tail(value, room) },
    { text: focused ? '█' : '', color: 'cyan' },
  ];
}

/** Most lines an error takes in a dialog. */
const ERROR_LINES = 4;

/** A dialog's error message, wrapped to `width` (controller messages can be long). */
export function errorLines(error: string | null, width: number): DetailLine[] {
  if (!error) return [];
  const lines = wrapWords(error, width);
  const shown = lines.slice(0, ERROR_LINES);
  if (lines.length > ERROR_LINES) shown[ERROR_LINES - 1] = `${shown[ERROR_LINES - 1]} …`;
  return shown.map((text, i) => ({ key: `error${i}`, segs: [{ text, color: 'red' }] }));
}
