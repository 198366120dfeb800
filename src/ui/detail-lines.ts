/**
 * The Detail panel's content as lines of segments, fitted to its size: a
 * summary, the code to read out, the handshake (words to compare, peer key,
 * suite), Merkle status per file, the chunk map, and the newest events.
 * What does not fit goes in that order from the bottom: events first, then
 * map rows (the map regroups chunks to the rows it keeps), then files.
 */
import type { FileView, JobView } from '../app/controller.js';
import { ChunkState } from '../engine/transfer/types.js';
import { allChunks, CHUNK_COLOR, CHUNK_GLYPH, CHUNK_NAME, mapRows } from './chunk-map.js';
import {
  fitWidth,
  formatClock,
  formatEta,
  formatRate,
  formatSize,
  fraction,
  type Seg,
  shortFingerprint,
  textWidth,
  truncate,
} from './format.js';
import { pathBadge, stateText } from './job-row.js';

/**
 * Most rows the chunk map takes; more chunks are grouped. Each map cell is a
 * non-ASCII glyph that ink measures and tokenizes on every frame (the map was
 * half of the TUI's CPU in bench/tui.ts at 12 rows); the rest of the panel
 * goes to the events.
 */
export const MAP_MAX_ROWS = 6;

/** A line of the Detail panel with a stable key. */
export interface DetailLine {
  readonly key: string;
  readonly segs: readonly Seg[];
}

function summary(job: JobView, now: number): Seg[] {
  const f = job.state === 'done' ? 1 : fraction(job.bytesDone, job.total);
  const parts = [
    stateText(job, now),
    `${Math.floor(f * 100)}%`,
    job.total > 0 ? `${formatSize(job.bytesDone)} of ${formatSize(job.total)}` : '',
    job.state === 'transferring' ? formatRate(job.rateBps) : '',
    job.state === 'transferring' && job.etaSeconds !== null
      ? `ETA ${formatEta(job.etaSeconds)}`
      : '',
    job.path
      ? `${pathBadge(job)}${job.path.rttMs === null ? '' : ` ${Math.round(job.path.rttMs)} ms`}`
      : '',
    job.priority === 'normal' ? '' : `${job.priority} priority`,
  ].filter((p) => p !== '');
  return [
    { text: job.direction === 'send' ? '↑ ' : '↓ ', color: 'cyan' },
    { text: job.label, bold: true },
    { text: job.direction === 'send' ? ' → ' : ' ← ', dim: true },
    { text: job.peer },
    { text: `  ${parts.join(' · ')}`, dim: true },
  ];
}

function rootSegs(f: FileView): Seg[] {
  switch (f.root) {
    case 'verified':
      return [{ text: '✓ root verified', color: 'green' }];
    case 'mismatch': {
      const chunks = f.mismatched.length > 0 ? `: chunks ${f.mismatched.join(', ')}` : '';
      return [{ text: `✗ root mismatch${chunks}`, color: 'red', bold: true }];
    }
    case 'skipped':
      return [{ text: 'root skipped', dim: true }];
    default:
      return [{ text: 'root streaming', dim: true }];
  }
}

function fileLine(f: FileView, w: number): Seg[] {
  // No chunk count yet (a job known from its record): no leaves to show.
  const leaves = f.chunkCount > 0 ? `${f.leavesVerified}/${f.chunkCount} leaves ` : '';
  const root = rootSegs(f);
  const right = textWidth(leaves) + root.reduce((n, s) => n + textWidth(s.text), 0);
  const nameW = Math.max(8, w - right - 2);
  return [
    { text: `${fitWidth(`${f.path} (${formatSize(f.size)})`, nameW)}  ` },
    { text: leaves, dim: true },
    ...root,
  ];
}

/** Shorter legend names for narrow panels. */
const SHORT_NAME: readonly string[] = ['todo', 'moving', 'written', 'verified', 'failed'];

