/**
 * What a sender and a receiver share: the typed event stream, the versioned
 * snapshot, pause/resume/cancel, and the `done` promise.
 */

import { type HandshakeOptions, runHandshake } from '../crypto/handshake.js';
import { type ErrorCode, FerryError, isRetryableCode, toFerryError } from '../errors.js';
import { FrameReader, FrameWriter } from '../protocol/frame.js';
import type { Throttle } from '../queue/bandwidth.js';
import type { ByteStream } from '../transport/link.js';
import { SecureChannel } from './channel.js';
import {
  ChunkState,
  type FileSnapshot,
  type PeerFacts,
  type Role,
  type RootStatus,
  type TransferEvent,
  type TransferSnapshot,
  type TransferState,
  type TransferSummary,
} from './types.js';
import { RateMeter, Wakeup } from './wakeup.js';

/** Mutable per-file progress kept by both roles. */
export interface FileProgress {
  path: string;
  size: number;
  chunkCount: number;
  chunks: Uint8Array;
  leavesVerified: number;
  root: RootStatus;
  /** Replaced, never modified: snapshots share it. */
  mismatched: readonly number[];
  accepted: boolean;
}

/** No chunk named by a root mismatch (shared by every file: never modified). */
export const NO_MISMATCH: readonly number[] = Object.freeze([]);

/** What both roles bring to the handshake. */
export interface PeerAuth {
  readonly identity: HandshakeOptions['identity'];
  /** CPace password from the code words; absent for identity-only (pinned) transfers. */
  readonly password?: Uint8Array;
  /** Bound into the handshake (e.g. the room id). */
  readonly context?: Uint8Array;
  /** Pinned identity of the peer, if known. */
  readonly expectedPeer?: Uint8Array;
  /** Our device name, told to the peer inside the encrypted session. */
  readonly deviceName?: string;
}

/** Minimum interval between `progress` events. */
const PROGRESS_EVERY_MS = 200;

/** Common machinery of SendTransfer and ReceiveTransfer. */
export abstract class Transfer {
  readonly role: Role;
  /** Resolves with the summary, or rejects with a FerryError (code CANCELLED when cancelled). */
  readonly done: Promise<TransferSummary>;
  /**
   * Resolves once cleanup after the end is over: pending writes landed, the
   * checkpoint is saved, files are closed. Wait for it before exiting.
   */
  readonly settled: Promise<void>;

  protected state: TransferState = 'handshaking';
  protected files: FileProgress[] = [];
  protected peer: PeerFacts | null = null;
  /** The peer's device name from its offer or accept (display only). */
  protected peerName: string | undefined;
  #resumeSecret: Uint8Array | null = null;
  /** Waits on ourselves (a throttle, a long fsync) under way; see holding(). */
  #busy = 0;
  #busyPing: NodeJS.Timeout | undefined;
  protected transferIdHex: string | null = null;
  protected total = 0;
  protected bytesDone = 0;
  protected windowSize = 0;
  protected inFlight = 0;
  protected channel: SecureChannel | null = null;
  protected readonly stream: ByteStream;
  protected readonly rate: RateMeter;
  protected readonly now: () => number;
  /** Pauses in force: by us, by the peer. Work flows only when both are false. */
  protected pausedBy = { local: false, peer: false };
  /** Poked whenever something a loop waits on changes. */
  protected readonly wake = new Wakeup();

  #version = 0;
  /**
   * The files part of the last snapshot, the `files` array it was built from,
   * and the files changed since (see fileChanged): a snapshot rebuilds only
   * those, so a UI polling a transfer of 100 000 files does not copy every
   * file's state each time (63 ms a poll before).
   */
  #fileSnaps: readonly FileSnapshot[] = [];
  #fileSnapsOf: readonly FileProgress[] | null = null;
  readonly #changedFiles = new Set<number>();
  #error: { code: ErrorCode; message: string } | null = null;
  #listeners = new Set<(e: TransferEvent) => void>();
  #lastProgress = 0;
  #resolve!: (s: TransferSummary) => void;
  #reject!: (e: FerryError) => void;
  #settled = false;
  #settle!: () => void;

  #lastActivity: number;
  #watchdog: NodeJS.Timeout | null = null;
  readonly #idleMs: number;

