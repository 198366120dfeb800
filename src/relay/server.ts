/**
 * `ferry relay`: the TCP+TLS front end of RelayRooms, plus the Prometheus
 * metrics endpoint.
 *
 * Goals: accept TLS 1.3 connections with the relay's own certificate (any
 * PEM; the CLI generates a self-signed one), hand each to RelayRooms, and
 * never go down because of one client. A QUIC front end can share the same
 * RelayRooms (`server.rooms.accept(stream, address)`).
 *
 * Limits: TLS handshakes in flight are bounded by the join timeout and by a
 * hard socket cap slightly above `maxConnections`; past it the kernel-level
 * accept is dropped without a status frame. Metrics are plain HTTP: bind
 * them to a private address.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { logToStderr, RelayRooms, type RelayRoomsOptions, type RelayStats } from './rooms.js';

/** Options of `startRelay`; limits not given take RelayRooms' defaults. */
export interface RelayOptions extends RelayRoomsOptions {
  /** Address to listen on (default 127.0.0.1; the CLI passes its own). */
  host?: string;
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  /** The relay's certificate and private key, PEM. */
  tls: { key: string; cert: string };
  /** Serve Prometheus text at `http://host:port/metrics` (port 0 picks one). */
  metrics?: { host: string; port: number };
}

/** A running relay. */
export interface RelayServer {
  /** The TLS port actually bound. */
  readonly port: number;
  /** The metrics port actually bound, if metrics are served. */
  readonly metricsPort: number | undefined;
  /** The room table, for other front ends (QUIC) to feed streams into. */
  readonly rooms: RelayRooms;
  /** Current counts. */
  stats(): RelayStats;
  /** Stop listening and destroy every connection. */
  close(): Promise<void>;
}

/** Sockets over this many beyond `maxConnections` are dropped before TLS. */
const HANDSHAKE_SLACK = 256;

function listen(
  server: HttpServer | ReturnType<typeof createTlsServer>,
  host: string,
  port: number,
) {
  return new Promise<number>((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Start a relay listening on TCP+TLS. Rejects if a port cannot be bound. */
export async function startRelay(opts: RelayOptions): Promise<RelayServer> {
  const log = opts.log ?? logToStderr;
  const rooms = new RelayRooms({ ...opts, log });
  const joinTimeoutMs = opts.joinTimeoutMs ?? 10_000;
  const raw = new Set<Socket>();

  const tls = createTlsServer(
    {
      key: opts.tls.key,
      cert: opts.tls.cert,
      minVersion: 'TLSv1.3',
      allowHalfOpen: true,
      handshakeTimeout: joinTimeoutMs,
    },
    (socket: TLSSocket) => {
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 30_000);
      rooms.accept(socket, socket.remoteAddress ?? 'unknown');
    },
  );
  tls.maxConnections = (opts.maxConnections ?? 20_000) + HANDSHAKE_SLACK;
  tls.on('connection', (socket: Socket) => {
    raw.add(socket);
    socket.on('close', () => raw.delete(socket));
    // A reset before the TLS layer attaches its own handler must not crash us.
    socket.on('error', () => {});
  });
  tls.on('tlsClientError', (err: Error & { code?: unknown }, socket: TLSSocket) => {
    log({ event: 'tls_error', code: typeof err.code === 'string' ? err.code : err.name });
    socket.destroy();
  });
  const port = await listen(tls, opts.host ?? '127.0.0.1', opts.port ?? 0);
  tls.on('error', (err: Error & { code?: unknown }) => {
    log({ event: 'listener_error', code: typeof err.code === 'string' ? err.code : err.name });
  });

  let http: HttpServer | undefined;
  let metricsPort: number | undefined;
  if (opts.metrics) {
    const registry = rooms.metrics.registry;
    http = createHttpServer((req, res) => {
      if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    });
    http.on('clientError', (_err, socket) => socket.destroy());
    try {
      metricsPort = await listen(http, opts.metrics.host, opts.metrics.port);
    } catch (err) {
      tls.close();
      rooms.close();
      throw err;
    }
  }
  log({ event: 'listening', port, metricsPort });

  let closing: Promise<void> | undefined;
  return {
    port,
    metricsPort,
    rooms,
    stats: () => rooms.stats(),
    close() {
      closing ??= (async () => {
        const tlsClosed = new Promise<void>((resolve) => tls.close(() => resolve()));
        rooms.close();
        for (const s of raw) s.destroy();
        if (http) {
          const h = http;
          const httpClosed = new Promise<void>((resolve) => h.close(() => resolve()));
          h.closeAllConnections();
          await httpClosed;
        }
        await tlsClosed;
        log({ event: 'stopped' });
      })();
      return closing;
    },
  };
}
