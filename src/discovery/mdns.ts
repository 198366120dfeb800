/**
 * The mDNS adapter: announces this device as `_ferry._udp.local` and turns
 * every response on the network into sightings for the PeerTable.
 *
 * bonjour-service provides the socket (multicast-dns), the responder and
 * announcements. Its Browser is not used: it keeps no liveness (no `down`
 * when a peer dies), dedups by instance name (a forged record replaces a
 * real one) and its `txt` filter crashes on crafted packets (DESIGN.md,
 * Discovery). Instead this module reads every response itself, defensively,
 * and re-queries on a timer so the table's expiry can see who went away.
 *
 * Pitfalls handled here, all measured with bonjour-service 1.4:
 * - its default error callback throws, and socket errors are 'error' events:
 *   both are routed to `onWarning`, never thrown;
 * - binding the socket to the interface address receives no multicast on
 *   Linux: bind 0.0.0.0 and select the interface for membership and sending;
 * - no rename on a name conflict (it logs and gives up): probe ourselves
 *   first and take the first free `name (n)`;
 * - no goodbye unless `unpublishAll` completes before `destroy`.
 */
import { Bonjour, type Service } from 'bonjour-service';
import {
  type Advert,
  decodeAdvert,
  encodeAdvert,
  MAX_NAME_BYTES,
  SERVICE_PROTOCOL,
  SERVICE_TYPE,
  truncateUtf8,
} from './advert.js';
import type { Sighting } from './peer-table.js';

/** `_ferry._udp.local` */
export const SERVICE_NAME = `_${SERVICE_TYPE}._${SERVICE_PROTOCOL}.local`;
const SUFFIX = `.${SERVICE_NAME}`;
/** Standard mDNS port. */
export const MDNS_PORT = 5353;

/** Options of MdnsDiscovery.start. */
export interface MdnsOptions {
  /**
   * IPv4 address of the interface to announce and listen on. Unset means
   * the operating system's default multicast interface (the real LAN):
   * tests and scripts on shared machines must always set it.
   */
  readonly interface?: string;
  /** UDP port; default 5353. Tests use a random one so runs do not meet. */
  readonly port?: number;
  /** How often to ask who is there; default 10 s. */
  readonly queryIntervalMs?: number;
  /** Our own fingerprint: our own announcements are not sightings. */
  readonly selfFingerprint?: string;
  readonly onSighting: (s: Sighting) => void;
  readonly onGoodbye: (instance: string, address: string) => void;
  /** Socket and send errors; discovery keeps running where it can. */
  readonly onWarning?: (message: string) => void;
}

/** What the device announces (the fingerprint is derived from the key). */
export type OwnAdvert = Omit<Advert, 'fingerprint'>;

/** The parts of multicast-dns this module uses (bonjour-service keeps it private). */
interface MulticastDns {
  on(event: string, listener: (...args: never[]) => void): unknown;
  once(event: string, listener: (...args: never[]) => void): unknown;
  off(event: string, listener: (...args: never[]) => void): unknown;
  query(name: string, type: string, cb: (err: Error | null) => void): void;
}

/** multicast-dns options (bonjour-service passes them through; its types omit them). */
interface SocketOptions {
  port: number;
  bind: string;
  reuseAddr: boolean;
  interface?: string;
}

function socketOf(b: Bonjour): MulticastDns {
  return (b as unknown as { server: { mdns: MulticastDns } }).server.mdns;
}

interface DnsRecord {
  name?: unknown;
  type?: unknown;
  ttl?: unknown;
  data?: unknown;
}

/** A running mDNS announcer and listener. */
export class MdnsDiscovery {
  readonly #bonjour: Bonjour;
  readonly #opts: MdnsOptions;
  readonly #timer: NodeJS.Timeout;
  #service: Service | null = null;
  #instance: string | null = null;
  #closed = false;
  /** Packets that could not be decoded (counted, not logged: anyone can send them). */
  malformed = 0;