function legend(w: number): Seg[] {
  const long = w >= 51;
  const gap = w >= 57 ? '  ' : ' ';
  const segs: Seg[] = [];
  for (let s = 0; s < CHUNK_GLYPH.length; s++) {
    const name = (long ? CHUNK_NAME[s] : SHORT_NAME[s]) ?? '';
    segs.push({ text: CHUNK_GLYPH[s] ?? '?', color: CHUNK_COLOR[s] });
    segs.push({ text: ` ${name}${s < CHUNK_GLYPH.length - 1 ? gap : ''}`, dim: true });
  }
  return segs;
}

/** Lines for `job` in `w`×`h` cells (empty-state text when no job is selected). */
export function detailLines(
  job: JobView | undefined,
  w: number,
  h: number,
  now: number,
): DetailLine[] {
  if (h <= 0 || w <= 0) return [];
  if (!job) {
    return [
      {
        key: 'none',
        segs: [{ text: 'Select a transfer to see its chunks, keys and events.', dim: true }],
      },
    ];
  }
  const top: DetailLine[] = [{ key: 'summary', segs: summary(job, now) }];
  if (job.error) {
    top.push({
      key: 'error',
      segs: [{ text: `✗ ${job.error.code}: ${job.error.message}`, color: 'red' }],
    });
  }
  if (job.code) {
    top.push({
      key: 'code',
      segs: [{ text: 'Code to read out: ' }, { text: job.code, bold: true, color: 'yellow' }],
    });
  }
  const hs = job.handshake;
  if (hs) {
    top.push({
      key: 'sas',
      segs: [{ text: 'Words  ' }, { text: hs.sas, bold: true, color: 'yellow' }],
    });
    top.push({
      key: 'peer-key',
      segs: [{ text: `Peer   ${shortFingerprint(hs.fingerprint)} · ${hs.suite}`, dim: true }],
    });
  }
  let room = h - top.length;
  const chunks = allChunks(job.files);
  const files = job.files;
  const fileRows = Math.min(
    files.length,
    Math.max(files.length > 0 ? 1 : 0, Math.min(3, Math.floor(room / 4))),
  );
  room -= fileRows;
  const wantMap = chunks.length > 0 ? Math.min(MAP_MAX_ROWS, Math.ceil(chunks.length / w)) : 1;
  let events = Math.min(job.events.length, Math.max(0, Math.min(4, Math.floor(room / 3))));
  const legendRow = chunks.length > 0 && room - events >= 3 ? 1 : 0;
  const mapRowsN = Math.max(0, Math.min(wantMap, room - events - legendRow));
  events = Math.min(job.events.length, room - legendRow - mapRowsN);
  const lines = [...top];
  files.slice(0, fileRows).forEach((f, i) => {
    const more = (job.fileCount ?? files.length) - fileRows;
    if (i === fileRows - 1 && more > 0) {
      lines.push({ key: `file${i}`, segs: [{ text: `…and ${more + 1} more files`, dim: true }] });
    } else {
      lines.push({ key: `file${i}`, segs: fileLine(f, w) });
    }
  });
  if (chunks.length === 0 && mapRowsN > 0) {
    lines.push({
      key: 'map0',
      segs: [{ text: 'The chunk map appears once the files are known.', dim: true }],
    });
  } else if (mapRowsN > 0) {
    if (legendRow) lines.push({ key: 'legend', segs: legend(w) });
    mapRows(chunks, w, mapRowsN).forEach((runs, r) => {
      lines.push({
        key: `map${r}`,
        segs: runs.map((run) => ({
          text: (CHUNK_GLYPH[run.state] ?? '?').repeat(run.count),
          color: CHUNK_COLOR[run.state],
          bold: run.state === ChunkState.Failed,
        })),
      });
    });
  }
  for (const e of job.events.slice(job.events.length - Math.max(0, events))) {
    lines.push({
      key: `ev${e.at}-${lines.length}`,
      segs: [{ text: `${formatClock(e.at)} `, dim: true }, { text: truncate(e.text, w - 9) }],
    });
  }
  return lines.slice(0, h);
}
