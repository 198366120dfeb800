/**
 * Types shared by the sender, the receiver and their consumers (the CLI, the
 * TUI, tests): typed events, the versioned snapshot, and the SessionStore
 * port through which the receiver's checkpoint is persisted.
 */
import type { ErrorCode } from '../errors.js';
import type { LeafSetJSON } from './merkle.js';

/** Which end of a transfer this is. */
export type Role = 'sender' | 'receiver';

/** Lifecycle of one transfer. */
export type TransferState =
  | 'handshaking'
  | 'awaiting-accept'
  | 'transferring'
  | 'paused'
  | 'verifying'
  | 'completed'
  | 'failed'
  | 'cancelled';

/** Per-chunk state shown in the chunk map. */
export const ChunkState = {
  Pending: 0,
  InFlight: 1,
  Written: 2,
  Verified: 3,
  Failed: 4,
} as const;
/** Union of chunk state numbers. */
export type ChunkState = (typeof ChunkState)[keyof typeof ChunkState];

/** Status of a file's Merkle root. */
export type RootStatus = 'streaming' | 'verified' | 'mismatch' | 'skipped';

/** A file as both sides see it after the offer. */
export interface FileSummary {
  readonly path: string;
  readonly size: number;
}

/** What the handshake established, shown to the user (SAS) and logged. */
export interface PeerFacts {
  readonly fingerprint: string;
  readonly publicKey: Uint8Array;
  readonly sas: string;
  readonly suite: string;
  readonly usedCode: boolean;
}

/** Everything the engine reports, consumed by the TUI and `--json` output alike. */
export type TransferEvent =
  | { type: 'handshake'; peer: PeerFacts }
  | {
      type: 'started';
      transferId: string;
      files: readonly FileSummary[];
      total: number;
      /**
       * Bytes already present from an earlier session, not sent again (on the
       * sender: what the receiver claims; a claim that fails its re-check is
       * sent after all).
       */
      resumedBytes: number;
    }
  | { type: 'progress'; bytes: number; total: number; rateBps: number; etaSeconds: number | null }
  | { type: 'file-verified'; file: number; path: string; root: string; savedAs?: string }
  | { type: 'chunks-refetched'; file: number; chunks: readonly number[]; reason: string }
  | { type: 'paused'; by: 'local' | 'peer' }
  | { type: 'resumed'; by: 'local' | 'peer' }
  | { type: 'completed'; summary: TransferSummary }
  | { type: 'failed'; code: ErrorCode; message: string }
  | { type: 'cancelled'; by: 'local' | 'peer'; reason: string };

/** Result of a completed transfer. */
export interface TransferSummary {
  readonly transferId: string;
  readonly files: readonly {
    path: string;
    size: number;
    merkleRoot: string;
    /** Receiver only: where the file landed (may carry a ` (1)` suffix). */
    savedAs?: string;
  }[];
  /** Payload bytes that crossed the link in this session (before compression). */
  readonly bytesTransferred: number;
  /** Bytes the receiver already had and proved, so they did not travel. */
  readonly bytesSkipped: number;
  /** Bytes on the wire for chunk payloads after compression. */
  readonly wireBytes: number;
  /** The device name the peer gave (a claim, cleaned for display), if any. */
  readonly peerName?: string;
}

/** One file in the snapshot. */
export interface FileSnapshot {
  readonly path: string;
  readonly size: number;
  readonly chunkCount: number;
  /** One ChunkState per chunk (a copy; safe to keep). */
  readonly chunks: Uint8Array;
  readonly leavesVerified: number;
  readonly root: RootStatus;
  /** Chunk numbers named by the last root mismatch. */
  readonly mismatched: readonly number[];
  readonly accepted: boolean;
}

