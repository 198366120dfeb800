/**
 * The Detail panel's chunk map: one cell per chunk, or per group of chunks
 * when there are more chunks than cells. A group shows its worst state:
 * failed if any chunk failed, else the least advanced one (a group is only
 * "verified" when all of it is).
 */
import type { FileView } from '../app/controller.js';
import { ChunkState } from '../engine/transfer/types.js';

/** Glyph per ChunkState, distinct without colour. */
export const CHUNK_GLYPH: readonly string[] = ['·', '░', '▒', '█', '✗'];

/** Colour per ChunkState. */
export const CHUNK_COLOR: readonly (string | undefined)[] = [
  'gray',
  'yellow',
  'blue',
  'green',
  'red',
];

/** Legend names per ChunkState. */
export const CHUNK_NAME: readonly string[] = [
  'pending',
  'in flight',
  'written',
  'verified',
  'failed',
];

/** Every file's chunk states, one after the other. */
export function allChunks(files: readonly FileView[]): Uint8Array {
  if (files.length === 1 && files[0]) return files[0].chunks;
  let n = 0;
  for (const f of files) n += f.chunks.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const f of files) {
    out.set(f.chunks, at);
    at += f.chunks.length;
  }
  return out;
}

/** `cells` group states for `chunks` (the chunks themselves when they fit). */
export function groupChunks(chunks: Uint8Array, cells: number): Uint8Array {
  const n = chunks.length;
  if (n === 0 || cells <= 0) return new Uint8Array(0);
  if (n <= cells) return chunks;
  const out = new Uint8Array(cells);
  for (let i = 0; i < cells; i++) {
    const to = Math.floor(((i + 1) * n) / cells);
    let worst: number = ChunkState.Verified;
    for (let j = Math.floor((i * n) / cells); j < to; j++) {
      const c = chunks[j] ?? 0;
      if (c === ChunkState.Failed) {
        worst = c;
        break;
      }
      if (c < worst) worst = c;
    }
    out[i] = worst;
  }
  return out;
}

/** A run of equal cells on one row of the map. */
export interface MapRun {
  readonly state: number;
  readonly count: number;
}

/** Rows of runs: the map for `chunks` in at most `width`×`maxRows` cells. */
export function mapRows(chunks: Uint8Array, width: number, maxRows: number): MapRun[][] {
  if (width <= 0 || maxRows <= 0 || chunks.length === 0) return [];
  const rows = Math.min(maxRows, Math.ceil(chunks.length / width));
  const cells = groupChunks(chunks, Math.min(chunks.length, width * rows));
  const out: MapRun[][] = [];
  for (let r = 0; r * width < cells.length; r++) {
    const runs: MapRun[] = [];
    const end = Math.min(cells.length, (r + 1) * width);
    let i = r * width;
    while (i < end) {
      const state = cells[i] ?? 0;
      let j = i + 1;
      while (j < end && cells[j] === state) j++;
      runs.push({ state, count: j - i });
      i = j;
    }
    out.push(runs);
  }
  return out;
}
