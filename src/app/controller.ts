/**
 * The contract between the app core (FerryApp: engine + discovery + store
 * wired together) and the TUI. The UI polls `snapshot()` about ten times a
 * second and re-renders only when `version` moved; it changes things only
 * through the commands below. It holds no transfer logic of its own.
 *
 * Everything here is plain data (no engine objects), so the UI can be
 * tested and benchmarked against a simulated controller.
 */
import type { JobState, Priority } from '../engine/queue/scheduler.js';
import type { RootStatus } from '../engine/transfer/types.js';

/** This device, for the status line. */
export interface DeviceView {
  readonly name: string;
  /** 64 hex. */
  readonly fingerprint: string;
  /** The short form people compare (e.g. `a1b2-c3d4`). */
  readonly shortId: string;
}

/** Relay and discovery status, for the status line. */
export interface NetworkView {
  /** Configured relays (`host:port`); empty: direct and LAN only. */
  readonly relays: readonly string[];
  readonly relayStatus: 'none' | 'unknown' | 'reachable' | 'unreachable';
  readonly discovery: 'off' | 'on' | 'failed';
  /** The interface discovery is bound to, when limited to one. */
  readonly discoveryInterface?: string;
  /** Why discovery is off or failed, when it is not the user's setting. */
  readonly discoveryNote?: string;
  /** This device accepts direct connections (LAN sends to it) on these ports. */
  readonly listening?: { readonly quicPort?: number; readonly tcpPort?: number };
}

/** How a peer relates to what we have pinned. */
export type PeerBadge = 'known' | 'new' | 'key-changed';

/** A device on the LAN or in the known-peers list. */
export interface PeerView {
  /** 64 hex; the id commands take. */
  readonly fingerprint: string;
  readonly shortId: string;
  /** What to call it: nickname, else the announced name (cleaned). */
  readonly name: string;
  readonly online: boolean;
  readonly badge: PeerBadge;
  /** Epoch ms, or null when never seen in this run or recorded. */
  readonly lastSeen: number | null;
  readonly autoAccept: boolean;
}

/** One file of a transfer's detail view. */
export interface FileView {
  readonly path: string;
  readonly size: number;
  readonly chunkCount: number;
  /** One ChunkState (0 pending … 4 failed) per chunk; empty before the offer. */
  readonly chunks: Uint8Array;
  readonly leavesVerified: number;
  readonly root: RootStatus;
  readonly mismatched: readonly number[];
}

/** A line of a transfer's recent history. */
export interface EventLine {
  /** Epoch ms. */
  readonly at: number;
  readonly text: string;
}

/** One transfer in the queue (a send or a receive). */
export interface JobView {
  readonly id: string;
  readonly direction: 'send' | 'receive';
  /** The file name, or "N files". */
  readonly label: string;
  /** The peer's name, short id, or "code …" before it is known. */
  readonly peer: string;
  readonly via: 'lan' | 'code';
  readonly state: JobState;
  /** `state` is 'paused' because the peer paused (our queue did not). */
  readonly pausedByPeer: boolean;
  readonly priority: Priority;
  readonly total: number;
  readonly bytesDone: number;
  readonly rateBps: number;
  readonly etaSeconds: number | null;
  /** Epoch ms when a `retrying` job tries again. */
  readonly retryAt: number | null;
  readonly attempts: number;
  /** How bytes travel, once connected. */
  readonly path: {
    readonly kind: 'direct' | 'relay';
    readonly transport: 'quic' | 'tcp';
    readonly rttMs: number | null;
  } | null;
  /** A code send: the phrase to read out (until the receiver joined). */
  readonly code?: string;
  readonly error: { readonly code: string; readonly message: string } | null;
  /** Handshake facts, once the handshake finished. */
  readonly handshake: {
    readonly suite: string;
    readonly sas: string;
    readonly fingerprint: string;
    readonly usedCode: boolean;
  } | null;
  /**
   * The files, or the first few of them for a job restored from an earlier
   * run before it runs again (`fileCount` says how many there are).
   */
  readonly files: readonly FileView[];
  /** How many files the job has, when more than `files` lists. */
  readonly fileCount?: number;
  /** Newest last, bounded. */
  readonly events: readonly EventLine[];
  /** Restored from an earlier run of ferry (shown in Sessions until it runs). */
  readonly restored: boolean;
  /** This send to a new device waits for the user to compare the words (`confirmPeer`). */
  readonly needsConfirm: boolean;
}

