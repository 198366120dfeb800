/**
 * Reaching the peer through a relay: connect (TCP+TLS), join the room that
 * the code's nameplate names, wait until the relay pairs us, then run the
 * stream mux over the spliced pipe. The relay's certificate is not checked:
 * the relay is untrusted by design and only ever carries ciphertext of the
 * end-to-end handshake; TLS to it only hides the join from the network.
 */
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import type { Identity } from '../engine/crypto/identity.js';
import { ConnectionError, FerryError } from '../engine/errors.js';
import { createMuxLink, type MuxLink } from '../engine/transport/mux-link.js';
import { dialQuic } from '../engine/transport/quic-link.js';
import { socketStream } from '../engine/transport/socket-stream.js';
import { joinRelay, type RelayRole } from '../relay/protocol.js';
import { joinRelayStream } from '../relay/quic-front.js';

/** Where a relay listens. */
export interface RelayEndpoint {
  readonly transport: 'tcp' | 'quic';
  readonly host: string;
  readonly port: number;
}

/** Parse `host:port`, `tcp://host:port`, `quic://host:port`, `[::1]:port`. */
export function parseRelayAddress(input: string): RelayEndpoint {
  const m = /^(?:(tcp|quic):\/\/)?(\[[0-9a-fA-F:.]+\]|[^:/\s]+):(\d{1,5})$/.exec(input.trim());
  const port = m ? Number(m[3]) : 0;
  if (!m || port < 1 || port > 65535) {
    throw new RangeError(
      `relay address '${input}': expected HOST:PORT, tcp://HOST:PORT or quic://HOST:PORT`,
    );
  }
  const host = m[2]!.replace(/^\[|\]$/g, '');
  return { transport: (m[1] as 'tcp' | 'quic' | undefined) ?? 'tcp', host, port };
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
  const { link } = await dialQuic({
    identity: opts.identity,
    host: ep.host,
    port: ep.port,
    ...(opts.connectTimeoutMs ? { timeoutMs: opts.connectTimeoutMs } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const rttMs = link.info.rttMs ?? performance.now() - started;
  try {
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
