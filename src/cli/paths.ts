/**
 * Getting a stream to the peer: every known path in parallel (direct
 * addresses, each relay), the first that connects wins and the others are
 * closed. The receiver dials and opens the transfer stream; the sender
 * listens or waits in the relay room and accepts the first stream that
 * arrives on any of its links.
 */

import type { LanDiscovery } from '../discovery/lan.js';
import type { Identity } from '../engine/crypto/identity.js';
import { ConnectionError } from '../engine/errors.js';
import type { ByteStream, Link } from '../engine/transport/link.js';
import { dialQuic, listenQuic } from '../engine/transport/quic-link.js';
import { dialTcp, listenTcp } from '../engine/transport/tcp-link.js';
import { RelayErrorCode, RelayRejectedError } from '../relay/protocol.js';
import { delay, requirePath } from './common.js';
import { dialDevice } from './lan.js';
import { connectViaRelay, formatEndpoint, type RelayEndpoint } from './relay-client.js';

/** A link with the stream the transfer runs on. */
export interface Connected {
  readonly link: Link;
  readonly stream: ByteStream;
}

/**
 * The sender's direct listeners (QUIC and TCP on one address), started once
 * per command and kept until it ends: QUIC links share their listener's UDP
 * socket, so closing the listener would kill the link in use. Links that
 * arrive while nobody waits for one are closed.
 */
export class DirectListener {
  /** Where incoming links go; null closes them. */
  handler: ((link: Link) => void) | null = null;
  readonly #closers: (() => Promise<void>)[];
  /** Bound UDP port of the QUIC listener. */
  quicPort = 0;
  /** Bound TCP port of the TCP+TLS listener. */
  tcpPort = 0;

  private constructor(closers: (() => Promise<void>)[]) {
    this.#closers = closers;
  }

