/**
 * The queue's jobs in `<config dir>/sessions.json`: one record per transfer,
 * enough to list the queue and to resume or retry a job after a restart.
 * The receive checkpoint (parts and verified leaves) is not here: it stays
 * with the engine's SessionStore port (checkpoint-file-store.ts).
 *
 * A JsonDocument (json-document.ts): kept in memory, re-read before each
 * write, written through conf (atomic rename, mode 0600). A write costs
 * 5–20 ms, so state changes are written at once and progress at most once
 * per debounce window (DESIGN.md, "Store"). Two processes sharing a config
 * dir keep each other's records: at each write the file is re-read, the
 * changes this process made since its last write are applied over it (over
 * its own copy of a record the file no longer has), and every other record
 * comes from the file. A record that fails validation is dropped with a
 * warning; a file that is not JSON, does not match the schema or comes from
 * a newer ferry is moved aside and the registry starts empty.
 *
 * `resumeSecret` is a secret at rest, protected only by the file mode; it is
 * dropped as soon as a session is done or cancelled.
 */

import { isAbsolute } from 'node:path';
import { z } from 'zod/v3';
import { JOB_STATES, type JobState } from '../engine/queue/scheduler.js';
import {
  describeIssue,
  isPlainObject,
  JsonDocument,
  type JsonDocumentSpec,
  type Migration,
  type ReportProblem,
} from './json-document.js';

/** Where a queue job stands: the scheduler's states. */
export type SessionState = JobState;

/** One persisted queue job. */
export interface SessionRecord {
  /** 32 lowercase hex: the transfer id. */
  readonly id: string;
  readonly direction: 'send' | 'receive';
  readonly state: SessionState;
  readonly priority: 'high' | 'normal' | 'low';
  /** Found on the local network, or joined through a code phrase. */
  readonly via: 'lan' | 'code';
  /** Fingerprint and public key as 64 lowercase hex; name as announced (clean it before display). */
  readonly peer: {
    readonly fingerprint?: string;
    readonly publicKey?: string;
    readonly name?: string;
  };
  /** send: absolute source paths as given; receive: absolute target dir */
  readonly paths: readonly string[];
  readonly targetDir?: string;
  /**
   * The first FILES_KEPT files (relative paths and sizes); `fileCount` says
   * how many there are when that is more.
   */
  readonly files: readonly { path: string; size: number; mtime?: number }[];
  /** How many files the transfer has, when more than `files` lists. */
  readonly fileCount?: number;
  readonly totalBytes: number;
  readonly bytesDone: number;
  readonly attempts: number;
  readonly error?: { code: string; message: string; retryable: boolean };
  /** hex of the 32-byte resume secret agreed in the original handshake (code sessions) */
  readonly resumeSecret?: string;
  /**
   * Code sessions: hex SHA-256 of the code (labelled), so running the same
   * `ferry send`/`ferry receive` with the code again finds this session and
   * resumes it through the resume rendezvous. Not the code itself.
   */
  readonly codeHash?: string;
  /**
   * The transfer's id when it differs from the record's (the app queues a
   * receive by code before the offer names its transfer).
   */
  readonly transferId?: string;
  /** ISO time. */
  readonly createdAt: string;
  /** ISO time. */
  readonly updatedAt: string;
}

/** A record as given to `put`: the registry stamps the times. */
export type NewSessionRecord = Omit<SessionRecord, 'createdAt' | 'updatedAt'> & {
  createdAt?: string;
};

/** Fields `update` may change; a field given as undefined is removed. */
export type SessionPatch = Partial<Omit<SessionRecord, 'id' | 'createdAt' | 'updatedAt'>>;

