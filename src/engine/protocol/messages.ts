/**
 * Control messages (CBOR, validated by zod schemas) and the fixed binary
 * header of data frames.
 *
 * Every message that arrives is untrusted: it is decoded with duplicate keys
 * rejected, then parsed against its schema; anything else is a ProtocolError.
 * Chunk payloads never pass through CBOR: a data frame is
 * `header (13 bytes) | AES-GCM(leaf (32) | payload)`.
 */
import { encode } from 'cborg';
import { z } from 'zod/v3';
import { ProtocolError } from '../errors.js';
import { parseUntrusted } from './cbor.js';

/** Most files one offer may list. */
export const MAX_FILES = 100_000;
/** Smallest and largest chunk size (DESIGN: 64 KiB – 8 MiB). */
export const MIN_CHUNK_SIZE = 64 * 1024;
/** Largest chunk size. */
export const MAX_CHUNK_SIZE = 8 * 1024 * 1024;
/** Leaves per `leaves` message page (2 MiB of leaves). */
export const LEAVES_PER_PAGE = 65_536;

const bytes = (len?: number) =>
  z.custom<Uint8Array>(
    // isView, not just instanceof: an object whose prototype was set to a
    // Uint8Array's passes instanceof without being one.
    (v) =>
      ArrayBuffer.isView(v) && v instanceof Uint8Array && (len === undefined || v.length === len),
    len === undefined ? 'expected a byte string' : `expected ${len} bytes`,
  );
const uint = z.number().int().nonnegative().safe();
const reason = z.string().max(1024);
const code = z.string().max(64);

/** A device name as its owner set it: a claim for display, never for trust. */
const deviceName = z.string().max(256).optional();

const offerFile = z.object({
  path: z.string().min(1).max(4096),
  size: uint,
  mtime: z.number().finite(),
});

/** Messages the sender sends. */
const senderMessages = [
  z.object({
    t: z.literal('offer'),
    transferId: bytes(16),
    chunkSize: uint.min(MIN_CHUNK_SIZE).max(MAX_CHUNK_SIZE),
    files: z.array(offerFile).min(1).max(MAX_FILES),
    /** Empty folders to recreate (absent from senders before they were sent). */
    dirs: z.array(z.string().min(1).max(4096)).max(MAX_FILES).optional(),
    name: deviceName,
  }),
  z.object({ t: z.literal('file-end'), file: uint, root: bytes(32) }),
  z.object({
    t: z.literal('leaves'),
    file: uint,
    start: uint,
    leaves: bytes().refine((b) => b.length % 32 === 0 && b.length <= LEAVES_PER_PAGE * 32),
  }),
] as const;

/** Messages the receiver sends. */
const receiverMessages = [
  z.object({
    t: z.literal('accept'),
    files: z
      .array(
        z.object({
          file: uint,
          /** Chunk indices the receiver already holds, as [start, end) pairs flattened. */
          have: z.array(uint).max(2_000_000),
          /** The leaves of those chunks, 32 bytes each, in chunk order. */
          leaves: bytes().refine((b) => b.length % 32 === 0),
        }),
      )
      .max(MAX_FILES),
    name: deviceName,
  }),
  z.object({ t: z.literal('decline'), reason }),
  /** Written chunks: flattened triples [file, start, end). */
  z.object({ t: z.literal('ack'), ranges: z.array(uint).max(3 * 4096) }),
  z.object({ t: z.literal('nack'), file: uint, chunk: uint, reason }),
  z.object({ t: z.literal('file-verified'), file: uint }),
  z.object({ t: z.literal('need-leaves'), file: uint }),
  z.object({
    t: z.literal('refetch'),
    file: uint,
    chunks: z.array(uint).min(1).max(LEAVES_PER_PAGE),
  }),
  z.object({ t: z.literal('complete') }),
] as const;

