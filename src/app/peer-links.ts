/**
 * Shared connections to LAN peers: several transfers to the same device run
 * as streams over one link (one QUIC or TCP+TLS connection, one transport
 * handshake). A link is dialled on first use, reused while it lives, and
 * closed after it has carried nothing for `idleMs`.
 */
import type { PeerEntry } from '../discovery/peer-table.js';
import type { ByteStream, Link, LinkInfo } from '../engine/transport/link.js';

/** How to connect to a device (the CLI's dialDevice: QUIC, then TCP). */
export type DialPeer = (
  peer: PeerEntry,
  expectedKey: Uint8Array,
  signal: AbortSignal,
) => Promise<Link>;

/** A stream on a shared link; release it when the transfer is over. */
export interface StreamLease {
  readonly stream: ByteStream;
  readonly info: LinkInfo;
  release(): void;
}

interface Entry {
  link: Promise<Link>;
  users: number;
  idle: NodeJS.Timeout | undefined;
}

/** Links to peers, by fingerprint. */
export class PeerLinks {
  readonly #dial: DialPeer;
  readonly #idleMs: number;
  readonly #links = new Map<string, Entry>();
  readonly #closing = new AbortController();
  /** Links dialled so far (for tests and the UI). */
  dials = 0;

  constructor(opts: { dial: DialPeer; idleMs?: number }) {
    this.#dial = opts.dial;
    this.#idleMs = opts.idleMs ?? 15_000;
  }

  /**
   * A new stream to `peer`, over its existing link when there is one. A link
   * that turns out dead is dropped and dialled again, once.
   */
  async openStream(
    peer: PeerEntry,
    expectedKey: Uint8Array,
    signal: AbortSignal,
  ): Promise<StreamLease> {
    for (let attempt = 0; ; attempt++) {
      const entry = this.#entry(peer, expectedKey);
      entry.users++;
      clearTimeout(entry.idle);
      entry.idle = undefined;
      try {
        const link = await abortable(entry.link, signal);
        const stream = await link.openStream();
        let released = false;
        return {
          stream,
          info: link.info,
          release: () => {
            if (released) return;
            released = true;
            this.#release(peer.fingerprint, entry);
          },
        };
      } catch (err) {
        this.#release(peer.fingerprint, entry);
        // Our caller gave up: the link may be fine for the others.
        if (signal.aborted) throw err;
        this.#drop(peer.fingerprint, entry);
        if (attempt > 0) throw err;
      }
    }
  }

  /**
   * Close the link to `fp` now, even while transfers use it: the device came
   * back with new ports, so the old connection is dead but would take the
   * transport's idle timeout to say so. Its transfers fail with a connection
   * error and are retried on a new link. True if there was one.
   */
  forget(fp: string): boolean {
    const entry = this.#links.get(fp);
    if (!entry) return false;
    this.#links.delete(fp);
    clearTimeout(entry.idle);
    entry.link.then(
      (l) => l.close().catch(() => undefined),
      () => undefined,
    );
    return true;
  }

  /** Close every link. */
  async close(): Promise<void> {
    this.#closing.abort();
    const all = [...this.#links.entries()];
    this.#links.clear();
    await Promise.all(
      all.map(async ([, e]) => {
        clearTimeout(e.idle);
        const link = await e.link.catch(() => null);
        await link?.close().catch(() => undefined);
      }),
    );
  }

  #entry(peer: PeerEntry, expectedKey: Uint8Array): Entry {
    const existing = this.#links.get(peer.fingerprint);
    if (existing) return existing;
    this.dials++;
    // The dial belongs to the pool, not to the first job: its cancel must not
    // fail the others waiting for the same link.
    const entry: Entry = {
      link: this.#dial(peer, expectedKey, this.#closing.signal),
      users: 0,
      idle: undefined,
    };
    entry.link.catch(() => this.#drop(peer.fingerprint, entry));
    this.#links.set(peer.fingerprint, entry);
    return entry;
  }

  #release(fp: string, entry: Entry): void {
    entry.users = Math.max(0, entry.users - 1);
    if (entry.users > 0) return;
    if (this.#links.get(fp) !== entry) {
      this.#drop(fp, entry); // already dropped while in use: close it now
      return;
    }
    entry.idle = setTimeout(() => this.#drop(fp, entry), this.#idleMs);
    entry.idle.unref();
  }

  #drop(fp: string, entry: Entry): void {
    if (this.#links.get(fp) === entry) this.#links.delete(fp);
    clearTimeout(entry.idle);
    if (entry.users === 0) {
      entry.link.then(
        (l) => l.close().catch(() => undefined),
        () => undefined,
      );
    }
  }
}

/** `p`, or a rejection with the signal's reason once it aborts. */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/** Where a device listens: each address with its `quicPort:tcpPort`. */
export type Listening = ReadonlyMap<string, string>;

/** The addresses `peer` answered from and its ports on each. */
export function listeningOf(peer: PeerEntry): Listening {
  return new Map(peer.addresses.map((a) => [a.address, `${a.quicPort}:${a.tcpPort}`]));
}

/** The same addresses with the same ports. */
export function sameListening(a: Listening, b: Listening): boolean {
  return a.size === b.size && [...a].every(([address, ports]) => b.get(address) === ports);
}

/** Whether a device restarted: an address it still has now listens on other ports. */
export function cameBackOnNewPorts(before: Listening, now: Listening): boolean {
  for (const [address, ports] of now) {
    const was = before.get(address);
    if (was !== undefined && was !== ports) return true;
  }
  return false;
}