  /**
   * Listen on host:port for QUIC (UDP) and TCP+TLS. Port 0 picks a free UDP
   * port and the same number for TCP when it is free, else any.
   */
  static async start(identity: Identity, host: string, port: number): Promise<DirectListener> {
    const closers: (() => Promise<void>)[] = [];
    const self = new DirectListener(closers);
    const route = (link: Link) => {
      if (self.handler) self.handler(link);
      else closeQuietly(link);
    };
    try {
      const q = await listenQuic({ identity, host, port, onLink: route });
      closers.push(() => q.close());
      self.quicPort = q.port;
      const t = await listenTcp({ identity, host, port: q.port, onLink: route }).catch((err) => {
        if (port !== 0) throw err;
        return listenTcp({ identity, host, port: 0, onLink: route });
      });
      closers.push(() => t.close());
      self.tcpPort = t.port;
    } catch (err) {
      await self.close();
      throw new ConnectionError(`cannot listen on ${host}:${port}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return self;
  }

  /** Stop listening (links in use on the TCP side stay up; QUIC ones end). */
  async close(): Promise<void> {
    this.handler = null;
    for (const c of this.#closers.splice(0)) await c().catch(() => undefined);
  }
}

/** Incoming connections a listening device takes at once. */
export const MAX_INCOMING_LINKS = 8;
/** Transfers one sender may run at once over one connection. */
export const MAX_STREAMS_PER_LINK = 8;
/** How long a new connection may take to open its transfer stream. */
export const STREAM_WAIT_MS = 10_000;

/**
 * Serve one incoming connection to its end: every stream the sender opens
 * (up to MAX_STREAMS_PER_LINK at once) goes to `receive`, in parallel, until
 * the sender closes the connection or `stop` aborts. A connection that opens
 * no stream within STREAM_WAIT_MS is closed. Never throws: a failure before
 * any transfer began goes to `onError`.
 */
export async function serveLink(
  link: Link,
  receive: (stream: ByteStream) => Promise<void>,
  opts: { stop?: AbortSignal; onError?: (err: Error) => void } = {},
): Promise<void> {
  const streams = new Set<Promise<void>>();
  try {
    // A connection that opens no stream must not hold a slot for long.
    let timer: NodeJS.Timeout | undefined;
    let stream = await Promise.race([
      link.acceptStream(),
      new Promise<null>((r) => {
        timer = setTimeout(() => r(null), STREAM_WAIT_MS);
      }),
    ]).finally(() => clearTimeout(timer));
    while (stream && !opts.stop?.aborted) {
      if (streams.size >= MAX_STREAMS_PER_LINK) {
        stream.abort(new Error('too many transfers on one connection'));
      } else {
        const p = receive(stream);
        streams.add(p);
        void p.finally(() => streams.delete(p));
      }
      stream = await link.acceptStream().catch(() => null);
    }
  } catch (err) {
    opts.onError?.(err as Error);
  } finally {
    await Promise.allSettled([...streams]);
    await link.close().catch(() => undefined);
  }
}

/**
 * Join a room on `ep` and wait there until the peer comes or `signal`
 * aborts. The relay closes a room nobody else joined within its lifetime
 * (10 minutes by default; EXPIRED), but a side that says it waits until
 * Ctrl+C must not give up then: it joins again.
 */
async function joinRelay(
  ep: RelayEndpoint,
  opts: Parameters<typeof connectViaRelay>[1],
): Promise<Link> {
  for (;;) {
    try {
      return await connectViaRelay(ep, opts);
    } catch (err) {
      const expired = err instanceof RelayRejectedError && err.relayCode === RelayErrorCode.Expired;
      if (!expired || opts.signal?.aborted) throw err;
    }
  }
}

/** Head start the direct path gets before relays are tried. */
export const DIRECT_HEAD_START_MS = 250;

/** Paths and credentials for one connection attempt. */
export interface PathOptions {
  readonly identity: Identity;
  readonly room: Uint8Array;
  readonly relays: readonly RelayEndpoint[];
  readonly relayPassword?: string;
  /** Receiver: a direct address to dial. */
  readonly direct?: { host: string; port: number };
  /** Receiver: find the sender on the LAN by the hash of the code's nameplate. */
  readonly lan?: { readonly discovery: LanDiscovery; readonly nameplateHash: string };
  /** Sender: listeners started once for the whole command (see DirectListener). */
  readonly listener?: DirectListener;
  readonly signal: AbortSignal;
  readonly onNote?: (text: string) => void;
}

function closeQuietly(link: Link): void {
  link.close().catch(() => undefined);
}

/** Receiver side: dial every path, keep the first link, open the transfer stream on it. */
export async function dialPeer(opts: PathOptions): Promise<Connected> {
  requirePath(opts.relays, opts.direct ?? opts.lan);
  const attempts: Promise<Link>[] = [];
  const ac = new AbortController();
  const signal = AbortSignal.any([ac.signal, opts.signal]);
  if (opts.direct) {
    const d = opts.direct;
    attempts.push(
      dialQuic({ identity: opts.identity, host: d.host, port: d.port, signal }).then(
        (r) => r.link,
        () =>
          // QUIC blocked or refused: fall back to TCP+TLS on the same port.
          dialTcp({ identity: opts.identity, host: d.host, port: d.port, signal }).then(
            (r) => r.link,
          ),
      ),
    );
  }
  if (opts.lan) attempts.push(dialLanSender(opts, opts.lan, signal));
  const headStart = opts.direct || opts.lan ? DIRECT_HEAD_START_MS : 0;
  for (const ep of opts.relays) {
    attempts.push(
      delay(headStart, signal).then(() =>
        joinRelay(ep, {
          identity: opts.identity,
          room: opts.room,
          role: 'receiver',
          signal,
          ...(opts.relayPassword ? { password: opts.relayPassword } : {}),
          onWaiting: () => opts.onNote?.(`waiting for the sender at ${formatEndpoint(ep)}…`),
        }),
      ),
    );
  }
  const link = await firstOf(attempts, closeQuietly);
  ac.abort();
  try {
    return { link, stream: await link.openStream() };
  } catch (err) {
    closeQuietly(link);
    throw err;
  }
}

/**
 * Receiver side: dial several rendezvous at once (e.g. a session's resume
 * rendezvous and its code), keep the first that connects and say which.
 * A sender waits under one rendezvous at a time, so at most one meets it;
 * give a direct address to one candidate only (a sender's listener cannot
 * tell which rendezvous a connection is for).
 */
export async function dialAny<T>(
  candidates: readonly { readonly tag: T; readonly opts: PathOptions }[],
  signal: AbortSignal,
): Promise<Connected & { tag: T }> {
  const ac = new AbortController();
  const both = AbortSignal.any([ac.signal, signal]);
  const won = await firstOf(
    candidates.map(({ tag, opts }) =>
      dialPeer({ ...opts, signal: both }).then((c) => ({ ...c, tag })),
    ),
    (c) => closeQuietly(c.link),
  );
  ac.abort();
  return won;
}

/** Sender side: wait on the direct listener and/or in relay rooms; the first incoming stream wins. */
export async function awaitPeer(opts: PathOptions): Promise<Connected> {
  const ac = new AbortController();
  const signal = AbortSignal.any([ac.signal, opts.signal]);
  const links = new Set<Link>();
  const closers: (() => Promise<void>)[] = [];
  let relayFailures = 0;
  requirePath(opts.relays, opts.listener);

  return new Promise<Connected>((resolve, reject) => {
    let settled = false;
    const finish = (err: unknown, won?: Connected) => {
      if (settled) return;
      settled = true;
      ac.abort();
      for (const l of links) if (l !== won?.link) closeQuietly(l);
      for (const c of closers) void c().catch(() => undefined);
      if (won) resolve(won);
      else reject(err);
    };
    const offer = (link: Link) => {
      if (settled) return closeQuietly(link);
      links.add(link);
      link.acceptStream().then(
        (stream) => {
          if (stream && !settled) finish(null, { link, stream });
          else closeQuietly(link);
        },
        () => closeQuietly(link),
      );
    };
    // A listener never fails; give up only when every relay did and there is none.
    const relayFailed = (err: unknown) => {
      if (++relayFailures === opts.relays.length && !opts.listener) finish(err);
    };
    opts.signal.addEventListener('abort', () => finish(opts.signal.reason), { once: true });
    if (opts.listener) {
      const l = opts.listener;
      l.handler = offer;
      closers.push(async () => {
        if (l.handler === offer) l.handler = null;
      });
    }
    for (const ep of opts.relays) {
      joinRelay(ep, {
        identity: opts.identity,
        room: opts.room,
        role: 'sender',
        signal,
        ...(opts.relayPassword ? { password: opts.relayPassword } : {}),
        onWaiting: () => opts.onNote?.(`waiting for the receiver at ${formatEndpoint(ep)}…`),
      }).then(offer, (err) => {
        if (!settled) opts.onNote?.(`relay ${formatEndpoint(ep)}: ${(err as Error).message}`);
        relayFailed(err);
      });
    }
  });
}

/**
 * Wait for a sender announcing our nameplate on the LAN and connect to it.
 * Keeps looking (a sender may start later or restart) until aborted.
 */
async function dialLanSender(
  opts: PathOptions,
  lan: NonNullable<PathOptions['lan']>,
  signal: AbortSignal,
): Promise<Link> {
  let noted = false;
  for (;;) {
    const senders = await lan.discovery.waitFor(
      (t) => {
        const s = t.withNameplate(lan.nameplateHash);
        return s.length > 0 ? s : undefined;
      },
      60_000,
      signal,
    );
    if (!senders) continue;
    if (senders.length > 1 && opts.relays.length > 0) {
      // Two senders share the nameplate: the wrong one would fail the code for both sides.
      if (!noted)
        opts.onNote?.('several senders on this network use this nameplate; using the relay');
      noted = true;
      await delay(5000, signal);
      continue;
    }
    // The table points each address at the code send's own listener.
    const sender = senders[0]!;
    try {
      return await dialDevice(sender, opts.identity, sender.publicKey, signal);
    } catch (err) {
      if (signal.aborted) throw err;
      opts.onNote?.(`the sender found on this network did not answer (${(err as Error).message})`);
      await delay(2000, signal);
    }
  }
}

/** The first promise to fulfil; later ones are disposed; rejects with the last error if all fail. */
function firstOf<T>(ps: Promise<T>[], dispose: (v: T) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    let done = false;
    let failed = 0;
    for (const p of ps) {
      p.then(
        (v) => {
          if (done) return dispose(v);
          done = true;
          resolve(v);
        },
        (err) => {
          if (++failed === ps.length && !done) reject(err);
        },
      );
    }
  });
}