  protected constructor(
    role: Role,
    stream: ByteStream,
    now?: () => number,
    idleTimeoutMs = 30_000,
  ) {
    this.role = role;
    this.stream = stream;
    this.now = now ?? (() => performance.now());
    this.#idleMs = idleTimeoutMs;
    this.#lastActivity = this.now();
    // A peer that is alive but silent (stuck, or a frame length altered so we
    // wait for bytes that never come) must become an error, not a hang.
    this.#watchdog = setInterval(() => this.#checkIdle(), Math.min(1000, idleTimeoutMs / 4));
    this.#watchdog.unref();
    this.rate = new RateMeter(2000, this.now);
    this.done = new Promise<TransferSummary>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // A caller that only listens to events must not see an unhandled rejection.
    this.done.catch(() => undefined);
    this.settled = new Promise<void>((resolve) => {
      this.#settle = resolve;
    });
  }

  /**
   * Wait on a bandwidth throttle. Our own wait is not the peer's silence, so
   * the idle watchdog stands down meanwhile. (The peer's watchdog sees a
   * slow sender as silent only below about one chunk per idle timeout.)
   */
  protected takeThrottle(t: Throttle, bytes: number, signal: AbortSignal): Promise<void> {
    return this.holding(t.take(bytes, signal));
  }

  /**
   * Await work of our own (a throttle, an fsync of a large file on a slow
   * disk) that may outlast the idle timeout: our watchdog stands down, and
   * the peer hears a ping once per interval so its watchdog does not take
   * our wait for a vanished peer. One timer serves however many waits.
   */
  protected async holding<T>(work: Promise<T>): Promise<T> {
    if (this.#busy++ === 0) {
      this.#busyPing = setInterval(
        () => {
          this.channel?.sendControl({ t: 'ping' }).catch(() => undefined);
        },
        Math.max(50, this.#idleMs / 3),
      );
      this.#busyPing.unref();
    }
    try {
      return await work;
    } finally {
      if (--this.#busy === 0) clearInterval(this.#busyPing);
      this.#lastActivity = this.now();
    }
  }

  /** Note that bytes arrived from the peer. */
  protected noteActivity(): void {
    this.#lastActivity = this.now();
  }

  #checkIdle(): void {
    const waiting =
      this.state === 'handshaking' || this.state === 'transferring' || this.state === 'verifying';
    if (!waiting || this.isPaused || this.#busy > 0) {
      this.#lastActivity = this.now();
      return;
    }
    const silent = this.now() - this.#lastActivity;
    if (silent > this.#idleMs) {
      this.fail(
        new FerryError(
          'TIMEOUT',
          `nothing arrived from the peer for ${Math.round(silent / 1000)} s`,
        ),
      );
    }
  }

  /**
   * Run the handshake on this transfer's stream and open the encrypted
   * channel; records and announces the peer. Null if the transfer ended
   * meanwhile (cancelled during the handshake).
   */
  protected async openSecureChannel(auth: PeerAuth): Promise<SecureChannel | null> {
    const reader = new FrameReader(this.stream);
    reader.onActivity = () => this.noteActivity();
    const writer = new FrameWriter(this.stream);
    const keys = await runHandshake({
      role: this.role,
      reader,
      writer,
      identity: auth.identity,
      ...(auth.password ? { password: auth.password } : {}),
      ...(auth.context ? { context: auth.context } : {}),
      ...(auth.expectedPeer ? { expectedPeer: auth.expectedPeer } : {}),
    });
    if (this.isFinished) return null;
    this.peer = {
      fingerprint: keys.peerFingerprint,
      publicKey: keys.peerIdentity,
      sas: keys.sas,
      suite: keys.suite,
      usedCode: keys.usedCode,
    };
    this.#resumeSecret = Uint8Array.from(keys.resumeSecret);
    this.emit({ type: 'handshake', peer: this.peer });
    this.channel = new SecureChannel(reader, writer, keys, this.role);
    this.touch();
    return this.channel;
  }

  /**
   * The secret both sides derived in this handshake for resuming later
   * without the code (a copy; null before the handshake). Keep it as safe
   * as the identity key: it authenticates the rendezvous of a resume.
   */
  get resumeSecret(): Uint8Array | null {
    return this.#resumeSecret ? Uint8Array.from(this.#resumeSecret) : null;
  }

