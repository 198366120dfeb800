/**
 * Direct links over TCP + TLS 1.3 with pinned Ed25519 identities.
 *
 * Both sides present a self-signed certificate for their identity key
 * (mutual TLS, see tls-cert.ts). Certificates are not verified as chains
 * (`rejectUnauthorized: false`); instead, after the handshake, each side
 * extracts the peer's Ed25519 key from its certificate: the dialler compares
 * it with `expectedPeer` (PEER_MISMATCH on a difference), the listener hands
 * it to `onLink` for the caller to judge. TLS proves possession of the key.
 * The TLS socket then carries a mux link (mux-link.ts); the dialler is the
 * initiator.
 *
 * `dialTlsPipe` / `listenTlsPipes` give the bare TLS byte pipe without the
 * mux, for protocols that speak first (a relay join) and mux afterwards.
 *
 * Limits: one TCP connection per link (no parallel connections); the
 * listener's `rttMs` is the TLS handshake time (one round trip plus crypto),
 * the dialler's the TCP connect time; no proxy support.
 */

import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import {
  createSecureContext,
  createServer as createTlsServer,
  type SecureContext,
  type TLSSocket,
  connect as tlsConnect,
} from 'node:tls';
import { type Identity, shortFingerprint } from '../crypto/identity.js';
import { ConnectionError, ErrorCode, FerryError, HandshakeError, toFerryError } from '../errors.js';
import type { ByteStream, LinkInfo } from './link.js';
import { createMuxLink, type MuxLink, type MuxLinkOptions } from './mux-link.js';
import { socketStream } from './socket-stream.js';
import { createSelfSignedCert, publicKeyFromCert } from './tls-cert.js';

/** Mux tuning passed through to {@link createMuxLink}. */
export type TcpMuxOptions = Omit<MuxLinkOptions, 'initiator' | 'info'>;

/** Options of {@link dialTlsPipe} and {@link dialTcp}. */
export interface DialTcpOptions {
  /** Our identity, presented as a client certificate. */
  readonly identity: Identity;
  /** Address to dial (loopback, LAN address or host name). */
  readonly host: string;
  /** TCP port. */
  readonly port: number;
  /** The peer's Ed25519 key; a different key fails with HandshakeError PEER_MISMATCH. */
  readonly expectedPeer?: Uint8Array;
  /** Deadline for TCP connect plus TLS handshake (default 5000 ms). */
  readonly timeoutMs?: number;
  /** Cancels the dial (rejects with a CANCELLED FerryError). */
  readonly signal?: AbortSignal;
  /** Mux tuning (dialTcp only). */
  readonly mux?: TcpMuxOptions;
}

/** A TLS byte pipe to an authenticated peer. */
export interface TlsPipe {
  /** The TLS connection as a ByteStream. */
  readonly pipe: ByteStream;
  /** The peer's Ed25519 key, proven by the TLS handshake. */
  readonly peerPublicKey: Uint8Array;
  /** TCP connect time (dialler) or TLS handshake time (listener), ms. */
  readonly rttMs: number;
}

/** Result of {@link dialTcp}. */
export interface TcpDialResult {
  /** The mux link over the TLS connection. */
  readonly link: MuxLink;
  /** The peer's Ed25519 key, proven by the TLS handshake. */
  readonly peerPublicKey: Uint8Array;
}

/** Options of {@link listenTlsPipes}. */
export interface ListenTlsOptions {
  /** Our identity, presented as the server certificate. */
  readonly identity: Identity;
  /** Address to bind (default 127.0.0.1). */
  readonly host?: string;
  /** Port to bind (default 0: any free port). */
  readonly port?: number;
  /** Drop clients that present no certificate (default true). */
  readonly requireClientCert?: boolean;
  /** Drop connections whose TLS handshake takes longer (default 10 000 ms). */
  readonly handshakeTimeoutMs?: number;
  /** Called for connections that failed before `onPipe` (garbage, TLS errors, bad certificates); for logs. */
  readonly onError?: (err: FerryError) => void;
}

/** A running listener. */
export interface TcpListener {
  /** Bound port. */
  readonly port: number;
  /** Bound address. */
  readonly host: string;
  /** Stop listening and drop handshakes in progress; established links stay up. */
  close(): Promise<void>;
}

