/**
 * The relay's QUIC front end, and joining a relay over a QUIC stream.
 *
 * A client dials the relay over QUIC, opens one stream and speaks the same
 * join protocol as over TCP+TLS; the relay hands that stream to the same
 * RelayRooms, which pairs and splices it like a TLS socket. QUIC and TCP
 * clients can meet in one room.
 */
import type { Identity } from '../engine/crypto/identity.js';
import { ConnectionError, ProtocolError } from '../engine/errors.js';
import type { ByteStream } from '../engine/transport/link.js';
import { listenQuic } from '../engine/transport/quic-link.js';
import { duplexFromByteStream, prependToByteStream } from '../engine/transport/stream-duplex.js';
import {
  encodeJoin,
  JOIN_VERSION,
  type JoinRelayOptions,
  parseStatusFrame,
  RelayRejectedError,
} from './protocol.js';
import type { RelayRooms } from './rooms.js';

/** A running QUIC front end. */
export interface QuicRelayFront {
  readonly port: number;
  close(): Promise<void>;
}

/** Serve `rooms` over QUIC on host:port: each stream a client opens is one relay client. */
export async function startQuicRelayFront(opts: {
  identity: Identity;
  host: string;
  port: number;
  rooms: RelayRooms;
}): Promise<QuicRelayFront> {
  const listener = await listenQuic({
    identity: opts.identity,
    host: opts.host,
    port: opts.port,
    onLink: (link, _key, remoteHost) => {
      const serve = async () => {
        for (;;) {
          const stream = await link.acceptStream();
          if (stream === null) return;
          opts.rooms.accept(duplexFromByteStream(stream), remoteHost || 'quic');
        }
      };
      serve().catch(() => link.close().catch(() => undefined));
    },
  });
  return { port: listener.port, close: () => listener.close() };
}

/**
 * Join a room over a ByteStream (a QUIC stream to the relay). Resolves with
 * the paired pipe (bytes that arrived with the `paired` status come first).
 */
export async function joinRelayStream(
  stream: ByteStream,
  opts: JoinRelayOptions,
): Promise<ByteStream> {
  const onAbort = () => stream.abort(new ConnectionError('cancelled while joining the relay'));
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await stream.write(
      encodeJoin({
        room: opts.room,
        role: opts.role,
        version: JOIN_VERSION,
        ...(opts.password === undefined ? {} : { password: opts.password }),
      }),
    );
    let buf: Uint8Array = new Uint8Array(0);
    let waitingReported = false;
    for (;;) {
      const parsed = parseStatusFrame(buf);
      if (parsed) {
        buf = buf.subarray(parsed.consumed);
        const st = parsed.status;
        if (st.status === 'waiting') {
          if (!waitingReported) opts.onWaiting?.();
          waitingReported = true;
          continue;
        }
        if (st.status === 'paired') return prependToByteStream(buf, stream);
        throw new RelayRejectedError(st.code, st.message);
      }
      const piece = await stream.read();
      if (piece === null) throw new ConnectionError('the relay closed the stream before pairing');
      const next = new Uint8Array(buf.length + piece.length);
      next.set(buf);
      next.set(piece, buf.length);
      buf = next;
      if (buf.length > 64 * 1024) throw new ProtocolError('relay status frames too long');
    }
  } catch (err) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    throw err;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