/** Options for SessionRegistry.open. */
export interface SessionStoreOptions {
  /** Receives problems found in the file and failed background writes; defaults to process.emitWarning. */
  onWarning?: (m: string) => void;
  /** Time and timers (milliseconds); tests pass a virtual clock. */
  clock?: {
    now(): number;
    setTimeout(fn: () => void, ms: number): unknown;
    clearTimeout(h: unknown): void;
  };
  /** Longest time progress stays unwritten, in milliseconds; default 1000. */
  debounceMs?: number;
}

type Clock = NonNullable<SessionStoreOptions['clock']>;
type SessionsDocument = { version: typeof VERSION; sessions: Record<string, SessionRecord> };
type Progress = { bytesDone: number; updatedAt: string };

const FILE_NAME = 'sessions';
const VERSION = 1;
const DEFAULT_DEBOUNCE_MS = 1000;
const TRANSFER_ID = /^[0-9a-f]{32}$/;
const HEX_32_BYTES = /^[0-9a-f]{64}$/;
const STATES = JOB_STATES;
// A session in these states is never resumed, so its secret need not outlive it.
const FINISHED: ReadonlySet<SessionState> = new Set(['done', 'cancelled']);

/** Steps from version N (the key) to N + 1. Version 1 is the first, so none yet. */
const MIGRATIONS: Readonly<Record<number, Migration>> = {};

const hex32Bytes = z.string().regex(HEX_32_BYTES);
const absolutePath = z.string().refine(isAbsolute, 'must be an absolute path');
const byteCount = z.number().int().nonnegative().safe();
const isoTime = z.string().datetime({ offset: true });

const recordSchema = z.object({
  id: z.string().regex(TRANSFER_ID),
  direction: z.enum(['send', 'receive']),
  state: z.enum(STATES),
  priority: z.enum(['high', 'normal', 'low']),
  via: z.enum(['lan', 'code']),
  peer: z.object({
    fingerprint: hex32Bytes.optional(),
    publicKey: hex32Bytes.optional(),
    name: z.string().optional(),
  }),
  paths: z.array(absolutePath),
  targetDir: absolutePath.optional(),
  files: z.array(
    z.object({ path: z.string(), size: byteCount, mtime: z.number().finite().optional() }),
  ),
  fileCount: z.number().int().nonnegative().safe().optional(),
  totalBytes: byteCount,
  bytesDone: byteCount,
  attempts: z.number().int().nonnegative().safe(),
  error: z.object({ code: z.string(), message: z.string(), retryable: z.boolean() }).optional(),
  resumeSecret: hex32Bytes.optional(),
  codeHash: hex32Bytes.optional(),
  transferId: z.string().regex(TRANSFER_ID).optional(),
  createdAt: isoTime,
  updatedAt: isoTime,
}) satisfies z.ZodType<SessionRecord>;

const documentSchema = z.object({
  version: z.literal(VERSION),
  sessions: z.record(z.string().regex(TRANSFER_ID), recordSchema).default({}),
});

const SESSIONS_SPEC: JsonDocumentSpec<SessionsDocument> = {
  name: FILE_NAME,
  label: 'sessions',
  version: VERSION,
  migrations: MIGRATIONS,
  schema: documentSchema,
  defaults: () => ({ version: VERSION, sessions: {} }),
  defaultsName: 'no sessions',
  loadedName: 'the sessions this process had loaded',
  prepare: dropInvalidRecords,
};

