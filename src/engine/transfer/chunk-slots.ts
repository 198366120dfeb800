/**
 * Reusable chunk buffers, page-aligned and shared with the hash worker.
 *
 * Each chunk used to live in fresh 1 MiB ArrayBuffers: read or decrypted
 * into one, transferred to the hash worker and back (a new ArrayBuffer object
 * on each side every time). Slots keep those buffers and round trips out of
 * the garbage collector's way and give direct writes aligned memory without
 * a second copy. (They did not change how often V8 runs full collections on
 * ferry's small heap: docs/adr/0012 has why, and what did.)
 *
 * Slots are carved from one shared WebAssembly memory per transfer: its
 * buffer is a SharedArrayBuffer (the hash worker hashes a slot in place, told
 * only where it is; see LeafHashPool) and it starts on a page boundary (so a
 * slot can be written with O_DIRECT; see direct-write.ts). Pages are touched
 * only when a slot is first used, and the last slot given back is the first
 * taken again, so a transfer touches about as many slots as it keeps busy.
 *
 * Slots are an optimisation: `take` returns null when none is free (or the
 * memory could not be had), and the caller uses a plain Buffer instead.
 */

// The one WebAssembly API used here (the project's lib has no DOM types).
declare const WebAssembly: {
  Memory: new (size: {
    initial: number;
    maximum: number;
    shared: boolean;
  }) => { readonly buffer: SharedArrayBuffer };
};

/** Slot alignment the direct writes rely on. */
export const PAGE = 4096;
const WASM_PAGE = 64 * 1024;
/** Memories whose slots start on page boundaries (all made here). */
const aligned = new WeakSet<SharedArrayBuffer>();

/** Whether `buf` starts on a page boundary of memory made here (O_DIRECT may take it). */
export function isPageAligned(buf: Uint8Array): boolean {
  return (
    buf.buffer instanceof SharedArrayBuffer &&
    aligned.has(buf.buffer) &&
    buf.byteOffset % PAGE === 0
  );
}

/** A fixed set of `size`-byte slots. */
export class ChunkSlots {
  readonly size: number;
  readonly #free: Buffer[] = [];
  readonly #busy = new Set<Uint8Array>();

  /** `count` slots of `size` bytes (`size` rounded up to whole pages in memory). */
  constructor(size: number, count: number) {
    this.size = size;
    const stride = Math.ceil(size / PAGE) * PAGE;
    let memory: SharedArrayBuffer | null = null;
    try {
      const pages = Math.max(1, Math.ceil((stride * count) / WASM_PAGE));
      memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true }).buffer;
      aligned.add(memory);
    } catch {
      memory = null; // no address space for it: callers use plain buffers
    }
    // Reversed, so pop() hands out the lowest slot first.
    if (memory) {
      for (let k = count - 1; k >= 0; k--) this.#free.push(Buffer.from(memory, k * stride, size));
    }
  }

  /** A free slot, or null when all are in use. */
  take(): Buffer | null {
    const slot = this.#free.pop() ?? null;
    if (slot) this.#busy.add(slot);
    return slot;
  }

  /** Give back a slot `take` returned (anything else, or a second give, is ignored). */
  give(buf: Uint8Array): void {
    if (this.#busy.delete(buf)) this.#free.push(buf as Buffer);
  }
}