  private constructor(bonjour: Bonjour, opts: MdnsOptions) {
    this.#bonjour = bonjour;
    this.#opts = opts;
    const mdns = socketOf(bonjour);
    mdns.on('response', (packet: unknown, rinfo: { address?: unknown }) => {
      try {
        this.#onResponse(packet, rinfo);
      } catch {
        this.malformed++;
      }
    });
    mdns.on('warning', (err: NodeJS.ErrnoException) => {
      // Socket-level trouble (joining the group, choosing the interface) is a
      // system error (it has a syscall) worth saying once; anything else is a
      // bad packet (dns-packet decode errors carry codes too, but no syscall).
      if (!err?.syscall) {
        this.malformed++;
        return;
      }
      opts.onWarning?.(`mDNS: ${err.message}`);
    });
    this.#timer = setInterval(() => this.query(), opts.queryIntervalMs ?? 10_000);
    this.#timer.unref();
  }

  /** Open the socket; rejects with a clear message when the port cannot be used. */
  static async start(given: MdnsOptions): Promise<MdnsDiscovery> {
    // The same trouble (no multicast route, say) recurs at every query: say it once.
    const told = new Set<string>();
    const opts: MdnsOptions = {
      ...given,
      onWarning: (m) => {
        if (told.has(m)) return;
        told.add(m);
        given.onWarning?.(m);
      },
    };
    const warn = (m: string) => opts.onWarning?.(m);
    if (
      opts.port !== undefined &&
      !(Number.isInteger(opts.port) && opts.port > 0 && opts.port < 65536)
    ) {
      throw new RangeError(`port: expected 1..65535, got ${opts.port}`);
    }
    const socket: SocketOptions = {
      port: opts.port ?? MDNS_PORT,
      // Bound to 0.0.0.0: a socket bound to the interface address gets no multicast on Linux.
      bind: '0.0.0.0',
      reuseAddr: true,
      ...(opts.interface ? { interface: opts.interface } : {}),
    };
    const bonjour = new Bonjour(socket as never, (err: Error) =>
      warn(`mDNS send failed: ${err.message}`),
    );
    const mdns = socketOf(bonjour);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        mdns.off('ready', onReady);
        bonjour.destroy();
        reject(
          new Error(`LAN discovery cannot use UDP port ${opts.port ?? MDNS_PORT}: ${err.message}`),
        );
      };
      const onReady = () => {
        mdns.off('error', onError);
        mdns.on('error', (err: Error) => warn(`mDNS socket error: ${err.message}`));
        resolve();
      };
      mdns.once('error', onError);
      mdns.once('ready', onReady);
    });
    const d = new MdnsDiscovery(bonjour, opts);
    d.query();
    return d;
  }

  /** The instance name we announce under, once `advertise` has chosen one. */
  get instance(): string | null {
    return this.#instance;
  }

  /**
   * Announce (or re-announce with new TXT data). The first call probes for
   * a free instance name: `name`, then `name (2)`, `name (3)`, …
   */
  async advertise(name: string, advert: OwnAdvert): Promise<string> {
    if (this.#closed) throw new Error('discovery is closed');
    if (this.#service) {
      const old = this.#service;
      this.#service = null;
      await new Promise<void>((r) => old.stop?.(() => r()));
    }
    this.#instance ??= await this.#freeName(name);
    if (this.#closed) return this.#instance;
    const port = advert.quicPort ?? advert.tcpPort ?? 9; // SRV needs one; 9 = discard
    this.#service = this.#bonjour.publish({
      name: this.#instance,
      type: SERVICE_TYPE,
      protocol: SERVICE_PROTOCOL,
      port,
      txt: encodeAdvert(advert),
      probe: false,
      disableIPv6: true,
    });
    this.#service.on('error', (err: Error) =>
      this.#opts.onWarning?.(`mDNS announce: ${err.message}`),
    );
    return this.#instance;
  }

  /** Ask every ferry device on the link to answer. */
  query(): void {
    if (this.#closed) return;
    socketOf(this.#bonjour).query(SERVICE_NAME, 'PTR', (err: Error | null) => {
      if (err) this.#opts.onWarning?.(`mDNS query failed: ${err.message}`);
    });
  }

  /** Say goodbye (so peers drop us at once) and close the socket. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    if (this.#service) {
      await Promise.race([
        new Promise<void>((r) => this.#bonjour.unpublishAll(() => r())),
        new Promise<void>((r) => setTimeout(r, 1000).unref()),
      ]);
    }
    await new Promise<void>((r) => this.#bonjour.destroy(() => r()));
  }

  #onResponse(packet: unknown, rinfo: { address?: unknown }): void {
    if (this.#closed || typeof rinfo?.address !== 'string') return;
    const p = packet as { answers?: unknown; additionals?: unknown };
    const records = [
      ...(Array.isArray(p.answers) ? p.answers : []),
      ...(Array.isArray(p.additionals) ? p.additionals : []),
    ] as DnsRecord[];
    const instances = new Set<string>();
    for (const rr of records) {
      if (!rr || typeof rr.name !== 'string') continue;
      const name = rr.name.toLowerCase();
      if (rr.type === 'PTR' && name === SERVICE_NAME && typeof rr.data === 'string') {
        const inst = instanceOf(rr.data);
        if (inst === null) continue;
        if (rr.ttl === 0) this.#opts.onGoodbye(inst, rinfo.address);
        else instances.add(inst);
      }
      if (rr.type === 'TXT' && rr.ttl !== 0) {
        const inst = instanceOf(rr.name);
        if (inst === null) continue;
        const advert = decodeAdvert(rr.data);
        if (!advert) {
          this.malformed++;
          continue;
        }
        if (advert.fingerprint === this.#opts.selfFingerprint) continue;
        this.#opts.onSighting({ instance: inst, address: rinfo.address, advert });
      }
    }
  }

  /** Probe like RFC 6762 §8.1 (three queries, 250 ms apart); first free name wins. */
  async #freeName(wanted: string): Promise<string> {
    const base = truncateUtf8(wanted.replace(/\./g, '-'), MAX_NAME_BYTES - 5) || 'ferry';
    for (let n = 1; n <= 20; n++) {
      const name = n === 1 ? base : `${base} (${n})`;
      if (!(await this.#taken(name))) return name;
    }
    return `${base} (${Math.floor(Math.random() * 1e6)})`;
  }

  #taken(name: string): Promise<boolean> {
    const fqdn = `${name}${SUFFIX}`.toLowerCase();
    const mdns = socketOf(this.#bonjour);
    return new Promise((resolve) => {
      let sent = 0;
      let timer: NodeJS.Timeout;
      const onResponse = (packet: { answers?: DnsRecord[]; additionals?: DnsRecord[] }) => {
        const rrs = [...(packet.answers ?? []), ...(packet.additionals ?? [])];
        if (rrs.some((rr) => typeof rr?.name === 'string' && rr.name.toLowerCase() === fqdn)) {
          done(true);
        }
      };
      const done = (taken: boolean) => {
        clearTimeout(timer);
        mdns.off('response', onResponse);
        resolve(taken);
      };
      const send = () => {
        if (this.#closed) return done(false);
        if (sent++ === 3) return done(false);
        mdns.query(fqdn, 'ANY', () => undefined);
        timer = setTimeout(send, 250);
      };
      mdns.on('response', onResponse);
      send();
    });
  }
}

/** The instance label of `<instance>._ferry._udp.local`, or null. */
function instanceOf(fqdn: string): string | null {
  if (!fqdn.toLowerCase().endsWith(SUFFIX)) return null;
  const inst = fqdn.slice(0, -SUFFIX.length);
  return inst.length > 0 && Buffer.byteLength(inst) <= 255 ? inst : null;
}