const systemClock: Clock = {
  now: () => Date.now(),
  // A pending progress write must not keep the process alive: flush() on exit.
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** The queue's jobs, kept in memory and persisted in `<configDir>/sessions.json`. */
export class SessionRegistry {
  readonly #document: JsonDocument<SessionsDocument>;
  readonly #clock: Clock;
  readonly #debounceMs: number;
  readonly #warn: (message: string) => void;
  /** bytesDone reported since the last write, by id. */
  readonly #pending = new Map<string, Progress>();
  #timer: { handle: unknown } | undefined;

  private constructor(
    document: JsonDocument<SessionsDocument>,
    clock: Clock,
    debounceMs: number,
    warn: (message: string) => void,
  ) {
    this.#document = document;
    this.#clock = clock;
    this.#debounceMs = debounceMs;
    this.#warn = warn;
  }

  /** Open (creating if needed) `<configDir>/sessions.json`. */
  static open(configDir: string, opts: SessionStoreOptions = {}): SessionRegistry {
    const debounceMs = opts.debounceMs ?? DEFAULT_DEBOUNCE_MS;
    if (!Number.isFinite(debounceMs) || debounceMs < 0) {
      throw new RangeError('debounceMs: must be a finite number >= 0');
    }
    const clock = opts.clock ?? systemClock;
    const warn = opts.onWarning ?? ((message: string) => process.emitWarning(message));
    const document = JsonDocument.open(configDir, SESSIONS_SPEC, {
      onWarning: warn,
      now: () => new Date(clock.now()),
    });
    return new SessionRegistry(document, clock, debounceMs, warn);
  }

  /** Absolute path of sessions.json. */
  get path(): string {
    return this.#document.path;
  }

  /** How many times the file was written (for tests and the bench). */
  get writes(): number {
    return this.#document.writes;
  }

  /** All sessions, newest (by createdAt) first. */
  list(): SessionRecord[] {
    return Object.keys(this.#document.value.sessions)
      .map((id) => this.get(id))
      .filter((record) => record !== undefined)
      .sort(
        (a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || a.id.localeCompare(b.id),
      );
  }

  /** The session with this id, with unwritten progress. */
  get(id: string): SessionRecord | undefined {
    const record = own(this.#document.value.sessions, id);
    const progress = this.#pending.get(id);
    return record && progress ? { ...record, ...progress } : record;
  }

  /**
   * Create or replace a session, written at once. createdAt defaults to the
   * replaced record's, else now. RangeError naming the field when invalid.
   */
  put(record: NewSessionRecord): SessionRecord {
    const now = this.#nowIso();
    return this.#commit((sessions, loaded) => {
      const old = own(sessions, record.id) ?? own(loaded, record.id);
      const next = checkRecord(
        { ...record, createdAt: record.createdAt ?? old?.createdAt ?? now, updatedAt: now },
        'record',
      );
      sessions[next.id] = next;
      return next;
    });
  }

  /**
   * Change a session (state, error, attempts, …), written at once together
   * with any pending progress. RangeError when there is no such session or
   * the result is invalid.
   */
  update(id: string, patch: SessionPatch): SessionRecord {
    const now = this.#nowIso();
    return this.#commit((sessions, loaded) => {
      const old = own(sessions, id) ?? own(loaded, id);
      if (!old) throw new RangeError('id: no such session');
      const next = checkRecord(
        withoutUndefined({
          ...old,
          // A new file list brings its own count (or none: it is whole).
          ...(patch.files && patch.fileCount === undefined ? { fileCount: undefined } : {}),
          ...patch,
          id: old.id,
          createdAt: old.createdAt,
          updatedAt: now,
        }),
        'patch',
      );
      sessions[id] = next;
      return next;
    });
  }

  /**
   * Record progress in memory; it is written at most once per debounce
   * window, or with the next other change. Ignored for an unknown id (the
   * session may have been removed meanwhile).
   */
  progress(id: string, bytesDone: number): void {
    if (!Number.isSafeInteger(bytesDone) || bytesDone < 0) {
      throw new RangeError('bytesDone: must be a non-negative safe integer');
    }
    if (!own(this.#document.value.sessions, id)) return;
    this.#pending.set(id, { bytesDone, updatedAt: this.#nowIso() });
    if (this.#timer) return;
    this.#timer = {
      handle: this.#clock.setTimeout(() => this.#flushInBackground(), this.#debounceMs),
    };
  }

  /** Remove a session, written at once; false when there was none. */
  remove(id: string): boolean {
    return this.#commit((sessions, loaded) => {
      const existed = own(sessions, id) !== undefined || own(loaded, id) !== undefined;
      delete sessions[id];
      return existed;
    });
  }

  /** Write pending progress now (call on exit). */
  flush(): void {
    if (this.#pending.size > 0) this.#commit(() => undefined);
  }

  /**
   * Re-read the file, apply pending progress and then `change` over it, and
   * write. `change` sees the records read from the file and the ones this
   * process had before (for records the file no longer has).
   */
  #commit<R>(
    change: (
      sessions: Record<string, SessionRecord>,
      loaded: Readonly<Record<string, SessionRecord>>,
    ) => R,
  ): R {
    const loaded = this.#document.value.sessions;
    const result = this.#document.mutate((doc) => {
      for (const [id, progress] of this.#pending) {
        const record = own(doc.sessions, id) ?? own(loaded, id);
        if (record) doc.sessions[id] = { ...record, ...progress };
      }
      return change(doc.sessions, loaded);
    });
    this.#pending.clear();
    if (this.#timer) {
      this.#clock.clearTimeout(this.#timer.handle);
      this.#timer = undefined;
    }
    return result;
  }

  #flushInBackground(): void {
    this.#timer = undefined;
    try {
      this.flush();
    } catch (err) {
      // Progress stays pending: the next progress call or change writes it.
      this.#warn(`${this.path}: cannot save progress: ${(err as Error).message}`);
    }
  }

  #nowIso(): string {
    return new Date(this.#clock.now()).toISOString();
  }
}

