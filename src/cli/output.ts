/**
 * What the headless commands print. Humans get a one-line progress bar on a
 * TTY (redrawn at most 10 times a second) and plain lines otherwise; `--json`
 * gets one JSON object per line, built from the engine's typed events, so the
 * format is stable for scripts.
 */
import { sep } from 'node:path';
import type { ErrorCode } from '../engine/errors.js';
import type { TransferEvent, TransferSummary } from '../engine/transfer/types.js';
import type { LinkInfo } from '../engine/transport/link.js';

/** Documented exit codes. */
export const ExitCode = { Ok: 0, Failed: 1, Usage: 2, Interrupted: 130 } as const;

/**
 * A received name made safe to show in a terminal: bidi controls, zero-width
 * and other invisible format characters are written as `\u{…}`, so a name
 * like `invoice\u{202E}fdp.exe` cannot pose as `invoiceexe.pdf` in the
 * accept prompt. (Control characters never get this far: the engine refuses
 * such names.)
 */
export function displayName(name: string): string {
  return name.replace(
    // biome-ignore lint/suspicious/noMisleadingCharacterClass: matching joiners and variation selectors one by one is the point
    /[\u00AD\u061C\u115F\u1160\u17B4\u17B5\u180E\u200B-\u200F\u202A-\u202E\u2060-\u206F\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF9-\uFFFB]/gu,
    (c) => `\\u{${c.codePointAt(0)!.toString(16).toUpperCase()}}`,
  );
}

/** `1.5 MiB`, `230 B`. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** What a send carries, for its first line: `a.txt (6 B)`, `3 files (2.0 MiB) and 1 empty folder(s)`. */
export function describeSources(
  files: readonly { readonly path: string; readonly size: number }[],
  dirs: readonly string[],
): string {
  const total = files.reduce((n, f) => n + f.size, 0);
  return (
    `${files.length === 1 ? files[0]!.path : `${files.length} files`} (${formatBytes(total)})` +
    (dirs.length > 0 ? ` and ${dirs.length} empty folder(s)` : '')
  );
}

/** `1:05`, `2:03:04`, `--:--` when unknown. */
export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '--:--';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** A progress line that fits `width` columns. */
export function progressLine(
  bytes: number,
  total: number,
  rateBps: number,
  eta: number | null,
  width: number,
): string {
  const pct = total > 0 ? Math.min(1, bytes / total) : 1;
  const tail = ` ${(pct * 100).toFixed(0).padStart(3)}% ${formatBytes(bytes)}/${formatBytes(total)} ${formatBytes(rateBps)}/s ETA ${formatEta(eta)}`;
  const barWidth = Math.max(10, Math.min(40, width - tail.length - 2));
  const filled = Math.round(pct * barWidth);
  return `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]${tail}`.slice(
    0,
    Math.max(width - 1, 20),
  );
}

/** One `--json` line for an engine event, or null for events scripts don't get. */
export function jsonForEvent(e: TransferEvent): Record<string, unknown> | null {
  switch (e.type) {
    case 'handshake':
      return {
        type: 'handshake',
        peer_fingerprint: e.peer.fingerprint,
        sas: e.peer.sas,
        suite: e.peer.suite,
      };
    case 'started':
      return {
        type: 'started',
        transfer_id: e.transferId,
        files: e.files.map((f) => ({ path: f.path, size: f.size })),
        total: e.total,
        resumed_bytes: e.resumedBytes,
      };
    case 'progress':
      return { type: 'progress', bytes: e.bytes, total: e.total, rate_bps: Math.round(e.rateBps) };
    case 'file-verified':
      return {
        type: 'file-verified',
        path: e.path,
        merkle_root: e.root,
        ...(e.savedAs ? { saved_as: e.savedAs } : {}),
      };
    case 'chunks-refetched':
      return { type: 'chunks-refetched', file: e.file, chunks: e.chunks, reason: e.reason };
    case 'paused':
    case 'resumed':
      return { type: e.type, by: e.by };
    case 'completed':
      return completedJson(e.summary);
    case 'failed':
      return errorJson(e.code, e.message);
    case 'cancelled':
      return errorJson('CANCELLED', e.reason);
  }
}

/** The `completed` line. */
export function completedJson(s: TransferSummary): Record<string, unknown> {
  return {
    type: 'completed',
    files: s.files.map((f) => ({
      path: f.path,
      size: f.size,
      merkle_root: f.merkleRoot,
      ...(f.savedAs ? { saved_as: f.savedAs } : {}),
    })),
    bytes_transferred: s.bytesTransferred,
    bytes_skipped: s.bytesSkipped,
  };
}

/** The `error` line. */
export function errorJson(code: ErrorCode | string, message: string): Record<string, unknown> {
  return { type: 'error', code, message };
}

/** Writes human or JSON output for one command. */
/** How many files an offer or a run lists by name before it summarises. */
export const LISTED_FILES = 20;

