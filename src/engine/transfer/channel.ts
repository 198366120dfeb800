/**
 * The encrypted channel of one transfer stream, after the handshake.
 *
 * Sealing and writing happen in one serialized section, so the order of
 * frames on the wire always equals the order of nonce counters (the opener
 * expects consecutive counters). Incoming frames are authenticated before
 * anything is parsed beyond the fixed data header.
 */
import { Direction, FrameOpener, FrameSealer } from '../crypto/aead.js';
import type { SessionKeys } from '../crypto/handshake.js';
import { type ErrorCode, FerryError, ProtocolError } from '../errors.js';
import { type FrameReader, FrameType, type FrameWriter } from '../protocol/frame.js';
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

  /** Send one control message. */
  sendControl(msg: ControlMessage): Promise<void> {
    return this.#serialized(async () => {
      const sealed = this.#sendControl.seal(CONTROL_AAD, encodeControl(msg));
      await this.#writer.write(FrameType.Control, ...sealed);
    });
  }

  /** Send one chunk: the leaf travels encrypted together with the payload. */
  sendData(header: DataHeader, leaf: Uint8Array, payload: Uint8Array): Promise<void> {
    return this.#serialized(async () => {
      const h = encodeDataHeader(header);
      const sealed = this.#sendData.seal(this.#dataAad(h), leaf, payload);
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
    const frame = await this.#reader.next();
    if (frame === null) return null;
    switch (frame.type) {
      case FrameType.Control:
        return {
          kind: 'control',
          msg: decodeControl(this.#recvControl.open(CONTROL_AAD, frame.body, 'control frame')),
        };
      case FrameType.Data: {
        const header = decodeDataHeader(frame.body);
        const plain = this.#recvData.open(
          this.#dataAad(frame.body.subarray(0, DATA_HEADER_BYTES)),
          frame.body.subarray(DATA_HEADER_BYTES),
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
          const m = decodeControl(frame.body);
          if (m.t === 'error') text = `${m.code}: ${m.message}`;
        } catch {
          // keep the generic text
        }
        throw new FerryError('REMOTE', `peer aborted: ${text}`);
      }
      default:
        throw new ProtocolError(`unexpected frame type ${frame.type} after the handshake`);
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
