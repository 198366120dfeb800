/**
 * The relay join protocol, shared by the relay server and its clients.
 *
 * Goals:
 * - One tiny, capped, validated frame from the client before the relay starts
 *   splicing, so the relay parses as little untrusted input as possible.
 * - After `paired` the relay sends nothing of its own: the next byte a client
 *   reads is the first byte its peer wrote (ferry's end-to-end handshake).
 * - Transport-agnostic: works on any node Duplex (TLS socket, QUIC stream).
 *
 * Non-goals:
 * - Confidentiality or integrity of the spliced bytes: the relay is untrusted
 *   and the clients' handshake authenticates and encrypts everything.
 * - Hiding the room from the relay operator: the room id is a hash of the
 *   nameplate only (code-phrase.ts), never of the secret words.
 *
 * Wire format:
 * - client → relay, once: `'FRY1' | u16 length (big-endian) | CBOR body`, the
 *   body a map `{room: bytes(32), role: 'sender'|'receiver', password?: text,
 *   version: 1}`, at most MAX_JOIN_BODY bytes.
 * - relay → client: `u16 length | CBOR {status: 'waiting'}`, then
 *   `u16 length | CBOR {status: 'paired'}`, after which raw bytes follow; or
 *   `u16 length | CBOR {status: 'error', code, message}` and then the relay
 *   closes.
 */
import type { Duplex } from 'node:stream';
import { encode } from 'cborg';
import { z } from 'zod/v3';
import { ConnectionError, ErrorCode, FerryError, ProtocolError } from '../engine/errors.js';
import { parseUntrusted } from '../engine/protocol/cbor.js';

/** Magic that opens a join frame: 'FRY1' (ferry relay, protocol 1). */
export const JOIN_MAGIC: Uint8Array = new Uint8Array([0x46, 0x52, 0x59, 0x31]);
/** Join protocol version carried in the join body. */
export const JOIN_VERSION = 1;
/** Largest join body (CBOR) a relay accepts; a 32-byte room and a 256-char password fit. */
export const MAX_JOIN_BODY = 512;
/** Bytes before the join body: magic (4) + u16 length (2). */
export const JOIN_HEADER_BYTES = 6;
/** Largest status frame body a client accepts. */
export const MAX_STATUS_BODY = 1024;
/** Bytes of the room id (SHA-256 of the nameplate, see code-phrase.ts). */
export const ROOM_ID_BYTES = 32;
/** Longest relay password accepted on the wire, in characters. */
export const MAX_PASSWORD_CHARS = 256;

/** Error codes the relay sends in a `{status: 'error'}` frame. */
export const RelayErrorCode = {
  /** The join frame was garbage, oversized, of another version, or never came. */
  BadJoin: 'BAD_JOIN',
  /** The relay needs a password and the join had none or a wrong one. */
  BadPassword: 'BAD_PASSWORD',
  /** The room already has a sender and a receiver. */
  RoomFull: 'ROOM_FULL',
  /** Too many joins from this address; try again later. */
  RateLimited: 'RATE_LIMITED',
  /** The room's waiting client has the same role as this one. */
  SameRole: 'SAME_ROLE',
  /** The relay is at its cap of rooms or connections. */
  Busy: 'BUSY',
  /** Nobody joined the room before it expired. */
  Expired: 'EXPIRED',
} as const;
/** Union of relay error codes. */
export type RelayErrorCode = (typeof RelayErrorCode)[keyof typeof RelayErrorCode];

/** Which side of a transfer a client is. */
export type RelayRole = 'sender' | 'receiver';

const bytes = (len: number) =>
  z.custom<Uint8Array>(
    (v) => ArrayBuffer.isView(v) && v instanceof Uint8Array && v.length === len,
    `expected ${len} bytes`,
  );

const joinSchema = z.object({
  room: bytes(ROOM_ID_BYTES),
  role: z.enum(['sender', 'receiver']),
  password: z.string().max(MAX_PASSWORD_CHARS).optional(),
  version: z.literal(JOIN_VERSION),
});

/** A validated join request. */
export type JoinRequest = z.infer<typeof joinSchema>;