/** Validate a record built from caller input; RangeError naming `param.field`. */
/**
 * Files a record lists by name. The whole registry is re-read, validated and
 * written at every change, in one go on the main thread: with the full list
 * of a 10 000-file transfer in three records, a write took 113 ms, with
 * 50 000 files 600 ms. The names are for display; the engine's checkpoint
 * keeps what a resume needs.
 */
export const FILES_KEPT = 20;

/** How many files a record's transfer has. */
export function fileCountOf(r: Pick<SessionRecord, 'files' | 'fileCount'>): number {
  return r.fileCount ?? r.files.length;
}

/** Keep the first FILES_KEPT names of a long list, and its length in `fileCount`. */
function compactFiles<T extends Pick<SessionRecord, 'files' | 'fileCount'>>(record: T): T {
  if (record.files.length <= FILES_KEPT) return record;
  return { ...record, files: record.files.slice(0, FILES_KEPT), fileCount: record.files.length };
}

function checkRecord(value: object, param: string): SessionRecord {
  const checked = recordSchema.safeParse(value);
  if (!checked.success) throw new RangeError(`${param}.${describeIssue(checked.error)}`);
  const record: SessionRecord = compactFiles(checked.data);
  if (!FINISHED.has(record.state) || record.resumeSecret === undefined) return record;
  const { resumeSecret: _dropped, ...rest } = record;
  return rest;
}

/** Drop single records that do not validate, so one bad hand edit does not cost the queue. */
function dropInvalidRecords(data: Record<string, unknown>, report: ReportProblem): void {
  const sessions = data['sessions'];
  // Anything but an object is left to the document schema, which moves the file aside.
  if (!isPlainObject(sessions)) return;
  for (const [key, value] of Object.entries(sessions)) {
    const checked = recordSchema.safeParse(value);
    const problem = !checked.success
      ? describeIssue(checked.error)
      : checked.data.id !== key
        ? 'id: does not match its key'
        : undefined;
    if (problem === undefined) {
      if (checked.success) sessions[key] = compactFiles(checked.data);
      continue;
    }
    delete sessions[key];
    report(`dropped session ${JSON.stringify(key)} (${problem})`);
  }
}

function own(
  sessions: Readonly<Record<string, SessionRecord>>,
  id: string,
): SessionRecord | undefined {
  return Object.hasOwn(sessions, id) ? sessions[id] : undefined;
}

/** A copy without keys whose value is undefined, so a patch can remove an optional field. */
function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
