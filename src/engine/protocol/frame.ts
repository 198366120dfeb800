/**
 * Framing: `u32 length (big-endian, counts type + body) | u8 type | body`.
 *
 * Caps are checked on the length field before any byte of the body is
 * buffered, so a hostile or corrupted length can never make us allocate more
 * than the cap of its frame type.
 */
import { ConnectionError, ProtocolError } from '../errors.js';
import type { ByteStream } from '../transport/link.js';

/** Frame types on the wire. */
export const FrameType = {
  /** Plaintext handshake message (CBOR). */
  Handshake: 1,
  /** Encrypted control message (CBOR inside AES-256-GCM). */
  Control: 2,
  /** Encrypted chunk: fixed binary header + ciphertext. */
  Data: 3,
  /** Plaintext alert sent when the handshake fails, so the peer can say why. */
  Alert: 4,
  /**
   * Encrypted piece of a control message too large for one frame (a long
   * offer or accept); the message's last piece comes as a Control frame.
   */
  ControlPart: 5,
} as const;
/** Union of frame type numbers. */
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Largest chunk the protocol accepts (DESIGN: chunk size 64 KiB – 8 MiB). */
export const MAX_CHUNK_BYTES = 8 * 1024 * 1024;
/** Cap per frame type, in bytes of type + body. */
export const FRAME_CAPS: Readonly<Record<FrameType, number>> = {
  [FrameType.Handshake]: 16 * 1024,
  // One frame of a control message; a larger message (an offer of ~30k files
  // of 100-byte names, say) travels in ControlPart frames, up to
  // MAX_CONTROL_MESSAGE_BYTES in all.
  [FrameType.Control]: 4 * 1024 * 1024,
  [FrameType.ControlPart]: 4 * 1024 * 1024,
  // Header, 32-byte leaf, tag, and a chunk that compression made no smaller.
  [FrameType.Data]: MAX_CHUNK_BYTES + 1024,
  [FrameType.Alert]: 1024,
};

/**
 * Largest control message, once its pieces are joined: an offer of the
 * 100 000 files MAX_FILES allows, with paths of ~600 bytes. The receiver
 * holds the pieces of at most this much before it parses them.
 */
export const MAX_CONTROL_MESSAGE_BYTES = 64 * 1024 * 1024;

const HEADER_BYTES = 5;

/** One received frame; `body` may be a view into a larger buffer. */
export interface Frame {
  readonly type: FrameType;
  readonly body: Uint8Array;
}

function isFrameType(t: number): t is FrameType {
  return t >= FrameType.Handshake && t <= FrameType.ControlPart;
}

/** Reads whole frames from a ByteStream, enforcing the caps. */
export class FrameReader {
  readonly #stream: ByteStream;
  #pieces: Uint8Array[] = [];
  #buffered = 0;
  /** Total bytes consumed from the stream, for statistics. */
  bytesRead = 0;
  /** Called whenever bytes arrive (feeds the idle watchdog). */
  onActivity: (() => void) | null = null;
  /**
   * When set, a data frame whose body spans several pieces is joined into one
   * reused scratch buffer instead of a fresh allocation. The body is then only
   * valid until the next `next()`: the caller must be done with it (the
   * secure channel decrypts it at once). Saves a 1 MiB allocation per chunk,
   * which showed up as garbage-collector time in the engine profile.
   */
  reuseDataBodies = false;
  #scratch: Buffer | null = null;

  constructor(stream: ByteStream) {
    this.#stream = stream;
  }

  /**
   * The next frame, or `null` at a clean end of stream between frames.
   * Throws ProtocolError on an unknown type or an oversized length, and
   * ConnectionError if the stream ends inside a frame.
   */
  async next(): Promise<Frame | null> {
    if (!(await this.#fill(HEADER_BYTES))) {
      if (this.#buffered === 0) return null;
      throw new ConnectionError('stream ended inside a frame header');
    }
    const header = this.#take(HEADER_BYTES);
    const length = new DataView(header.buffer, header.byteOffset, 4).getUint32(0);
    const type = header[4]!;
    if (!isFrameType(type)) throw new ProtocolError(`unknown frame type ${type}`);
    if (length < 1 || length > FRAME_CAPS[type]) {
      throw new ProtocolError(
        `frame of type ${type} has length ${length}, cap ${FRAME_CAPS[type]}`,
      );
    }
    const bodyLength = length - 1;
    if (!(await this.#fill(bodyLength))) {
      throw new ConnectionError(
        `stream ended inside a frame (${this.#buffered}/${bodyLength} bytes)`,
      );
    }
    const reuse = this.reuseDataBodies && type === FrameType.Data;
    return { type, body: this.#take(bodyLength, reuse) };
  }

  async #fill(n: number): Promise<boolean> {
    while (this.#buffered < n) {
      const piece = await this.#stream.read();
      if (piece === null) return false;
      if (piece.length === 0) continue;
      this.#pieces.push(piece);
      this.#buffered += piece.length;
      this.bytesRead += piece.length;
      this.onActivity?.();
    }
    return true;
  }

  #take(n: number, reuse = false): Uint8Array {
    // An empty body (length 1) may arrive with nothing left buffered.
    if (n === 0) return new Uint8Array(0);
    this.#buffered -= n;
    const first = this.#pieces[0]!;
    if (first.length >= n) {
      if (first.length === n) this.#pieces.shift();
      else this.#pieces[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    let out: Buffer;
    if (reuse) {
      if (!this.#scratch || this.#scratch.length < n) this.#scratch = Buffer.allocUnsafe(n);
      out = this.#scratch.subarray(0, n);
    } else {
      out = Buffer.allocUnsafe(n);
    }
    let off = 0;
    while (off < n) {
      const p = this.#pieces[0]!;
      const want = n - off;
      if (p.length <= want) {
        out.set(p, off);
        off += p.length;
        this.#pieces.shift();
      } else {
        out.set(p.subarray(0, want), off);
        this.#pieces[0] = p.subarray(want);
        off += want;
      }
    }
    return out;
  }
}

/** Writes frames to a ByteStream; body parts are written without concatenation. */
export class FrameWriter {
  readonly #stream: ByteStream;
  /** Total bytes written, for statistics. */
  bytesWritten = 0;

  constructor(stream: ByteStream) {
    this.#stream = stream;
  }

  /** Write one frame made of `parts` (concatenated on the wire). */
  async write(type: FrameType, ...parts: Uint8Array[]): Promise<void> {
    let bodyLength = 0;
    for (const p of parts) bodyLength += p.length;
    const length = bodyLength + 1;
    if (length > FRAME_CAPS[type]) {
      throw new RangeError(
        `frame of type ${type} would be ${length} bytes, cap ${FRAME_CAPS[type]}`,
      );
    }
    const header = Buffer.allocUnsafe(HEADER_BYTES);
    header.writeUInt32BE(length, 0);
    header[4] = type;
    // One write for small frames keeps per-write overhead off control traffic.
    if (bodyLength <= 16 * 1024) {
      await this.#stream.write(Buffer.concat([header, ...parts], HEADER_BYTES + bodyLength));
    } else {
      await this.#stream.write(header);
      for (const p of parts) await this.#stream.write(p);
    }
    this.bytesWritten += HEADER_BYTES + bodyLength;
  }
}