/** Messages either side sends. */
const commonMessages = [
  // Keepalive: "still here", while we wait on something of our own (a throttle).
  z.object({ t: z.literal('ping') }),
  z.object({ t: z.literal('pause') }),
  z.object({ t: z.literal('resume') }),
  z.object({ t: z.literal('cancel'), reason }),
  z.object({ t: z.literal('error'), code, message: reason }),
] as const;

const controlSchema = z.discriminatedUnion('t', [
  ...senderMessages,
  ...receiverMessages,
  ...commonMessages,
]);

/** Any control message. */
export type ControlMessage = z.infer<typeof controlSchema>;
/** The control message with tag `T`. */
export type MessageOf<T extends ControlMessage['t']> = Extract<ControlMessage, { t: T }>;
/** One file entry of an offer. */
export type OfferFile = z.infer<typeof offerFile>;

/** Serialize a control message. */
export function encodeControl(msg: ControlMessage): Uint8Array {
  return encode(msg);
}

/** Parse and validate a control message; throws ProtocolError on anything malformed. */
export function decodeControl(body: Uint8Array): ControlMessage {
  const r = parseUntrusted(body, controlSchema);
  if (!r.ok) throw new ProtocolError(`malformed control message: ${r.message}`, { cause: r.cause });
  return r.value;
}

/** Size of the fixed data-frame header. */
export const DATA_HEADER_BYTES = 13;

/** Flags of a data frame. */
export const DataFlag = {
  /** Last chunk of its file. */
  Final: 0x01,
  /** Payload is raw-deflate compressed. */
  Compressed: 0x02,
} as const;

/** Decoded data-frame header. */
export interface DataHeader {
  readonly file: number;
  readonly chunk: number;
  readonly flags: number;
  /** Plaintext length of the chunk (after decompression). */
  readonly length: number;
}

/** Encode a data-frame header (also the AAD's tail). */
export function encodeDataHeader(h: DataHeader): Buffer {
  const b = Buffer.allocUnsafe(DATA_HEADER_BYTES);
  b.writeUInt32BE(h.file, 0);
  b.writeUInt32BE(h.chunk, 4);
  b[8] = h.flags;
  b.writeUInt32BE(h.length, 9);
  return b;
}

/** Decode a data-frame header; throws ProtocolError if it is too short or has unknown flags. */
export function decodeDataHeader(body: Uint8Array): DataHeader {
  if (body.length < DATA_HEADER_BYTES)
    throw new ProtocolError('data frame shorter than its header');
  const v = new DataView(body.buffer, body.byteOffset, DATA_HEADER_BYTES);
  const flags = v.getUint8(8);
  if ((flags & ~(DataFlag.Final | DataFlag.Compressed)) !== 0) {
    throw new ProtocolError(`data frame has unknown flags 0x${flags.toString(16)}`);
  }
  return { file: v.getUint32(0), chunk: v.getUint32(4), flags, length: v.getUint32(9) };
}

/** Flatten sorted chunk indices into [start, end) pairs. */
export function toRanges(sorted: Iterable<number>): number[] {
  const out: number[] = [];
  let start = -1;
  let prev = -2;
  for (const i of sorted) {
    if (i === prev + 1) {
      prev = i;
      continue;
    }
    if (start >= 0) out.push(start, prev + 1);
    start = i;
    prev = i;
  }
  if (start >= 0) out.push(start, prev + 1);
  return out;
}

/** Expand [start, end) pairs; throws ProtocolError if malformed or beyond `limit`. */
export function fromRanges(pairs: readonly number[], limit: number): number[] {
  if (pairs.length % 2 !== 0) throw new ProtocolError('range list has odd length');
  const out: number[] = [];
  let last = 0;
  for (let k = 0; k < pairs.length; k += 2) {
    const s = pairs[k]!;
    const e = pairs[k + 1]!;
    if (!Number.isSafeInteger(s) || !Number.isSafeInteger(e) || s < last || e <= s || e > limit) {
      throw new ProtocolError(`bad range [${s}, ${e})`);
    }
    for (let i = s; i < e; i++) out.push(i);
    last = e;
  }
  return out;
}