const statusSchema = z.discriminatedUnion('status', [
  z.object({ status: z.literal('waiting') }),
  z.object({ status: z.literal('paired') }),
  // `code` stays a free string so an older client still shows a newer relay's message.
  z.object({ status: z.literal('error'), code: z.string().max(64), message: z.string().max(512) }),
]);

/** A status frame from the relay. */
export type RelayStatus = z.infer<typeof statusSchema>;

/** The relay turned a join down; `relayCode` says why. */
export class RelayRejectedError extends FerryError {
  /** The code from the relay's error frame (one of RelayErrorCode from this version). */
  readonly relayCode: string;

  constructor(relayCode: string, message: string) {
    const retryable =
      relayCode === RelayErrorCode.Busy ||
      relayCode === RelayErrorCode.RateLimited ||
      relayCode === RelayErrorCode.Expired;
    super(ErrorCode.Remote, `relay refused the join (${relayCode}): ${message}`, { retryable });
    this.name = 'RelayRejectedError';
    this.relayCode = relayCode;
  }
}

/** Serialize a join frame (magic, length, CBOR body). Throws RangeError past the caps. */
export function encodeJoin(join: JoinRequest): Uint8Array {
  const checked = joinSchema.safeParse(join);
  if (!checked.success) throw new RangeError(`join: ${checked.error.issues[0]?.message}`);
  const body = encode(checked.data);
  if (body.length > MAX_JOIN_BODY) {
    throw new RangeError(`join: body of ${body.length} bytes exceeds ${MAX_JOIN_BODY}`);
  }
  const out = new Uint8Array(JOIN_HEADER_BYTES + body.length);
  out.set(JOIN_MAGIC, 0);
  new DataView(out.buffer).setUint16(4, body.length);
  out.set(body, JOIN_HEADER_BYTES);
  return out;
}

/** Validate a join body (the CBOR after magic and length); throws ProtocolError. */
export function decodeJoinBody(body: Uint8Array): JoinRequest {
  const version = parseUntrusted(body, z.object({ version: z.number().finite() }));
  if (version.ok && version.value.version !== JOIN_VERSION) {
    throw new ProtocolError(
      `join version ${version.value.version} is not supported (want ${JOIN_VERSION})`,
    );
  }
  const r = parseUntrusted(body, joinSchema);
  if (!r.ok) throw new ProtocolError(`join is malformed: ${r.message}`, { cause: r.cause });
  return r.value;
}

/**
 * Try to take one join frame off the front of `buf`. Returns `null` while more
 * bytes are needed, the request and the bytes consumed once whole. Throws
 * ProtocolError as soon as the bytes seen so far cannot be a join (wrong
 * magic, oversized or empty length), so garbage is refused without buffering.
 */
export function parseJoinFrame(buf: Uint8Array): { join: JoinRequest; consumed: number } | null {
  const magicSeen = Math.min(buf.length, JOIN_MAGIC.length);
  for (let i = 0; i < magicSeen; i++) {
    if (buf[i] !== JOIN_MAGIC[i]) throw new ProtocolError('not a ferry relay join (bad magic)');
  }
  if (buf.length < JOIN_HEADER_BYTES) return null;
  const len = ((buf[4] ?? 0) << 8) | (buf[5] ?? 0);
  if (len === 0 || len > MAX_JOIN_BODY) {
    throw new ProtocolError(`join length ${len} outside 1..${MAX_JOIN_BODY}`);
  }
  if (buf.length < JOIN_HEADER_BYTES + len) return null;
  const join = decodeJoinBody(buf.subarray(JOIN_HEADER_BYTES, JOIN_HEADER_BYTES + len));
  return { join, consumed: JOIN_HEADER_BYTES + len };
}

/** Serialize a status frame (u16 length + CBOR). */
export function encodeStatus(status: RelayStatus): Uint8Array {
  const body = encode(status);
  if (body.length > MAX_STATUS_BODY) throw new RangeError('status: frame too large');
  const out = new Uint8Array(2 + body.length);
  new DataView(out.buffer).setUint16(0, body.length);
  out.set(body, 2);
  return out;
}

