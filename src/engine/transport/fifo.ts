/**
 * A first-in-first-out queue with O(1) amortised push and shift, shared by
 * the transport adapters (memory-link, socket-stream, mux-link). Plain arrays with
 * `shift()` are O(n) per call, which hurts with thousands of queued pieces.
 */

/** FIFO queue with O(1) amortised shift. */
export class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  /** Number of queued items. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Append an item. */
  push(item: T): void {
    this.#items.push(item);
  }

  /** The oldest item without removing it. */
  peek(): T | undefined {
    return this.#items[this.#head];
  }

  /** Remove and return the oldest item. */
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head++;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Remove every item. */
  clear(): void {
    this.#items = [];
    this.#head = 0;
  }

  /** Remove and return every item, oldest first. */
  drain(): T[] {
    const rest = this.#items.slice(this.#head) as T[];
    this.clear();
    return rest;
  }
}
