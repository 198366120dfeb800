/**
 * The encrypted channel of one transfer stream, after the handshake.
 *
 * Sealing and writing happen in one serialized section, so the order of
 * frames on the wire always equals the order of nonce counters (the opener
 * expects consecutive counters). Incoming frames are authenticated before
 * anything is parsed beyond the fixed data header.
 */
import { noteBufferChurn } from '../buffer-churn.js';
import { Direction, FrameOpener, FrameSealer } from '../crypto/aead.js';
import type { SessionKeys } from '../crypto/handshake.js';
import { type ErrorCode, FerryError, ProtocolError } from '../errors.js';
import {
  FRAME_CAPS,
  type FrameReader,
  FrameType,
  type FrameWriter,
  MAX_CONTROL_MESSAGE_BYTES,
} from '../protocol/frame.js';
import {
  type ControlMessage,
  DATA_HEADER_BYTES,
  type DataHeader,
  decodeControl,
  decodeDataHeader,
  encodeControl,
  encodeDataHeader,
} from '../protocol/messages.js';
import type { Role } from './types.js';

const CONTROL_AAD = new TextEncoder().encode('ferry/1 control');
// A piece is sealed under its own label, so a piece turned into a whole
// message (its frame type byte changed) fails authentication.
const CONTROL_PART_AAD = new TextEncoder().encode('ferry/1 control part');
/** Plaintext bytes per piece of a large control message (a frame adds a 16-byte tag). */
const PIECE_BYTES = FRAME_CAPS[FrameType.Control] - 1024;

/** A decrypted incoming frame. */
export type Incoming =
  | { kind: 'control'; msg: ControlMessage }
  | { kind: 'data'; header: DataHeader; leaf: Uint8Array; payload: Uint8Array };

/** Encrypted control and data frames over one stream. */
export class SecureChannel {
  readonly #reader: FrameReader;
  readonly #writer: FrameWriter;
  readonly #sendControl: FrameSealer;
  readonly #recvControl: FrameOpener;
  readonly #sendData: FrameSealer;
  readonly #recvData: FrameOpener;
  #transferId: Uint8Array | null = null;
  #queue: Promise<void> = Promise.resolve();
  /** Opened pieces of an incoming control message, and their total length. */
  #pieces: Uint8Array[] = [];
  #pieceBytes = 0;

  constructor(reader: FrameReader, writer: FrameWriter, keys: SessionKeys, role: Role) {
    this.#reader = reader;
    this.#writer = writer;
    // Data bodies are decrypted (copied out) before the next read.
    reader.reuseDataBodies = true;
    const out = role === 'sender' ? Direction.SenderToReceiver : Direction.ReceiverToSender;
    const inn = role === 'sender' ? Direction.ReceiverToSender : Direction.SenderToReceiver;
    this.#sendControl = new FrameSealer(keys.sendControl, out);
    this.#recvControl = new FrameOpener(keys.recvControl, inn);
    this.#sendData = new FrameSealer(keys.sendData, out);
    this.#recvData = new FrameOpener(keys.recvData, inn);
  }

  /** Bind data frames to a transfer id (it goes into every data frame's AAD). */
  setTransferId(id: Uint8Array): void {
    if (id.length !== 16) throw new TypeError('transferId: expected 16 bytes');
    this.#transferId = id;
  }