  /** Subscribe to events; returns the unsubscribe function. */
  on(listener: (e: TransferEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Current state. */
  get currentState(): TransferState {
    return this.state;
  }

  /**
   * An immutable picture for the UI; `version` changes whenever content does.
   * Do not modify it: the entries of files that did not change are shared
   * with earlier and later snapshots.
   */
  snapshot(): TransferSnapshot {
    const rateBps = this.rate.rate;
    const remaining = this.total - this.bytesDone;
    const files = this.#filesSnapshot();
    return {
      version: this.#version,
      role: this.role,
      state: this.state,
      transferId: this.transferIdHex,
      peer: this.peer,
      files,
      bytesDone: this.bytesDone,
      total: this.total,
      rateBps,
      etaSeconds: rateBps > 0 ? remaining / rateBps : null,
      window: this.windowSize,
      inFlight: this.inFlight,
      error: this.#error,
    };
  }

  /** Snapshot version only (cheap; poll this and call snapshot() when it moves). */
  get version(): number {
    return this.#version;
  }

  /** Pause: stop sending chunks (both sides are told). */
  pause(): void {
    if (this.pausedBy.local || this.isFinished) return;
    this.pausedBy.local = true;
    this.#applyPause('local');
    this.channel?.sendControl({ t: 'pause' }).catch(() => undefined);
  }

  /** Resume after a local pause. */
  resume(): void {
    if (!this.pausedBy.local || this.isFinished) return;
    this.pausedBy.local = false;
    this.#applyResume('local');
    this.channel?.sendControl({ t: 'resume' }).catch(() => undefined);
  }

  /** Cancel: the peer is told why, the stream is closed, `done` rejects with CANCELLED. */
  cancel(reason = 'cancelled by user'): void {
    if (this.isFinished) return;
    const err = new FerryError('CANCELLED', reason);
    const ch = this.channel;
    // Queue the message before finish() disposes the channel's keys.
    const told = ch?.sendControl({ t: 'cancel', reason });
    this.finish('cancelled', err, 'local');
    if (told) {
      told
        .then(() => this.stream.closeWrite())
        .catch(() => undefined)
        .finally(() => setTimeout(() => this.stream.abort(err), 1000).unref());
    } else {
      this.stream.abort(err);
    }
  }

  /**
   * Stop without a word to the peer: to it this looks like a dropped
   * connection (retryable), so both sides keep the session resumable. For
   * an app that quits with transfers in progress; `done` rejects with a
   * retryable CONNECTION error.
   */
  interrupt(reason = 'interrupted'): void {
    if (this.isFinished) return;
    const err = new FerryError('CONNECTION', reason, { retryable: true });
    this.finish('failed', err, 'local');
    this.stream.abort(err);
  }

  /** Whether the transfer reached a terminal state. */
  get isFinished(): boolean {
    return this.#settled;
  }

  /** Handle pause/resume/cancel/error messages common to both roles; true if handled. */
  protected handleCommon(msg: {
    t: string;
    reason?: string;
    code?: string;
    message?: string;
  }): boolean {
    switch (msg.t) {
      case 'ping':
        return true;
      case 'pause':
        if (!this.pausedBy.peer) {
          this.pausedBy.peer = true;
          this.#applyPause('peer');
        }
        return true;
      case 'resume':
        if (this.pausedBy.peer) {
          this.pausedBy.peer = false;
          this.#applyResume('peer');
        }
        return true;
      case 'cancel':
        this.finish(
          'cancelled',
          new FerryError('CANCELLED', `peer cancelled: ${msg.reason}`),
          'peer',
        );
        return true;
      case 'error':
        throw new FerryError('REMOTE', `peer failed: ${msg.code}: ${msg.message}`, {
          // A receiver out of space can make room and come back to resume.
          retryable: isRetryableCode(msg.code ?? '') || msg.code === 'NO_SPACE',
        });
      default:
        return false;
    }
  }

  get #paused(): boolean {
    return this.pausedBy.local || this.pausedBy.peer;
  }

  #applyPause(by: 'local' | 'peer'): void {
    if (this.state === 'transferring') this.state = 'paused';
    this.touch();
    this.emit({ type: 'paused', by });
  }

  #applyResume(by: 'local' | 'peer'): void {
    if (this.state === 'paused' && !this.#paused) this.state = 'transferring';
    this.touch();
    this.emit({ type: 'resumed', by });
    this.wake.notify();
  }

  /** True while either side holds a pause. */
  protected get isPaused(): boolean {
    return this.#paused;
  }

  /** Mark the snapshot changed. */
  protected touch(): void {
    this.#version++;
  }

  /** File `i`'s progress (chunks, leaves, root, accepted, mismatched) changed. */
  protected fileChanged(i: number): void {
    this.#changedFiles.add(i);
  }

