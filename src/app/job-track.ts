/**
 * What the app knows about one queued job beyond the scheduler's state: the
 * engine transfer of its current attempt (for progress, the chunk map and
 * handshake facts), how it is connected, the code to read out, a pending
 * "compare the words" question, and a short history of events. It turns
 * all that into the plain JobView the UI shows.
 */

import { displayName, formatBytes } from '../cli/output.js';
import { shortFingerprint } from '../engine/crypto/identity.js';
import type { Job } from '../engine/queue/scheduler.js';
import type { Transfer } from '../engine/transfer/transfer.js';
import type { PeerFacts, TransferEvent, TransferSnapshot } from '../engine/transfer/types.js';
import type { LinkInfo } from '../engine/transport/link.js';
import type { EventLine, FileView, JobView } from './controller.js';

/** Recent events kept per job. */
const MAX_EVENTS = 12;

/** Static facts about a job, known when it is queued or restored. */
export interface JobFacts {
  readonly via: 'lan' | 'code';
  /** Files (relative paths and sizes) when known before the offer. */
  files: readonly { path: string; size: number }[];
  /** How many files there are when `files` lists only the first (a restored record). */
  fileCount?: number;
  /** Their total size, when `files` lists only the first. */
  totalBytes?: number;
  /** Peer label before the handshake (device name, or "code 7-…"). */
  peerLabel: string;
  code?: string;
  restored: boolean;
}

/** Per-job state the app keeps next to the scheduler. */
export class JobTrack {
  readonly facts: JobFacts;
  #transfer: Transfer | null = null;
  #snap: TransferSnapshot | null = null;
  #path: JobView['path'] = null;
  #events: EventLine[] = [];
  #peerName: string | null = null;
  #confirm: ((ok: boolean) => void) | null = null;
  #confirmFacts: PeerFacts | null = null;
  /** Bumps whenever something here changed (the transfer has its own version). */
  version = 0;
  /** Bytes known done without a live transfer (restored sessions). */
  bytesDone = 0;
  #off: (() => void) | null = null;

  constructor(facts: JobFacts) {
    this.facts = facts;
  }

  /** The live transfer of the current attempt, if any. */
  get transfer(): Transfer | null {
    return this.#transfer;
  }

  /** Follow a new attempt's transfer (replacing the previous one). */
  attach(t: Transfer, info?: LinkInfo): void {
    this.#off?.();
    this.#transfer = t;
    if (info) this.connected(info);
    this.#off = t.on((e) => this.#onEvent(e));
    this.version++;
  }