/** A versioned, immutable picture of a transfer for the UI to poll. */
export interface TransferSnapshot {
  /** Increments on every change; equal versions mean equal content. */
  readonly version: number;
  readonly role: Role;
  readonly state: TransferState;
  readonly transferId: string | null;
  readonly peer: PeerFacts | null;
  readonly files: readonly FileSnapshot[];
  readonly bytesDone: number;
  readonly total: number;
  readonly rateBps: number;
  readonly etaSeconds: number | null;
  /** Current window (chunks in flight allowed). */
  readonly window: number;
  readonly inFlight: number;
  readonly error: { code: ErrorCode; message: string } | null;
}

/** Persisted state of one file of a receive. */
export interface FileCheckpoint {
  readonly index: number;
  readonly path: string;
  readonly size: number;
  /** Absolute path of the `.part` file; empty until the file's first chunk arrives. */
  readonly partPath: string;
  readonly leaves: LeafSetJSON;
  /** Set once verified and renamed into place. */
  readonly savedAs?: string;
}

/**
 * The receiver's checkpoint: a plain JSON-safe object. It is only ever a
 * claim; on resume every chunk it names is re-hashed from disk first.
 */
export interface ReceiveCheckpoint {
  readonly kind: 'receive';
  /**
   * 2: `files` lists the files in progress and the store merges in its
   * journal (see SessionStore). 1 (written before): `files` also
   * listed every placed file and every file not started.
   */
  readonly version: 1 | 2;
  readonly transferId: string;
  readonly targetDir: string;
  readonly chunkSize: number;
  readonly peerFingerprint: string;
  readonly files: readonly FileCheckpoint[];
  readonly updatedAt: number;
}

/**
 * Port for persisting checkpoints. The engine calls `save` on state changes
 * and at most about once a second during progress, never per chunk.
 *
 * Beside the checkpoint, a journal that is only ever appended to:
 * - a placed file's entry (with `savedAs`), once: it never changes again, so
 *   a checkpoint lists only the files in progress and a save costs about a
 *   window of files, not the whole offer (a save of every file made a
 *   folder of N files cost O(N²));
 * - a part file about to be created (`partPath`, no leaves), so a crash
 *   before the next save leaves no part file nobody knows about;
 * - an entry with neither, withdrawing an earlier placement.
 */
export interface SessionStore {
  /**
   * The last checkpoint saved, with the journal merged in (see
   * {@link withJournal}). Undefined if no checkpoint was saved.
   */
  load(transferId: string): Promise<ReceiveCheckpoint | undefined>;
  save(checkpoint: ReceiveCheckpoint): Promise<void>;
  /**
   * Append entries to the transfer's journal (kept until `remove`). With
   * `sync: false` the entries need only survive the process, not the
   * machine (no fsync): for part files, whose loss costs an orphan.
   */
  appendJournal(
    transferId: string,
    entries: readonly FileCheckpoint[],
    opts?: { readonly sync?: boolean },
  ): Promise<void>;
  /** Forget the checkpoint and its journal. */
  remove(transferId: string): Promise<void>;
}

/**
 * `checkpoint` with `journal` (oldest first) merged in. A file's last
 * journal entry decides: with `savedAs` it replaces the checkpoint's entry
 * (placed); with a `partPath` it stands for a file the checkpoint does not
 * show started (its part was created after the save); with neither, the
 * checkpoint's entry stands (a placement withdrawn). For stores; the result
 * lists files in index order.
 */
export function withJournal(
  checkpoint: ReceiveCheckpoint,
  journal: readonly FileCheckpoint[],
): ReceiveCheckpoint {
  if (journal.length === 0) return checkpoint;
  const byIndex = new Map<number, FileCheckpoint>();
  for (const f of checkpoint.files) byIndex.set(f.index, f);
  const last = new Map<number, FileCheckpoint>();
  for (const e of journal) last.set(e.index, e);
  for (const [i, e] of last) {
    if (e.savedAs !== undefined || (e.partPath && !byIndex.get(i)?.partPath)) byIndex.set(i, e);
  }
  const files = [...byIndex.values()].sort((a, b) => a.index - b.index);
  return { ...checkpoint, files };
}
