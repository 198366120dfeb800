/**
 * Reaching the peer through a relay: connect (TCP+TLS), join the room that
 * the code's nameplate names, wait until the relay pairs us, then run the
 * stream mux over the spliced pipe. The relay is untrusted by design and
 * only ever carries ciphertext of the end-to-end handshake; TLS to it hides
 * the join (and a private relay's password) from the network.
 *
 * A relay address may pin the relay's key: `tcp://HOST:PORT#PIN`, where PIN
 * is the short fingerprint `ferry relay` prints (or the full hex one). With
 * a pin, a relay presenting another key is refused before anything is sent
 * to it, so a machine in the middle cannot pose as a private relay and
 * collect its password. Without one, any relay key is accepted.
 */
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { fingerprint, type Identity, shortFingerprint } from '../engine/crypto/identity.js';
import { ConnectionError, FerryError, HandshakeError } from '../engine/errors.js';
import { createMuxLink, type MuxLink } from '../engine/transport/mux-link.js';
import { dialQuic } from '../engine/transport/quic-link.js';
import { socketStream } from '../engine/transport/socket-stream.js';
import { publicKeyFromCert } from '../engine/transport/tls-cert.js';
import { joinRelay, type RelayRole } from '../relay/protocol.js';
import { joinRelayStream } from '../relay/quic-front.js';

/** Where a relay listens. */
export interface RelayEndpoint {
  readonly transport: 'tcp' | 'quic';
  readonly host: string;
  readonly port: number;
  /** The relay's key as pinned in its address: 64 hex digits, or the 16-letter short form (no dashes). */
  readonly pin?: string;
}

/** Parse `host:port`, `tcp://host:port`, `quic://host:port`, `[::1]:port`, each with an optional `#PIN`. */
export function parseRelayAddress(input: string): RelayEndpoint {
  const m = /^(?:(tcp|quic):\/\/)?(\[[0-9a-fA-F:.]+\]|[^:/\s#]+):(\d{1,5})(?:#([^\s]*))?$/.exec(
    input.trim(),
  );
  const port = m ? Number(m[3]) : 0;
  if (!m || port < 1 || port > 65535) {
    throw new RangeError(
      `relay address '${input}': expected HOST:PORT, tcp://HOST:PORT or quic://HOST:PORT (optionally #PIN)`,
    );
  }
  const host = m[2]!.replace(/^\[|\]$/g, '');
  const transport = (m[1] as 'tcp' | 'quic' | undefined) ?? 'tcp';
  if (m[4] === undefined) return { transport, host, port };
  return { transport, host, port, pin: parsePin(m[4], input) };
}

function parsePin(text: string, input: string): string {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return text.toLowerCase();
  const short = text.replaceAll('-', '').toUpperCase();
  if (/^[A-Z2-7]{16}$/.test(short)) return short;
  throw new RangeError(
    `relay address '${input}': the part after # must be the relay's key as 'ferry relay' prints it (XXXX-XXXX-XXXX-XXXX)`,
  );
}

/** Refuse a relay whose key is not the one its address pins. */
function checkPin(ep: RelayEndpoint, key: Uint8Array): void {
  if (ep.pin === undefined) return;
  const shown = ep.pin.length === 64 ? fingerprint(key) : shortFingerprint(key).replaceAll('-', '');
  if (shown !== ep.pin) {
    throw new HandshakeError(
      'PEER_MISMATCH',
      `relay ${formatEndpoint(ep)} presents key ${shortFingerprint(key)}, not the one its address pins; not using it`,
    );
  }
}

/** Printable form of an endpoint. */
export function formatEndpoint(ep: RelayEndpoint): string {
  const host = ep.host.includes(':') ? `[${ep.host}]` : ep.host;
  return `${ep.transport}://${host}:${ep.port}`;
}

/** Options of `connectViaRelay`. */
export interface RelayConnectOptions {
  readonly identity: Identity;
  readonly room: Uint8Array;
  readonly role: RelayRole;
  /** The relay's own password, if it has one. */
  readonly password?: string;
  readonly signal?: AbortSignal;
  /** Called when the relay says the peer is not there yet. */
  readonly onWaiting?: () => void;
  readonly connectTimeoutMs?: number;
}

/** Connect through a relay and return a mux Link to the paired peer. */
export async function connectViaRelay(
  ep: RelayEndpoint,
  opts: RelayConnectOptions,
): Promise<MuxLink> {
  return ep.transport === 'quic' ? viaQuic(ep, opts) : viaTcp(ep, opts);
}

async function viaTcp(ep: RelayEndpoint, opts: RelayConnectOptions): Promise<MuxLink> {
  const started = performance.now();
  const socket = await new Promise<TLSSocket>((resolve, reject) => {
    const s = tlsConnect({
      host: ep.host,
      port: ep.port,
      minVersion: 'TLSv1.3',
      rejectUnauthorized: false,
    });
    // The relay propagates half-closes; our end must not close when the peer's does.
    s.allowHalfOpen = true;
    const timer = setTimeout(
      () =>
        fail(
          new ConnectionError(
            `relay ${formatEndpoint(ep)} did not answer within ${(opts.connectTimeoutMs ?? 5000) / 1000} s`,
          ),
        ),
      opts.connectTimeoutMs ?? 5000,
    );
    const onAbort = () => fail(new FerryError('CANCELLED', 'cancelled'));
    const fail = (err: Error) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      s.destroy();
      reject(err);
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    s.once('secureConnect', () => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (err) =>
      fail(
        new ConnectionError(`cannot reach relay ${formatEndpoint(ep)}: ${err.message}`, {
          cause: err,
        }),
      ),
    );
  });
  const rttMs = performance.now() - started;
  socket.on('error', () => undefined); // surfaced through the stream wrapper
  try {
    if (ep.pin !== undefined) checkPin(ep, publicKeyFromCert(socket.getPeerCertificate(true)));
    await joinRelay(socket, {
      room: opts.room,
      role: opts.role,
      ...(opts.password === undefined ? {} : { password: opts.password }),
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.onWaiting ? { onWaiting: opts.onWaiting } : {}),
    });
  } catch (err) {
    socket.destroy();
    throw err;
  }
  return createMuxLink(socketStream(socket), {
    initiator: opts.role === 'receiver',
    info: { path: 'relay', transport: 'tcp', rttMs },
  });
}

async function viaQuic(ep: RelayEndpoint, opts: RelayConnectOptions): Promise<MuxLink> {
  const started = performance.now();
  const { link, peerPublicKey } = await dialQuic({
    identity: opts.identity,
    host: ep.host,
    port: ep.port,
    ...(opts.connectTimeoutMs ? { timeoutMs: opts.connectTimeoutMs } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const rttMs = link.info.rttMs ?? performance.now() - started;
  try {
    checkPin(ep, peerPublicKey);
    const stream = await link.openStream();
    const pipe = await joinRelayStream(stream, {
      room: opts.room,
      role: opts.role,
      ...(opts.password === undefined ? {} : { password: opts.password }),
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.onWaiting ? { onWaiting: opts.onWaiting } : {}),
    });
    const mux = createMuxLink(pipe, {
      initiator: opts.role === 'receiver',
      info: { path: 'relay', transport: 'quic', rttMs },
    });
    // The QUIC connection lives as long as the mux over its one stream.
    void mux.closed.finally(() => link.close().catch(() => undefined));
    return mux;
  } catch (err) {
    await link.close().catch(() => undefined);
    throw err;
  }
}