/** Whether `savedAs` ends with the offered relative `path` (no ` (1)` added). */
function savedUnderOwnName(path: string, savedAs: string): boolean {
  return savedAs.endsWith(sep + path.split('/').join(sep));
}

export class Reporter {
  readonly json: boolean;
  /** Files verified so far (human mode lists the first LISTED_FILES). */
  #verified = 0;
  readonly #out: NodeJS.WriteStream;
  readonly #err: NodeJS.WriteStream;
  #barShown = false;
  #lastBar = 0;
  readonly #tags: Readonly<Record<string, unknown>>;

  constructor(
    json: boolean,
    out: NodeJS.WriteStream = process.stdout,
    err: NodeJS.WriteStream = process.stderr,
    tags: Readonly<Record<string, unknown>> = {},
  ) {
    this.json = json;
    this.#out = out;
    this.#err = err;
    this.#tags = tags;
  }

  /**
   * A reporter whose JSON lines also carry `tags` (read at each line, so the
   * caller may fill them in later), e.g. which transfer a line belongs to
   * when several run at once.
   */
  tagged(tags: Readonly<Record<string, unknown>>): Reporter {
    return new Reporter(this.json, this.#out, this.#err, tags);
  }

  /** Emit a JSON line (json mode only). */
  line(obj: Record<string, unknown>): void {
    if (!this.json) return;
    this.#out.write(`${JSON.stringify({ type: obj['type'], ...this.#tags, ...obj })}\n`);
  }

  /** Human text (human mode only), on stderr so stdout stays clean for pipes. */
  say(text: string): void {
    if (this.json) return;
    this.#clearBar();
    this.#err.write(`${text}\n`);
  }

  /** A warning the user must see: on stderr in both modes. */
  warn(text: string): void {
    this.#clearBar();
    this.#err.write(`${text}\n`);
  }

  /** Human output that is the command's result (lists, ids): stdout, human mode only. */
  print(text: string): void {
    if (this.json) return;
    this.#clearBar();
    this.#out.write(`${text}\n`);
  }

  /** Redraw the progress bar (TTY only, ≤ 10 Hz unless `force`). */
  bar(bytes: number, total: number, rate: number, eta: number | null, force = false): void {
    if (this.json || !this.#err.isTTY) return;
    const now = Date.now();
    if (!force && now - this.#lastBar < 100) return;
    this.#lastBar = now;
    this.#err.write(`\r${progressLine(bytes, total, rate, eta, this.#err.columns ?? 80)}\x1b[K`);
    this.#barShown = true;
  }

  #clearBar(): void {
    if (this.#barShown) this.#err.write('\r\x1b[K');
    this.#barShown = false;
  }

  /** Report the path a connection took (`connected` line / human note). */
  connected(info: LinkInfo): void {
    const rtt = info.rttMs === undefined ? null : Math.round(info.rttMs * 10) / 10;
    this.line({ type: 'connected', path: info.path, transport: info.transport, rtt_ms: rtt });
    this.say(`connected (${info.path}, ${info.transport}${rtt === null ? '' : `, rtt ${rtt} ms`})`);
  }

  /** Report an engine event. */
  event(e: TransferEvent): void {
    if (this.json) {
      const j = jsonForEvent(e);
      // Progress lines are throttled by the engine (≤ 5 per second).
      if (j) this.line(j);
      return;
    }
    switch (e.type) {
      case 'progress':
        this.bar(e.bytes, e.total, e.rateBps, e.etaSeconds);
        break;
      case 'started':
        if (e.resumedBytes > 0) {
          this.say(
            `resuming: ${formatBytes(e.resumedBytes)} of ${formatBytes(e.total)} already there`,
          );
        }
        break;
      case 'file-verified': {
        // A line per file for the first few; past that only the files that
        // had to take another name (`name (1).ext`): a folder of thousands
        // must not flood the terminal. The summary line gives the count.
        const n = ++this.#verified;
        const renamed = e.savedAs !== undefined && !savedUnderOwnName(e.path, e.savedAs);
        if (n === LISTED_FILES + 1) {
          this.say('… more files verified; from here on only those saved under another name');
        }
        if (n <= LISTED_FILES || renamed) {
          this.say(
            `verified ${displayName(e.path)}${e.savedAs ? ` → ${displayName(e.savedAs)}` : ''}`,
          );
        }
        break;
      }
      case 'chunks-refetched':
        this.say(`re-fetching ${e.chunks.length} chunk(s) of file ${e.file}: ${e.reason}`);
        break;
      case 'paused':
        this.say(`paused by ${e.by === 'local' ? 'you' : 'the peer'}`);
        break;
      case 'resumed':
        this.say(`resumed by ${e.by === 'local' ? 'you' : 'the peer'}`);
        break;
      default:
        break;
    }
  }
}