  /** Bytes written and read on the stream so far. */
  get wireBytes(): { written: number; read: number } {
    return { written: this.#writer.bytesWritten, read: this.#reader.bytesRead };
  }

  #serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /**
   * Send one control message: one frame, or, when larger than a frame, its
   * pieces back to back (nothing else goes out between them).
   */
  sendControl(msg: ControlMessage): Promise<void> {
    const body = encodeControl(msg);
    if (body.length > MAX_CONTROL_MESSAGE_BYTES) {
      return Promise.reject(
        new ProtocolError(
          `a '${msg.t}' message of ${Math.ceil(body.length / 2 ** 20)} MiB is over the ${MAX_CONTROL_MESSAGE_BYTES / 2 ** 20} MiB limit`,
        ),
      );
    }
    return this.#serialized(async () => {
      let off = 0;
      for (; body.length - off > PIECE_BYTES; off += PIECE_BYTES) {
        const piece = body.subarray(off, off + PIECE_BYTES);
        await this.#writer.write(
          FrameType.ControlPart,
          ...this.#sendControl.seal(CONTROL_PART_AAD, piece),
        );
      }
      const sealed = this.#sendControl.seal(CONTROL_AAD, body.subarray(off));
      await this.#writer.write(FrameType.Control, ...sealed);
    });
  }

  /** Send one chunk: the leaf travels encrypted together with the payload. */
  sendData(header: DataHeader, leaf: Uint8Array, payload: Uint8Array): Promise<void> {
    return this.#serialized(async () => {
      const h = encodeDataHeader(header);
      const sealed = this.#sendData.seal(this.#dataAad(h), leaf, payload);
      noteBufferChurn(payload.length);
      await this.#writer.write(FrameType.Data, h, ...sealed);
    });
  }

  /** Send a plaintext alert; used only when the channel itself is unusable. */
  sendAlert(code: ErrorCode, message: string): Promise<void> {
    return this.#serialized(() =>
      this.#writer.write(FrameType.Alert, encodeControl({ t: 'error', code, message })),
    );
  }

  #dataAad(header: Uint8Array): Buffer {
    if (!this.#transferId) throw new ProtocolError('data frame before the transfer id is known');
    return Buffer.concat([this.#transferId, header]);
  }

  /** The next authenticated frame, or `null` at a clean end of stream. */
  async receive(): Promise<Incoming | null> {
    for (;;) {
      const frame = await this.#reader.next();
      if (frame === null) {
        if (this.#pieces.length > 0)
          throw new ProtocolError('stream ended inside a control message');
        return null;
      }
      if (frame.type === FrameType.ControlPart) {
        this.#addPiece(this.#recvControl.open(CONTROL_PART_AAD, frame.body, 'control frame'));
        continue;
      }
      if (this.#pieces.length > 0 && frame.type !== FrameType.Control) {
        throw new ProtocolError(`frame type ${frame.type} inside a control message`);
      }
      return this.#incoming(frame.type, frame.body);
    }
  }

  /** Keep an opened piece of a control message, within MAX_CONTROL_MESSAGE_BYTES. */
  #addPiece(piece: Uint8Array): void {
    this.#pieceBytes += piece.length;
    if (this.#pieceBytes > MAX_CONTROL_MESSAGE_BYTES) {
      throw new ProtocolError(
        `control message over ${MAX_CONTROL_MESSAGE_BYTES / 2 ** 20} MiB in pieces`,
      );
    }
    this.#pieces.push(piece);
  }

  #incoming(type: number, body: Uint8Array): Incoming {
    switch (type) {
      case FrameType.Control: {
        let plain = this.#recvControl.open(CONTROL_AAD, body, 'control frame');
        if (this.#pieces.length > 0) {
          this.#addPiece(plain);
          plain = Buffer.concat(this.#pieces, this.#pieceBytes);
          this.#pieces = [];
          this.#pieceBytes = 0;
        }
        return { kind: 'control', msg: decodeControl(plain) };
      }
      case FrameType.Data: {
        // The frame as read and its plaintext.
        noteBufferChurn(2 * body.length);
        const header = decodeDataHeader(body);
        const plain = this.#recvData.open(
          this.#dataAad(body.subarray(0, DATA_HEADER_BYTES)),
          body.subarray(DATA_HEADER_BYTES),
          `chunk ${header.chunk} of file ${header.file}`,
        );
        if (plain.length < 32) throw new ProtocolError('data frame without a leaf');
        return { kind: 'data', header, leaf: plain.subarray(0, 32), payload: plain.subarray(32) };
      }
      case FrameType.Alert: {
        // Unauthenticated: it can only end the transfer, which anyone on the
        // path could do anyway by cutting the stream.
        let text = 'peer sent an alert';
        try {
          const m = decodeControl(body);
          if (m.t === 'error') text = `${m.code}: ${m.message}`;
        } catch {
          // keep the generic text
        }
        throw new FerryError('REMOTE', `peer aborted: ${text}`);
      }
      default:
        throw new ProtocolError(`unexpected frame type ${type} after the handshake`);
    }
  }

  /** Wipe all keys once every frame queued so far has been sealed. */
  dispose(): void {
    this.#queue = this.#queue.then(() => this.#wipe());
  }

  #wipe(): void {
    this.#sendControl.dispose();
    this.#recvControl.dispose();
    this.#sendData.dispose();
    this.#recvData.dispose();
  }
}
