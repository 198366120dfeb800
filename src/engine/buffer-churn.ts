/**
 * Bytes of short-lived buffers the data path cannot avoid making.
 *
 * node:crypto returns a new buffer from every cipher update, and sockets hand
 * over a new buffer per read, so each chunk leaves one or two buffers of its
 * size behind on each side, dead within moments. V8 counts their memory
 * against the old generation until a collection frees them, which on ferry's
 * small heap meant a full collection every few chunks (docs/adr/0013). The
 * engine only reports how many bytes it let loose; what to do about it is a
 * process-wide choice, made by entry points (src/heap.ts).
 */

type Listener = (bytes: number) => void;

let listener: Listener | undefined;

/** Hear about buffer churn (one listener per process; `undefined` removes it). */
export function setBufferChurnListener(fn: Listener | undefined): void {
  listener = fn;
}

/** The data path made `bytes` of buffers that die soon. */
export function noteBufferChurn(bytes: number): void {
  if (listener !== undefined) listener(bytes);
}
