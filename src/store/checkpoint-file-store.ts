/**
 * The engine's SessionStore (receive checkpoints: the chunk leaves a receiver
 * has): one JSON file per transfer under `<config dir>/sessions/`, written
 * atomically (temp file, fsync, rename), and beside it its journal
 * (`<id>.placed.jsonl`, one entry per line, appended; fsynced for placed
 * files). The engine already debounces saves (about once a second). The
 * session records themselves live in `sessions.json` (SessionRegistry); the
 * leaves stay here, not duplicated.
 */
import {
  type FileHandle,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  unlink,
} from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  type FileCheckpoint,
  type ReceiveCheckpoint,
  type SessionStore,
  withJournal,
} from '../engine/transfer/types.js';

/** How long a journal stays open after its last append. */
const JOURNAL_IDLE_MS = 1000;

interface OpenJournal {
  readonly handle: Promise<FileHandle>;
  /** Appends in progress: the file is not closed under them. */
  busy: number;
  idle: ReturnType<typeof setTimeout> | null;
}

/** File-backed SessionStore. */
export class CheckpointFileStore implements SessionStore {
  readonly #dir: string;
  readonly #journals = new Map<string, OpenJournal>();

  constructor(configDir: string) {
    this.#dir = join(configDir, 'sessions');
  }

  #path(id: string): string {
    if (!/^[0-9a-f]{32}$/.test(id)) throw new RangeError('transferId: expected 32 hex digits');
    return join(this.#dir, `${id}.json`);
  }

  #journalPath(id: string): string {
    return `${this.#path(id).slice(0, -'.json'.length)}.placed.jsonl`;
  }

  /** The journal's entries; a line cut short by a crash (or any unreadable one) is skipped. */
  async #journal(id: string): Promise<FileCheckpoint[]> {
    let raw: string;
    try {
      raw = await readFile(this.#journalPath(id), 'utf8');
    } catch {
      return [];
    }
    const entries: FileCheckpoint[] = [];
    for (const line of raw.split('\n')) {
      if (!line) continue;
      try {
        const e = JSON.parse(line) as FileCheckpoint;
        if (typeof e === 'object' && e !== null && Number.isInteger(e.index)) entries.push(e);
      } catch {
        // torn by a crash mid-append: the entry is lost, the file is fetched again
      }
    }
    return entries;
  }

  async load(transferId: string): Promise<ReceiveCheckpoint | undefined> {
    const path = this.#path(transferId);
    let raw: string;
    try {
      raw = await readFile(path, 'utf8');
    } catch {
      return undefined;
    }
    try {
      const cp = JSON.parse(raw) as ReceiveCheckpoint;
      // Only a claim: the receiver re-hashes everything it names before use.
      if (cp.kind !== 'receive' || (cp.version !== 1 && cp.version !== 2)) return undefined;
      return withJournal(cp, await this.#journal(transferId));
    } catch {
      return undefined; // a torn file is the same as none: the transfer starts afresh
    }
  }

  async appendJournal(
    transferId: string,
    entries: readonly FileCheckpoint[],
    opts: { readonly sync?: boolean } = {},
  ): Promise<void> {
    if (entries.length === 0) return;
    const j = this.#openJournal(transferId);
    j.busy++;
    if (j.idle) clearTimeout(j.idle);
    j.idle = null;
    try {
      const fh = await j.handle;
      // A line a crash cut short (no newline yet) must not swallow this entry.
      const text = entries.map((e) => JSON.stringify(e)).join('\n');
      await fh.writeFile(`\n${text}\n`);
      if (opts.sync !== false) await fh.sync();
    } finally {
      if (--j.busy === 0) {
        j.idle = setTimeout(() => void this.#closeJournal(transferId), JOURNAL_IDLE_MS);
        j.idle.unref();
      }
    }
  }

  /**
   * The transfer's journal, opened for appending once and kept open while
   * appends keep coming: a folder of many small files journals each part
   * file as it is created, in many small batches, and an open, write and
   * close each cost a round trip to libuv's threads.
   */
  #openJournal(id: string): OpenJournal {
    let j = this.#journals.get(id);
    if (!j) {
      const handle = (async () => {
        await mkdir(this.#dir, { recursive: true, mode: 0o700 });
        return open(this.#journalPath(id), 'a', 0o600);
      })();
      j = { handle, busy: 0, idle: null };
      this.#journals.set(id, j);
      handle.catch(() => this.#journals.delete(id));
    }
    return j;
  }

  async #closeJournal(id: string, evenIfBusy = false): Promise<void> {
    const j = this.#journals.get(id);
    if (!j || (j.busy > 0 && !evenIfBusy)) return;
    this.#journals.delete(id);
    if (j.idle) clearTimeout(j.idle);
    const fh = await j.handle.catch(() => null);
    await fh?.close().catch(() => undefined);
  }

  async save(checkpoint: ReceiveCheckpoint): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const path = this.#path(checkpoint.transferId);
    const tmp = `${path}.${process.pid}.tmp`; // see #removeTemps
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(checkpoint));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  }

  async remove(transferId: string): Promise<void> {
    await this.#closeJournal(transferId, true);
    await rm(this.#path(transferId), { force: true });
    await rm(this.#journalPath(transferId), { force: true });
    await this.#removeTemps(transferId);
  }

  /** Temp files of saves a crash cut short (`<id>.json.<pid>.tmp`, see save). */
  async #removeTemps(id: string): Promise<void> {
    const prefix = `${basename(this.#path(id))}.`;
    const names = await readdir(this.#dir).catch(() => [] as string[]);
    for (const name of names) {
      if (name.startsWith(prefix) && name.endsWith('.tmp')) {
        await rm(join(this.#dir, name), { force: true });
      }
    }
  }

  /**
   * Give a receive up: delete its partial (`.part`) files and its checkpoint.
   * Files already verified and in place stay. Returns how many partial
   * files were removed.
   */
  async discard(transferId: string): Promise<number> {
    const cp = await this.load(transferId).catch(() => undefined);
    let removed = 0;
    for (const f of cp?.files ?? []) {
      if (f.savedAs || !f.partPath) continue; // in place, or never started
      // A journaled part may never have been created (a crash came first).
      if (await unlink(f.partPath).then(() => true, notFound)) removed++;
    }
    await this.remove(transferId).catch(() => undefined);
    return removed;
  }
}

/** False for a file that is not there; any other error is thrown. */
function notFound(err: unknown): false {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
  throw err;
}
