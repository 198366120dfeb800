/**
 * A SessionStore that keeps checkpoints in memory, JSON-encoded so that
 * anything that would not survive real persistence fails here too. Used by
 * tests, the benchmark, and one-shot transfers that need no resume.
 */
import { flat } from './safe-path.js';
import {
  type FileCheckpoint,
  type ReceiveCheckpoint,
  type SessionStore,
  withJournal,
} from './types.js';

/** In-memory SessionStore; `saves` counts writes (tests check the debounce). */
export class MemorySessionStore implements SessionStore {
  readonly #data = new Map<string, string>();
  readonly #journals = new Map<string, string[]>();
  /** Number of `save` calls so far. */
  saves = 0;

  async load(transferId: string): Promise<ReceiveCheckpoint | undefined> {
    const raw = this.#data.get(transferId);
    if (raw === undefined) return undefined;
    const journal = (this.#journals.get(transferId) ?? []).map(
      (line) => JSON.parse(line) as FileCheckpoint,
    );
    return withJournal(JSON.parse(raw) as ReceiveCheckpoint, journal);
  }

  async save(checkpoint: ReceiveCheckpoint): Promise<void> {
    this.saves++;
    this.#data.set(checkpoint.transferId, JSON.stringify(checkpoint));
  }

  async appendJournal(
    transferId: string,
    entries: readonly FileCheckpoint[],
    _opts?: { readonly sync?: boolean },
  ): Promise<void> {
    let journal = this.#journals.get(transferId);
    if (!journal) {
      journal = [];
      this.#journals.set(transferId, journal);
    }
    // Flat: JSON.stringify builds long strings in pieces (see flat()).
    for (const e of entries) journal.push(flat(JSON.stringify(e)));
  }

  async remove(transferId: string): Promise<void> {
    this.#data.delete(transferId);
    this.#journals.delete(transferId);
  }

  /** Ids of stored checkpoints. */
  get ids(): string[] {
    return [...this.#data.keys()];
  }
}