/** Options of {@link listenTcp}. */
export interface ListenTcpOptions extends ListenTlsOptions {
  /**
   * Called for each authenticated connection. `peerPublicKey` is undefined
   * only when `requireClientCert` is false and the client sent no
   * certificate. The callee owns the link (close it to reject the peer).
   */
  readonly onLink: (link: MuxLink, peerPublicKey: Uint8Array | undefined) => void;
  /** Mux tuning. */
  readonly mux?: TcpMuxOptions;
}

const TLS_VERSION = 'TLSv1.3';

function endpoint(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

function secureContextFor(identity: Identity): SecureContext {
  const cert = createSelfSignedCert(identity);
  try {
    return createSecureContext({
      key: cert.keyPem,
      cert: cert.certPem,
      minVersion: TLS_VERSION,
      maxVersion: TLS_VERSION,
    });
  } finally {
    cert.keyPem.fill(0);
  }
}

function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

function dialError(err: unknown, where: string): FerryError {
  if (err instanceof FerryError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'ECONNREFUSED') {
    return new ConnectionError(`TCP connect to ${where} refused (nothing listening there)`, {
      cause: err,
    });
  }
  if (typeof code === 'string' && code.startsWith('E') && !code.startsWith('ERR_')) {
    return new ConnectionError(`TCP connect to ${where} failed (${code}): ${message}`, {
      cause: err,
    });
  }
  return new ConnectionError(`TLS handshake with ${where} failed: ${message}`, { cause: err });
}

/** Dial `host:port` over TCP + TLS 1.3 and authenticate the peer; no mux. */
export function dialTlsPipe(opts: DialTcpOptions): Promise<TlsPipe> {
  const { host, port } = opts;
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const where = endpoint(host, port);
  if (opts.signal?.aborted) {
    return Promise.reject(new FerryError(ErrorCode.Cancelled, `dial to ${where} cancelled`));
  }
  let context: SecureContext;
  try {
    context = secureContextFor(opts.identity);
  } catch (e) {
    return Promise.reject(toFerryError(e, ErrorCode.Handshake));
  }
  const started = performance.now();
  return new Promise<TlsPipe>((resolve, reject) => {
    let settled = false;
    let connectMs: number | undefined;
    const socket = tlsConnect({
      host,
      port,
      secureContext: context,
      rejectUnauthorized: false,
      minVersion: TLS_VERSION,
      maxVersion: TLS_VERSION,
      ...(isIP(host) === 0 ? { servername: host } : {}),
    });
    const cleanup = (): void => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    const fail = (err: FerryError): void => {
      if (settled) return;
      settled = true;
      cleanup();
      socket.on('error', () => {}); // errors of a destroyed socket are not ours to report
      socket.destroy();
      reject(err);
    };
    const onError = (err: Error): void => fail(dialError(err, where));
    const onClose = (): void =>
      fail(new ConnectionError(`connection to ${where} closed during the TLS handshake`));
    const onAbort = (): void =>
      fail(new FerryError(ErrorCode.Cancelled, `dial to ${where} cancelled`));
    const timer = setTimeout(() => {
      fail(
        new ConnectionError(`TCP connect to ${where} timed out after ${timeoutMs / 1000} s`, {
          cause: new Error(connectMs === undefined ? 'no TCP connection' : 'no TLS handshake'),
        }),
      );
    }, timeoutMs);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.once('connect', () => {
      connectMs = performance.now() - started;
    });
    socket.once('secureConnect', () => {
      if (settled) return;
      let peerPublicKey: Uint8Array;
      try {
        const cert = socket.getPeerX509Certificate();
        if (cert === undefined) {
          throw new HandshakeError('HANDSHAKE', `peer at ${where} sent no certificate`);
        }
        peerPublicKey = publicKeyFromCert(cert);
      } catch (e) {
        fail(toFerryError(e, ErrorCode.Handshake));
        return;
      }
      const expected = opts.expectedPeer;
      if (expected !== undefined && !sameKey(peerPublicKey, expected)) {
        fail(
          new HandshakeError(
            'PEER_MISMATCH',
            `peer at ${where} has key ${shortFingerprint(peerPublicKey)}, expected ${
              expected.length === 32 ? shortFingerprint(expected) : 'an invalid key'
            }`,
          ),
        );
        return;
      }
      settled = true;
      const pipe = socketStream(socket, { label: where });
      cleanup();
      resolve({ pipe, peerPublicKey, rttMs: connectMs ?? performance.now() - started });
    });
  });
}

/** Dial a ferry peer over TCP + TLS 1.3 and return a mux link to it (we are the initiator). */
export async function dialTcp(opts: DialTcpOptions): Promise<TcpDialResult> {
  const { pipe, peerPublicKey, rttMs } = await dialTlsPipe(opts);
  const info: LinkInfo = { path: 'direct', transport: 'tcp', rttMs: Math.round(rttMs * 10) / 10 };
  const link = createMuxLink(pipe, { ...opts.mux, initiator: true, info });
  return { link, peerPublicKey };
}

/**
 * Listen for TCP + TLS 1.3 connections; `onPipe` receives each authenticated
 * connection as a bare byte pipe (no mux). Never throws from its handlers:
 * failed connections go to `onError`.
 */
export async function listenTlsPipes(
  opts: ListenTlsOptions & {
    /** Called for each authenticated connection; the callee owns the pipe. */
    readonly onPipe: (pipe: TlsPipe | Omit<TlsPipe, 'peerPublicKey'>, where: string) => void;
  },
): Promise<TcpListener> {
  const host = opts.host ?? '127.0.0.1';
  const requireClientCert = opts.requireClientCert ?? true;
  const report = (err: FerryError): void => {
    try {
      opts.onError?.(err);
    } catch {
      // A logging callback must not take the listener down.
    }
  };
  /** Raw sockets whose TLS handshake is in progress, by remote address:port. */
  const handshaking = new Map<string, { socket: Socket; started: number }>();
  // tls.Server builds its own context from key/cert (it ignores `secureContext`).
  const cert = createSelfSignedCert(opts.identity);
  const server = createTlsServer({
    key: cert.keyPem,
    cert: cert.certPem,
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: TLS_VERSION,
    maxVersion: TLS_VERSION,
    handshakeTimeout: opts.handshakeTimeoutMs ?? 10_000,
  });
  cert.keyPem.fill(0);
  server.on('connection', (socket: Socket) => {
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    handshaking.set(key, { socket, started: performance.now() });
    socket.once('close', () => {
      if (handshaking.get(key)?.socket === socket) handshaking.delete(key);
    });
  });
  server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
    socket.destroy();
    report(
      new ConnectionError(`TLS handshake from a client failed: ${err.message}`, { cause: err }),
    );
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    const where = endpoint(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    const entry = handshaking.get(key);
    handshaking.delete(key);
    const rttMs = entry === undefined ? 0 : performance.now() - entry.started;
    let peerPublicKey: Uint8Array | undefined;
    try {
      const cert = socket.getPeerX509Certificate();
      if (cert !== undefined) peerPublicKey = publicKeyFromCert(cert);
      else if (requireClientCert) {
        throw new HandshakeError('HANDSHAKE', `client ${where} sent no certificate`);
      }
    } catch (e) {
      socket.on('error', () => {});
      socket.destroy();
      report(toFerryError(e, ErrorCode.Handshake));
      return;
    }
    const pipe = socketStream(socket, { label: where });
    try {
      opts.onPipe(
        peerPublicKey === undefined ? { pipe, rttMs } : { pipe, peerPublicKey, rttMs },
        where,
      );
    } catch (e) {
      pipe.abort(toFerryError(e, ErrorCode.Connection));
      report(toFerryError(e, ErrorCode.Connection));
    }
  });
  return new Promise<TcpListener>((resolve, reject) => {
    const onListenError = (err: Error): void => {
      reject(
        new ConnectionError(`cannot listen on ${endpoint(host, opts.port ?? 0)}: ${err.message}`, {
          cause: err,
        }),
      );
    };
    server.once('error', onListenError);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', onListenError);
      server.on('error', (err: Error) => report(toFerryError(err, ErrorCode.Connection)));
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      let closing: Promise<void> | undefined;
      resolve({
        port,
        host,
        close(): Promise<void> {
          closing ??= new Promise<void>((done) => {
            server.close();
            for (const { socket } of handshaking.values()) socket.destroy();
            handshaking.clear();
            setImmediate(done);
          });
          return closing;
        },
      });
    });
  });
}

/** Listen for ferry peers over TCP + TLS 1.3; each connection becomes a mux link (we are the responder). */
export function listenTcp(opts: ListenTcpOptions): Promise<TcpListener> {
  return listenTlsPipes({
    ...opts,
    onPipe: (p) => {
      const info: LinkInfo = {
        path: 'direct',
        transport: 'tcp',
        rttMs: Math.round(p.rttMs * 10) / 10,
      };
      const link = createMuxLink(p.pipe, { ...opts.mux, initiator: false, info });
      opts.onLink(link, 'peerPublicKey' in p ? p.peerPublicKey : undefined);
    },
  });
}
