/**
 * A node `Duplex` (net.Socket, tls.TLSSocket) as a `ByteStream`.
 *
 * - `write` hands the bytes to the socket and resolves at once while the
 *   socket's write buffer is below its high-water mark, otherwise on 'drain'.
 * - `read` returns the socket's 'data' chunks as they came (no copy), `null`
 *   after 'end'. Unread chunks are buffered up to `maxReadBuffer` bytes; above
 *   that the socket is paused (TCP flow control pushes back on the peer) and
 *   resumed once the reader has drained half of it.
 * - `closeWrite` is `socket.end()`: a half-close (the socket is switched to
 *   `allowHalfOpen`, so the peer's end does not end our side too). It
 *   resolves once the written bytes were flushed to the kernel.
 * - `abort` destroys the socket. Every socket error becomes a ConnectionError.
 *
 * Limits: no read timeout (the mux layer's keep-alive detects a silent peer);
 * a write that the socket rejects after it resolved surfaces on the next call.
 */
import type { Duplex } from 'node:stream';
import { ConnectionError } from '../errors.js';
import { Fifo } from './fifo.js';
import type { ByteStream } from './link.js';

/** Default cap on unread bytes before the socket is paused: 4 MiB. */
export const DEFAULT_MAX_READ_BUFFER = 4 * 1024 * 1024;

/** Options of {@link socketStream}. */
export interface SocketStreamOptions {
  /** Pause reading from the socket while more than this many bytes are unread (default 4 MiB). */
  readonly maxReadBuffer?: number;
  /** Label used in error messages, e.g. `127.0.0.1:4433`. */
  readonly label?: string;
}

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

/** Wrap a connected socket as a ByteStream. The stream owns the socket from now on. */
export function socketStream(socket: Duplex, opts: SocketStreamOptions = {}): ByteStream {
  const maxReadBuffer = opts.maxReadBuffer ?? DEFAULT_MAX_READ_BUFFER;
  if (!Number.isSafeInteger(maxReadBuffer) || maxReadBuffer < 1) {
    throw new RangeError(`maxReadBuffer must be a positive integer, got ${maxReadBuffer}`);
  }
  const label = opts.label === undefined ? 'connection' : `connection to ${opts.label}`;
  socket.allowHalfOpen = true;
  // Frames are small and often answered (window updates, pings): no Nagle delay.
  (socket as Duplex & { setNoDelay?: (on: boolean) => unknown }).setNoDelay?.(true);

  const chunks = new Fifo<Uint8Array>();
  let buffered = 0;
  let paused = false;
  let ended = false;
  let writeClosed = false;
  /** Error for reads (after the buffered chunks) and writes. */
  let failure: Error | undefined;
  let pendingRead:
    | { readonly resolve: (v: Uint8Array | null) => void; readonly reject: (e: Error) => void }
    | undefined;
  const drainWaiters: Waiter[] = [];
  let endWaiter: Waiter | undefined;

  const fail = (err: Error, keepBuffered: boolean): void => {
    if (failure) return;
    failure = err;
    if (!keepBuffered) {
      chunks.drain();
      buffered = 0;
    }
    if (pendingRead && chunks.length === 0 && !ended) {
      const r = pendingRead;
      pendingRead = undefined;
      r.reject(err);
    }
    for (const w of drainWaiters.splice(0)) w.reject(err);
    if (endWaiter) {
      const w = endWaiter;
      endWaiter = undefined;
      w.reject(err);
    }
  };

  socket.on('data', (chunk: Uint8Array) => {
    if (failure && chunks.length === 0 && !pendingRead) return;
    if (pendingRead) {
      const r = pendingRead;
      pendingRead = undefined;
      r.resolve(chunk);
      return;
    }
    chunks.push(chunk);
    buffered += chunk.length;
    if (buffered > maxReadBuffer && !paused) {
      paused = true;
      socket.pause();
    }
  });
  socket.on('end', () => {
    ended = true;
    // Both directions done: release the socket.
    if (writeClosed && socket.writableFinished) socket.destroy();
    if (pendingRead && chunks.length === 0) {
      const r = pendingRead;
      pendingRead = undefined;
      r.resolve(null);
    }
  });
  socket.on('drain', () => {
    for (const w of drainWaiters.splice(0)) w.resolve();
  });
  socket.on('error', (err: Error) => {
    fail(new ConnectionError(`${label} failed: ${err.message}`, { cause: err }), true);
  });
  socket.on('close', () => {
    fail(new ConnectionError(`${label} closed`), true);
  });

  const consumed = (piece: Uint8Array): void => {
    buffered -= piece.length;
    if (paused && buffered <= maxReadBuffer / 2) {
      paused = false;
      socket.resume();
    }
  };

  return {
    write(bytes: Uint8Array): Promise<void> {
      if (failure) return Promise.reject(failure);
      if (writeClosed) return Promise.reject(new Error('write after closeWrite'));
      if (bytes.length === 0) return Promise.resolve();
      if (socket.write(bytes)) return Promise.resolve();
      return new Promise((resolve, reject) => drainWaiters.push({ resolve, reject }));
    },

    read(): Promise<Uint8Array | null> {
      if (pendingRead) return Promise.reject(new Error('a read is already pending'));
      const piece = chunks.shift();
      if (piece !== undefined) {
        consumed(piece);
        return Promise.resolve(piece);
      }
      if (ended) return Promise.resolve(null);
      if (failure) return Promise.reject(failure);
      return new Promise((resolve, reject) => {
        pendingRead = { resolve, reject };
      });
    },

    closeWrite(): Promise<void> {
      if (failure) return Promise.reject(failure);
      if (writeClosed) return Promise.resolve();
      writeClosed = true;
      return new Promise((resolve, reject) => {
        endWaiter = { resolve, reject };
        socket.end(() => {
          if (endWaiter) {
            endWaiter = undefined;
            resolve();
          }
          // Both directions done: release the socket.
          if (ended) socket.destroy();
        });
      });
    },

    abort(reason?: Error): void {
      fail(reason ?? new ConnectionError(`${label} aborted`), false);
      socket.destroy();
    },
  };
}
