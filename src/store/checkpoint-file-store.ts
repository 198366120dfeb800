/**
 * The engine's SessionStore (receive checkpoints: the chunk leaves a receiver
 * has): one JSON file per transfer under `<config dir>/sessions/`, written
 * atomically (temp file, fsync, rename). The engine already debounces saves
 * (about once a second). The session records themselves live in
 * `sessions.json` (SessionRegistry); the leaves stay here, not duplicated.
 */
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ReceiveCheckpoint, SessionStore } from '../engine/transfer/types.js';

/** File-backed SessionStore. */
export class CheckpointFileStore implements SessionStore {
  readonly #dir: string;

  constructor(configDir: string) {
    this.#dir = join(configDir, 'sessions');
  }

  #path(id: string): string {
    if (!/^[0-9a-f]{32}$/.test(id)) throw new RangeError('transferId: expected 32 hex digits');
    return join(this.#dir, `${id}.json`);
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
      return cp.kind === 'receive' && cp.version === 1 ? cp : undefined;
    } catch {
      return undefined; // a torn file is the same as none: the transfer starts afresh
    }
  }

  async save(checkpoint: ReceiveCheckpoint): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const path = this.#path(checkpoint.transferId);
    const tmp = `${path}.${process.pid}.tmp`;
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
    await rm(this.#path(transferId), { force: true });
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
      await rm(f.partPath, { force: true });
      removed++;
    }
    await this.remove(transferId).catch(() => undefined);
    return removed;
  }
}
