/**
 * A SessionStore that keeps checkpoints in memory, JSON-encoded so that
 * anything that would not survive real persistence fails here too. Used by
 * tests, the benchmark, and one-shot transfers that need no resume.
 */
import type { ReceiveCheckpoint, SessionStore } from './types.js';

/** In-memory SessionStore; `saves` counts writes (tests check the debounce). */
export class MemorySessionStore implements SessionStore {
  readonly #data = new Map<string, string>();
  /** Number of `save` calls so far. */
  saves = 0;

  async load(transferId: string): Promise<ReceiveCheckpoint | undefined> {
    const raw = this.#data.get(transferId);
    return raw === undefined ? undefined : (JSON.parse(raw) as ReceiveCheckpoint);
  }

  async save(checkpoint: ReceiveCheckpoint): Promise<void> {
    this.saves++;
    this.#data.set(checkpoint.transferId, JSON.stringify(checkpoint));
  }

  async remove(transferId: string): Promise<void> {
    this.#data.delete(transferId);
  }

  /** Ids of stored checkpoints. */
  get ids(): string[] {
    return [...this.#data.keys()];
  }
}