  /** How the current attempt is connected. */
  connected(info: LinkInfo): void {
    this.#path = {
      kind: info.path === 'relay' ? 'relay' : 'direct',
      transport: info.transport === 'tcp' ? 'tcp' : 'quic',
      rttMs: info.rttMs ?? null,
    };
    this.note(
      `connected ${info.path === 'relay' ? 'through a relay' : 'directly'} (${info.transport.toUpperCase()})`,
    );
  }

  /** Add a line to the job's history. */
  note(text: string): void {
    this.#events.push({ at: Date.now(), text });
    if (this.#events.length > MAX_EVENTS) this.#events.splice(0, this.#events.length - MAX_EVENTS);
    this.version++;
  }

  /** The user must compare the words before data leaves; resolves with their answer. */
  askConfirm(peer: PeerFacts): Promise<boolean> {
    this.#confirm?.(false);
    this.#confirmFacts = peer;
    this.note(`new device: compare the words '${peer.sas}' with the receiver`);
    return new Promise((resolve) => {
      this.#confirm = (ok) => {
        this.#confirm = null;
        this.#confirmFacts = null;
        this.version++;
        resolve(ok);
      };
    });
  }

  /** Answer a pending confirmation; false if none was pending. */
  answerConfirm(ok: boolean): boolean {
    if (!this.#confirm) return false;
    this.#confirm(ok);
    return true;
  }

  /** Drop listeners and refuse a pending confirmation (the job ended or the app closes). */
  dispose(): void {
    this.#confirm?.(false);
    this.#off?.();
    this.#off = null;
  }

  #onEvent(e: TransferEvent): void {
    const text = describeEvent(e);
    if (text) this.note(text);
    if (e.type === 'started' && e.files.length > 0) {
      this.facts.files = e.files;
      delete this.facts.fileCount;
      delete this.facts.totalBytes;
    }
    if (e.type === 'completed' && e.summary.peerName) this.#peerName = e.summary.peerName;
  }

  /** The view of this job for the UI. `snap` is refreshed only when the transfer's version moved. */
  view(job: Job): JobView {
    const t = this.#transfer;
    if (t && (!this.#snap || this.#snap.version !== t.version)) this.#snap = t.snapshot();
    const s = this.#snap;
    const files: readonly FileView[] =
      s && s.files.length > 0
        ? // The engine's file snapshots as they are: immutable, and rebuilt
          // only for files that changed (a copy here cost O(files) a poll).
          s.files
        : this.facts.files.map((f) => ({
            path: f.path,
            size: f.size,
            chunkCount: 0,
            chunks: new Uint8Array(0),
            leavesVerified: 0,
            // Known from the record only: a finished job's files were verified.
            root: job.state === 'done' ? ('verified' as const) : ('streaming' as const),
            mismatched: [],
          }));
    // A restored record lists only its first files; its count says how many.
    const fileCount = s?.files.length
      ? files.length
      : Math.max(files.length, this.facts.fileCount ?? 0);
    const total =
      s && s.total > 0 ? s.total : (this.facts.totalBytes ?? files.reduce((n, f) => n + f.size, 0));
    const peer = s?.peer ?? null;
    // The queue knows only our own pauses: one the peer holds shows here.
    const pausedByPeer = job.state === 'transferring' && s?.state === 'paused';
    const running =
      !pausedByPeer &&
      (job.state === 'transferring' ||
        job.state === 'verifying' ||
        job.state === 'awaiting-accept');
    const bytesDone = s && s.total > 0 ? s.bytesDone : this.bytesDone;
    return {
      id: job.id,
      direction: job.direction,
      label:
        fileCount === 1
          ? displayName(files[0]!.path)
          : fileCount === 0
            ? job.direction === 'receive'
              ? 'waiting for the offer'
              : '…'
            : `${fileCount} files`,
      peer: this.#peerName
        ? displayName(this.#peerName)
        : peer && this.facts.peerLabel.startsWith('code')
          ? shortFingerprint(peer.publicKey)
          : this.facts.peerLabel,
      via: this.facts.via,
      state: pausedByPeer ? 'paused' : job.state,
      pausedByPeer,
      priority: job.priority,
      total,
      bytesDone: job.state === 'done' ? total : bytesDone,
      rateBps: running && s ? s.rateBps : 0,
      etaSeconds: running && s ? s.etaSeconds : null,
      retryAt: job.retryAt,
      attempts: job.attempts,
      path: this.#path,
      ...(this.facts.code && !peer ? { code: this.facts.code } : {}),
      error: job.error ? { code: job.error.code, message: job.error.message } : null,
      handshake: peer
        ? {
            suite: peer.suite,
            sas: peer.sas,
            fingerprint: peer.fingerprint,
            usedCode: peer.usedCode,
          }
        : null,
      files,
      ...(fileCount > files.length ? { fileCount } : {}),
      events: [...this.#events],
      restored: this.facts.restored,
      needsConfirm: this.#confirmFacts !== null,
    };
  }
}

/** One line of history for an engine event (progress is not history). */
export function describeEvent(e: TransferEvent): string | null {
  switch (e.type) {
    case 'handshake':
      return `handshake done (${e.peer.suite}); words: ${e.peer.sas}`;
    case 'started':
      return `started: ${e.files.length} file(s), ${formatBytes(e.total)}${
        e.resumedBytes > 0 ? `, ${formatBytes(e.resumedBytes)} already there` : ''
      }`;
    case 'file-verified':
      return `verified ${displayName(e.path)} (root ${e.root.slice(0, 12)}…)`;
    case 'chunks-refetched':
      return `re-fetching ${e.chunks.length} chunk(s) of file ${e.file + 1}: ${e.reason}`;
    case 'paused':
      return e.by === 'local' ? 'paused' : 'paused by the peer';
    case 'resumed':
      return e.by === 'local' ? 'resumed' : 'resumed by the peer';
    case 'completed':
      return `completed: ${formatBytes(e.summary.bytesTransferred)} transferred${
        e.summary.bytesSkipped > 0 ? `, ${formatBytes(e.summary.bytesSkipped)} skipped` : ''
      }`;
    case 'failed':
      return `failed: ${e.message}`;
    case 'cancelled':
      return `${e.by === 'peer' ? 'cancelled by the peer' : 'cancelled'}: ${e.reason}`;
    default:
      return null;
  }
}