/**
 * Try to take one status frame off the front of `buf`: `null` while more
 * bytes are needed; throws ProtocolError on an oversized or malformed frame.
 */
export function parseStatusFrame(
  buf: Uint8Array,
): { status: RelayStatus; consumed: number } | null {
  if (buf.length < 2) return null;
  const len = ((buf[0] ?? 0) << 8) | (buf[1] ?? 0);
  if (len === 0 || len > MAX_STATUS_BODY) {
    throw new ProtocolError(`relay status length ${len} outside 1..${MAX_STATUS_BODY}`);
  }
  if (buf.length < 2 + len) return null;
  const r = parseUntrusted(buf.subarray(2, 2 + len), statusSchema);
  if (!r.ok) throw new ProtocolError(`relay status is malformed: ${r.message}`, { cause: r.cause });
  return { status: r.value, consumed: 2 + len };
}

/** Options of `joinRelay`. */
export interface JoinRelayOptions {
  /** 32-byte room id (`roomIdFromNameplate`). */
  room: Uint8Array;
  role: RelayRole;
  /** The relay's own password, if it requires one (not the code phrase). */
  password?: string;
  /** Aborts the wait; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called once if the relay reports that the peer has not arrived yet. */
  onWaiting?: () => void;
}

/**
 * Join a room on a relay over an already connected stream (TLS socket, QUIC
 * stream). Resolves once the relay reports `paired`; from then on the stream
 * carries the peer's bytes, and any that arrived together with the `paired`
 * frame are pushed back (`unshift`) so the next reader sees them. Rejects with
 * RelayRejectedError on an error frame, ConnectionError if the stream ends
 * first, ProtocolError on a malformed frame, or the signal's reason on abort.
 * The caller owns the stream: it destroys it on failure and keeps an 'error'
 * listener of its own, since this one is removed when the promise settles.
 */
export function joinRelay(stream: Duplex, opts: JoinRelayOptions): Promise<void> {
  const frame = encodeJoin({
    room: opts.room,
    role: opts.role,
    version: JOIN_VERSION,
    ...(opts.password === undefined ? {} : { password: opts.password }),
  });
  return new Promise<void>((resolve, reject) => {
    let pending: Uint8Array = new Uint8Array(0);
    let waitingReported = false;
    const finish = (err: Error | null, leftover?: Uint8Array) => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('close', onClose);
      stream.off('error', onError);
      opts.signal?.removeEventListener('abort', onAbort);
      if (err) {
        reject(err);
        return;
      }
      if (leftover && leftover.length > 0) stream.unshift(leftover);
      resolve();
    };
    const onReadable = () => {
      for (;;) {
        const chunk = stream.read() as Uint8Array | null;
        if (chunk === null) return;
        pending = pending.length === 0 ? chunk : concat(pending, chunk);
        for (;;) {
          let next: ReturnType<typeof parseStatusFrame>;
          try {
            next = parseStatusFrame(pending);
          } catch (err) {
            finish(err as Error);
            return;
          }
          if (next === null) break;
          pending = pending.subarray(next.consumed);
          const s = next.status;
          if (s.status === 'paired') {
            finish(null, pending);
            return;
          }
          if (s.status === 'error') {
            finish(new RelayRejectedError(s.code, s.message));
            return;
          }
          if (!waitingReported) {
            waitingReported = true;
            opts.onWaiting?.();
          }
        }
      }
    };
    const onEnd = () => finish(new ConnectionError('relay closed the connection before pairing'));
    const onClose = () => finish(new ConnectionError('relay connection closed before pairing'));
    const onError = (err: Error) =>
      finish(new ConnectionError(`relay connection failed: ${err.message}`, { cause: err }));
    const onAbort = () => finish(toError(opts.signal?.reason));
    if (opts.signal?.aborted) {
      reject(toError(opts.signal.reason));
      return;
    }
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    stream.on('readable', onReadable);
    stream.on('end', onEnd);
    stream.on('close', onClose);
    stream.on('error', onError);
    stream.write(frame);
  });
}

function toError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason ?? 'aborted'));
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
