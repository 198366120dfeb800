/**
 * A ByteStream seen as a node Duplex, for code written against node streams
 * (the relay's room splicer). Reads are pulled from the ByteStream only when
 * the Duplex wants data, so backpressure carries through; end() half-closes;
 * destroy() aborts.
 */
import { Duplex } from 'node:stream';
import type { ByteStream } from './link.js';

/** Wrap `bs` as a Duplex. */
export function duplexFromByteStream(bs: ByteStream): Duplex {
  let reading = false;
  return new Duplex({
    allowHalfOpen: true,
    read() {
      if (reading) return;
      reading = true;
      const pump = async () => {
        try {
          for (;;) {
            const piece = await bs.read();
            if (piece === null) {
              this.push(null);
              return;
            }
            if (!this.push(piece)) return;
          }
        } catch (err) {
          this.destroy(err as Error);
        } finally {
          reading = false;
        }
      };
      void pump();
    },
    write(chunk: Buffer, _enc, cb) {
      bs.write(chunk).then(() => cb(), cb);
    },
    final(cb) {
      bs.closeWrite().then(() => cb(), cb);
    },
    destroy(err, cb) {
      bs.abort(err ?? undefined);
      cb(err);
    },
  });
}

/** A ByteStream that yields `head` before the rest of `bs`. */
export function prependToByteStream(head: Uint8Array, bs: ByteStream): ByteStream {
  let pending: Uint8Array | null = head.length > 0 ? head : null;
  return {
    write: (b) => bs.write(b),
    read: async () => {
      if (pending) {
        const p = pending;
        pending = null;
        return p;
      }
      return bs.read();
    },
    closeWrite: () => bs.closeWrite(),
    abort: (r) => bs.abort(r),
  };
}
