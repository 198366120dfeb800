/**
 * LAN discovery as the CLI and the app use it: the mDNS adapter feeding a
 * PeerTable, with expiry on a timer and helpers to wait for a device.
 */
import { fingerprint } from '../engine/crypto/identity.js';
import { ADVERT_VERSION, type CodeOffer } from './advert.js';
import { MdnsDiscovery } from './mdns.js';
import { type KnownPeerInfo, type PeerEntry, PeerTable } from './peer-table.js';

/** Options of LanDiscovery.start. */
export interface LanDiscoveryOptions {
  /** Our Ed25519 public key (announced; our own records are ignored). */
  readonly publicKey: Uint8Array;
  /** Device name to announce. */
  readonly name: string;
  /** Interface address (see MdnsOptions.interface). */
  readonly interface?: string;
  /** mDNS UDP port (tests). */
  readonly port?: number;
  readonly known?: readonly KnownPeerInfo[];
  /** Re-query interval; default 10 s. Devices silent for 3 intervals go offline. */
  readonly queryIntervalMs?: number;
  readonly onWarning?: (message: string) => void;
}

/** What this device offers while it announces itself. */
export interface Listening {
  readonly quicPort?: number;
  readonly tcpPort?: number;
  readonly nameplateHash?: string;
  /** Where the code-based send listens, when apart from the ports above. */
  readonly codeQuicPort?: number;
  readonly codeTcpPort?: number;
  /** Further waiting code-based sends (see Advert.moreCodeOffers). */
  readonly moreCodeOffers?: readonly CodeOffer[];
}

/** A running discovery: announce, listen, keep the peer table fresh. */
export class LanDiscovery {
  readonly table: PeerTable;
  readonly #mdns: MdnsDiscovery;
  readonly #opts: LanDiscoveryOptions;
  readonly #timer: NodeJS.Timeout;
  #name: string;

  private constructor(mdns: MdnsDiscovery, table: PeerTable, opts: LanDiscoveryOptions) {
    this.#mdns = mdns;
    this.table = table;
    this.#opts = opts;
    this.#name = opts.name;
    this.#timer = setInterval(() => table.expire(), 1000);
    this.#timer.unref();
  }

  /** Open the socket and start listening (not yet announcing). */
  static async start(opts: LanDiscoveryOptions): Promise<LanDiscovery> {
    const interval = opts.queryIntervalMs ?? 10_000;
    const table = new PeerTable({ now: () => Date.now(), expireMs: interval * 3 + 1000 });
    if (opts.known) table.setKnown(opts.known);
    const mdns = await MdnsDiscovery.start({
      ...(opts.interface ? { interface: opts.interface } : {}),
      ...(opts.port ? { port: opts.port } : {}),
      queryIntervalMs: interval,
      selfFingerprint: fingerprint(opts.publicKey),
      onSighting: (s) => table.observe(s),
      onGoodbye: (instance, address) => table.goodbye(instance, address),
      ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
    });
    return new LanDiscovery(mdns, table, opts);
  }

  /** Announce this device (again, when what it offers changed); returns the instance name. */
  announce(listening: Listening = {}): Promise<string> {
    return this.#mdns.advertise(this.#opts.name, {
      version: ADVERT_VERSION,
      publicKey: this.#opts.publicKey,
      name: this.#name,
      ...listening,
    });
  }

  /**
   * Announce under another device name from the next `announce` on. The mDNS
   * instance keeps its first name (peers key devices by their key, and show
   * the name the advert carries).
   */
  rename(name: string): void {
    this.#name = name;
  }

  /** Ask everyone to answer now (e.g. when the user opens the peer list). */
  refresh(): void {
    this.#mdns.query();
  }

  /** Undecodable records received so far. */
  get malformed(): number {
    return this.#mdns.malformed;
  }

  /**
   * Resolve once `pick` finds something in the table (checked now and on
   * every change); null after `timeoutMs`; rejects when `signal` aborts.
   */
  waitFor<T>(
    pick: (table: PeerTable) => T | undefined,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<T | null> {
    return new Promise((resolve, reject) => {
      const now = pick(this.table);
      if (now !== undefined) return resolve(now);
      const finish = (v: T | null, err?: unknown) => {
        off();
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (err !== undefined) reject(err);
        else resolve(v);
      };
      const off = this.table.onChange(() => {
        const v = pick(this.table);
        if (v !== undefined) finish(v);
      });
      const timer = setTimeout(() => finish(null), timeoutMs);
      timer.unref();
      const onAbort = () => finish(null, signal!.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.refresh();
    });
  }

  /** Online devices waiting with a code send under this nameplate hash. */
  codeSenders(hash: string): PeerEntry[] {
    return this.table.withNameplate(hash);
  }

  /** Send a goodbye and close. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#mdns.close();
  }
}