/** A decision ferry needs from the user: an incoming offer. */
export interface OfferView {
  readonly id: string;
  readonly peerName: string | null;
  readonly fingerprint: string;
  readonly shortId: string;
  readonly sas: string;
  /** The sender is a pinned peer (otherwise: compare the words first). */
  readonly known: boolean;
  readonly files: readonly { readonly path: string; readonly size: number }[];
  /** Empty folders that come with the files. */
  readonly folders: number;
  readonly total: number;
  readonly resuming: boolean;
  /** Where the files will be saved. */
  readonly targetDir: string;
}

/** A message for the status area (errors of commands, peers pinned, …). */
export interface Notice {
  readonly id: number;
  readonly at: number;
  readonly level: 'info' | 'warn' | 'error';
  readonly text: string;
}

/** Editable settings, as the Settings dialog shows them. */
export interface SettingView {
  readonly key: string;
  /** The value as text (as `ferry settings KEY VALUE` takes it). */
  readonly value: string;
  readonly help: string;
}

/** Everything the UI shows, versioned: equal versions mean equal content. */
export interface AppSnapshot {
  readonly version: number;
  readonly device: DeviceView;
  readonly network: NetworkView;
  readonly peers: readonly PeerView[];
  /** Queue order: running first, then the order they would start, then history. */
  readonly jobs: readonly JobView[];
  /** Incoming offers waiting for an answer, oldest first. */
  readonly offers: readonly OfferView[];
  /** Newest last, bounded. */
  readonly notices: readonly Notice[];
  readonly settings: readonly SettingView[];
  /** Where received files go unless a receive says otherwise. */
  readonly downloadDir: string;
}

/** The answer to an incoming offer. */
export type OfferAnswer = 'accept' | 'decline' | 'always';

/** Commands. Each returns quickly; failures of user input throw an Error with a clear message. */
export interface FerryController {
  snapshot(): AppSnapshot;
  /** Queue a send of `paths` to a LAN or known peer (fingerprint). Returns the job id. */
  sendToPeer(paths: readonly string[], peer: string): Promise<string>;
  /** Queue a send by code phrase; returns the job id and the code to read out. */
  sendByCode(paths: readonly string[]): Promise<{ id: string; code: string }>;
  /** Queue a receive by code phrase; returns the job id. */
  receiveByCode(code: string, dir?: string): Promise<string>;
  answerOffer(id: string, answer: OfferAnswer): void;
  /** A send to a new device: the user compared the words (true) or not (false: cancel). */
  confirmPeer(jobId: string, ok: boolean): void;
  pause(id: string): void;
  resume(id: string): void;
  /** Pause if running or queued, resume if paused. */
  togglePause(id: string): void;
  cancel(id: string): void;
  setPriority(id: string, priority: Priority): void;
  retryNow(id: string): void;
  pauseAll(): void;
  resumeAll(): void;
  /** Forget a finished (or cancel and forget an unfinished) job and its session record. */
  discard(id: string): void;
  /** Change a setting from its text form; throws with a clear message if invalid. */
  setSetting(key: string, value: string): void;
  /** Trust (pin) a peer seen on the LAN, by fingerprint. */
  trustPeer(fingerprint: string): void;
  /** Stop everything (jobs are recorded and resume next start). */
  close(): Promise<void>;
}