  #filesSnapshot(): readonly FileSnapshot[] {
    const files = this.files;
    if (this.#fileSnapsOf !== files) {
      this.#fileSnaps = files.map(fileSnapshot);
      this.#fileSnapsOf = files;
    } else if (this.#changedFiles.size > 0) {
      // Copy on write: a snapshot handed out earlier never changes.
      const next = this.#fileSnaps.slice();
      for (const i of this.#changedFiles) {
        const f = files[i];
        if (f) next[i] = fileSnapshot(f);
      }
      this.#fileSnaps = next;
    }
    this.#changedFiles.clear();
    return this.#fileSnaps;
  }

  /** Deliver an event to every listener; a throwing listener cannot break the engine. */
  protected emit(e: TransferEvent): void {
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch {
        // listeners are UI code; the transfer goes on
      }
    }
  }

  /** Emit `progress`, throttled, or always when `force`. */
  protected progress(force = false): void {
    this.touch();
    const t = this.now();
    if (!force && t - this.#lastProgress < PROGRESS_EVERY_MS) return;
    this.#lastProgress = t;
    const rateBps = this.rate.rate;
    this.emit({
      type: 'progress',
      bytes: this.bytesDone,
      total: this.total,
      rateBps,
      etaSeconds: rateBps > 0 ? (this.total - this.bytesDone) / rateBps : null,
    });
  }

  /** Set a chunk's state in the chunk map. */
  protected setChunk(file: number, chunk: number, st: ChunkState): void {
    const f = this.files[file];
    if (f && chunk < f.chunkCount) {
      f.chunks[chunk] = st;
      this.fileChanged(file);
    }
  }

  /** Mark every chunk of a file verified. */
  protected markFileVerified(file: number): void {
    const f = this.files[file];
    if (!f) return;
    f.chunks.fill(ChunkState.Verified);
    f.root = 'verified';
    f.leavesVerified = f.chunkCount;
    this.fileChanged(file);
    this.touch();
  }

  /** Settle the transfer once: completed, failed or cancelled. */
  protected finish(
    outcome: 'completed' | 'failed' | 'cancelled',
    result: TransferSummary | FerryError,
    by: 'local' | 'peer' = 'local',
  ): void {
    if (this.#settled) return;
    this.#settled = true;
    if (this.#watchdog) clearInterval(this.#watchdog);
    this.#watchdog = null;
    this.state = outcome;
    this.wake.notify();
    if (result instanceof FerryError) {
      this.#error = { code: result.code, message: result.message };
      this.touch();
      if (outcome === 'cancelled') this.emit({ type: 'cancelled', by, reason: result.message });
      else this.emit({ type: 'failed', code: result.code, message: result.message });
      this.#reject(result);
    } else {
      this.touch();
      this.progress(true);
      this.emit({ type: 'completed', summary: result });
      this.#resolve(result);
    }
    Promise.resolve()
      .then(() => this.onFinished(outcome))
      .catch(() => undefined)
      .finally(() => this.#settle());
  }

  /** Fail with `err`: tell the peer (best effort) and tear the stream down. */
  protected fail(err: unknown): void {
    if (this.#settled) return;
    const fe = toFerryError(err);
    const ch = this.channel;
    const tellPeer = fe.code !== 'REMOTE' && fe.code !== 'CONNECTION' && ch !== null;
    // Queue the message before finish() disposes the channel's keys.
    const notify = tellPeer
      ? ch.sendControl({ t: 'error', code: fe.code, message: fe.message })
      : Promise.resolve();
    this.finish('failed', fe);
    notify
      .catch(() => undefined)
      .finally(() => {
        // Give the error frame a moment to leave before tearing down.
        setTimeout(() => this.stream.abort(fe), tellPeer ? 200 : 0).unref();
      });
  }

  /** Hook for subclasses to release resources once the transfer settled. */
  protected onFinished(_outcome: 'completed' | 'failed' | 'cancelled'): void | Promise<void> {}
}

/** Hex of bytes. */
export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}

/**
 * Chunk maps of no chunk and of one chunk in each state, shared by the
 * snapshots of all such files (snapshots are never modified): a folder of
 * many small files held a 1-byte array, ~200 bytes with its bookkeeping,
 * per file in every snapshot.
 */
const NO_CHUNK_MAP = new Uint8Array(0);
const ONE_CHUNK_MAPS = Array.from({ length: Math.max(...Object.values(ChunkState)) + 1 }, (_, s) =>
  Uint8Array.of(s),
);

/** An immutable copy of one file's progress. */
function fileSnapshot(f: FileProgress): FileSnapshot {
  const c = f.chunks;
  return {
    path: f.path,
    size: f.size,
    chunkCount: f.chunkCount,
    chunks: c.length === 0 ? NO_CHUNK_MAP : c.length === 1 ? ONE_CHUNK_MAPS[c[0]!]! : c.slice(),
    leavesVerified: f.leavesVerified,
    root: f.root,
    mismatched: f.mismatched,
    accepted: f.accepted,
  };
}
