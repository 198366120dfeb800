/**
 * The table of devices seen on the LAN, merged with the known (pinned)
 * peers. Pure: no sockets, no timers; the caller feeds sightings and calls
 * `expire()` on its own schedule, with the clock it chooses.
 *
 * - Liveness is tracked per address: a device is online while any address
 *   it was seen at answered within `expireMs`. bonjour-service sends no
 *   `down` when a peer dies without a goodbye, so the caller re-queries
 *   periodically and expiry does the rest.
 * - Addresses come from the packet source, never from the advertised list.
 * - Records are hints. A forged record adds at most an address candidate to
 *   a device (the handshake refuses it) and a goodbye removes only the one
 *   address it came from, so a forgery cannot silently evict a live peer.
 * - A device that announces the name of a known peer with a different key
 *   is kept apart and flagged (`impersonates`), and never resolves by name.
 */
import { shortFingerprint } from '../engine/crypto/identity.js';
import type { Advert, CodeOffer } from './advert.js';

/** One received announcement. */
export interface Sighting {
  /** mDNS instance name the record was published under. */
  readonly instance: string;
  /** Source address of the packet. */
  readonly address: string;
  readonly advert: Advert;
}

/** What the table needs to know of a pinned peer (a subset of the store's record). */
export interface KnownPeerInfo {
  readonly fingerprint: string;
  /** Hex Ed25519 key. */
  readonly publicKey: string;
  readonly nickname: string;
  readonly deviceName?: string;
  readonly autoAccept: boolean;
  /** ISO time it was last seen in an earlier run (the table's clock must be epoch ms to use it). */
  readonly lastSeen?: string;
}

/** One address a device answered from. */
export interface PeerAddress {
  readonly address: string;
  readonly quicPort?: number;
  readonly tcpPort?: number;
  /** Ports of a waiting code-based send, when it listens apart (Advert.codeQuicPort). */
  readonly codeQuicPort?: number;
  readonly codeTcpPort?: number;
  readonly lastSeen: number;
}

/** A device as the UI and CLI see it. */
export interface PeerEntry {
  readonly fingerprint: string;
  readonly publicKey: Uint8Array;
  /** Short human form of the fingerprint. */
  readonly shortId: string;
  /** Name it announces (or last announced). */
  readonly name: string;
  /** The user's name for it, when known. */
  readonly nickname?: string;
  readonly known: boolean;
  readonly autoAccept: boolean;
  readonly online: boolean;
  /** Last sighting (clock of the table), else the stored last-seen of a known peer, else null. */
  readonly lastSeen: number | null;
  /** Live addresses, most recently seen first. */
  readonly addresses: readonly PeerAddress[];
  /** Set while it waits with a code-based send (see nameplateHash). */
  readonly nameplateHash?: string;
  /** Nickname of a known peer whose name this device announces with another key. */
  readonly impersonates?: string;
}

/** Outcome of looking a peer up by what a user typed. */
export type Resolution =
  | { readonly ok: true; readonly peer: PeerEntry }
  | {
      readonly ok: false;
      readonly reason: 'none' | 'ambiguous' | 'offline';
      readonly message: string;
      readonly candidates: readonly PeerEntry[];
    };

/** Options of PeerTable. */
export interface PeerTableOptions {
  readonly now: () => number;
  /** An address is dropped this long after its last sighting; default 30 s. */
  readonly expireMs?: number;
  /** An unknown device offline this long is forgotten; default 10 min. */
  readonly forgetMs?: number;
  /** Most devices tracked (known ones not counted); default 256. */
  readonly maxPeers?: number;
  /** Most addresses kept per device; default 8. */
  readonly maxAddresses?: number;
}

interface Seen {
  publicKey: Uint8Array;
  name: string;
  nameplateHash: string | undefined;
  /** Further waiting code sends and their listeners (Advert.moreCodeOffers). */
  moreCodeOffers: readonly CodeOffer[];
  lastSeen: number;
  /** address → where and under which instance it answered */
  addresses: Map<string, PeerAddress & { instance: string }>;
}

/** `a` with these ports instead of its own. */
function withPorts(a: PeerAddress, quicPort?: number, tcpPort?: number): PeerAddress {
  const { quicPort: _q, tcpPort: _t, codeQuicPort: _cq, codeTcpPort: _ct, ...rest } = a;
  return {
    ...rest,
    ...(quicPort !== undefined ? { quicPort } : {}),
    ...(tcpPort !== undefined ? { tcpPort } : {}),
  };
}

/** Devices seen on the LAN, merged with known peers. */
export class PeerTable {
  readonly #now: () => number;
  readonly #expireMs: number;
  readonly #forgetMs: number;
  readonly #maxPeers: number;
  readonly #maxAddresses: number;
  readonly #seen = new Map<string, Seen>();
  #known = new Map<string, KnownPeerInfo>();
  readonly #listeners = new Set<() => void>();
  /** Sightings refused because the table was full of live devices. */
  dropped = 0;

  constructor(opts: PeerTableOptions) {
    this.#now = opts.now;
    this.#expireMs = opts.expireMs ?? 30_000;
    this.#forgetMs = opts.forgetMs ?? 10 * 60_000;
    this.#maxPeers = opts.maxPeers ?? 256;
    this.#maxAddresses = opts.maxAddresses ?? 8;
  }

  /** Replace the set of known peers (after a pin, rename or forget). */
  setKnown(known: readonly KnownPeerInfo[]): void {
    this.#known = new Map(known.map((k) => [k.fingerprint, k]));
    this.#changed();
  }

  /** Record an announcement. */
  observe(s: Sighting): void {
    const now = this.#now();
    const a = s.advert;
    let seen = this.#seen.get(a.fingerprint);
    if (!seen) {
      if (this.#seen.size >= this.#maxPeers && !this.#evictOne(now)) {
        this.dropped++;
        return;
      }
      seen = {
        publicKey: a.publicKey,
        name: a.name,
        nameplateHash: undefined,
        moreCodeOffers: [],
        lastSeen: now,
        addresses: new Map(),
      };
      this.#seen.set(a.fingerprint, seen);
    }
    seen.name = a.name;
    seen.nameplateHash = a.nameplateHash;
    seen.moreCodeOffers = a.moreCodeOffers ?? [];
    seen.lastSeen = now;
    seen.addresses.delete(s.address);
    seen.addresses.set(s.address, {
      address: s.address,
      instance: s.instance,
      lastSeen: now,
      ...(a.quicPort !== undefined ? { quicPort: a.quicPort } : {}),
      ...(a.tcpPort !== undefined ? { tcpPort: a.tcpPort } : {}),
      ...(a.codeQuicPort !== undefined ? { codeQuicPort: a.codeQuicPort } : {}),
      ...(a.codeTcpPort !== undefined ? { codeTcpPort: a.codeTcpPort } : {}),
    });
    // Map order is insertion order: the first is the stalest.
    while (seen.addresses.size > this.#maxAddresses) {
      seen.addresses.delete(seen.addresses.keys().next().value!);
    }
    this.#changed();
  }

  /** A goodbye (TTL 0) for `instance` from `address`: only that address goes. */
  goodbye(instance: string, address: string): void {
    let changed = false;
    for (const seen of this.#seen.values()) {
      const at = seen.addresses.get(address);
      if (at && at.instance === instance) {
        seen.addresses.delete(address);
        changed = true;
      }
    }
    if (changed) this.#changed();
  }

  /** Drop stale addresses and long-gone unknown devices. */
  expire(): void {
    const now = this.#now();
    let changed = false;
    for (const [fp, seen] of this.#seen) {
      for (const [addr, at] of seen.addresses) {
        if (now - at.lastSeen > this.#expireMs) {
          seen.addresses.delete(addr);
          changed = true;
        }
      }
      if (
        seen.addresses.size === 0 &&
        !this.#known.has(fp) &&
        now - seen.lastSeen > this.#forgetMs
      ) {
        this.#seen.delete(fp);
        changed = true;
      }
    }
    if (changed) this.#changed();
  }

  /** Every known peer and every device seen: online first, then by name. */
  list(): PeerEntry[] {
    const fps = new Set([...this.#known.keys(), ...this.#seen.keys()]);
    const out = [...fps].map((fp) => this.#entry(fp)!);
    return out.sort(
      (x, y) =>
        Number(y.online) - Number(x.online) ||
        (x.nickname ?? x.name).localeCompare(y.nickname ?? y.name),
    );
  }

  /** One device by full fingerprint. */
  get(fingerprint: string): PeerEntry | undefined {
    return this.#entry(fingerprint);
  }

  /**
   * Online devices waiting with a code-based send under this nameplate hash,
   * each address pointing at that send's listener: the ports it announced
   * apart (an app keeps its own ports for transfers sent to it), else the
   * device's own.
   */
  withNameplate(hash: string): PeerEntry[] {
    const out: PeerEntry[] = [];
    for (const p of this.list()) {
      if (!p.online) continue;
      const more = this.#seen
        .get(p.fingerprint)
        ?.moreCodeOffers.find((o) => o.nameplateHash === hash);
      if (p.nameplateHash === hash) {
        out.push({
          ...p,
          addresses: p.addresses.map((a) =>
            a.codeQuicPort !== undefined || a.codeTcpPort !== undefined
              ? withPorts(a, a.codeQuicPort, a.codeTcpPort)
              : a,
          ),
        });
      } else if (more) {
        out.push({
          ...p,
          addresses: p.addresses.map((a) => withPorts(a, more.quicPort, more.tcpPort)),
        });
      }
    }
    return out;
  }

  /**
   * Find the device a user means: a fingerprint prefix (hex, at least 4
   * digits, or the short form with or without dashes), a known peer's
   * nickname, or the name an unknown device announces. A name that belongs
   * to a known peer only ever means that peer's pinned key.
   */
  resolve(query: string): Resolution {
    const q = query.trim();
    const all = this.list();
    const byId = matchId(q, all);
    if (byId.length > 0) return pick(q, byId);
    const lower = q.toLowerCase();
    const known = all.filter(
      (p) => p.known && (p.nickname?.toLowerCase() === lower || p.name.toLowerCase() === lower),
    );
    if (known.length > 0) {
      const r = pick(q, known);
      const fakes = all.filter(
        (p) =>
          p.online &&
          p.impersonates !== undefined &&
          known.some((k) => k.nickname === p.impersonates),
      );
      if (r.ok || fakes.length === 0) return r;
      return {
        ...r,
        message:
          `${r.message}. WARNING: ${fakes.length === 1 ? 'a device' : `${fakes.length} devices`} on this network ` +
          `announce the name '${q}' with a different key (${fakes.map((f) => f.shortId).join(', ')}); ` +
          'not used. If that device really is yours and was reset, check its fingerprint and pin it again',
      };
    }
    const named = all.filter((p) => !p.impersonates && p.online && p.name.toLowerCase() === lower);
    return pick(q, named);
  }

  /** Subscribe to changes; returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #entry(fp: string): PeerEntry | undefined {
    const seen = this.#seen.get(fp);
    const known = this.#known.get(fp);
    if (!seen && !known) return undefined;
    const now = this.#now();
    const addresses = seen
      ? [...seen.addresses.values()]
          .filter((a) => now - a.lastSeen <= this.#expireMs)
          .reverse()
          .map(({ instance: _, ...a }) => a)
      : [];
    const publicKey = seen?.publicKey ?? Uint8Array.from(Buffer.from(known!.publicKey, 'hex'));
    const name = seen?.name ?? known?.deviceName ?? known!.nickname;
    const impersonated = known ? undefined : this.#impersonated(name);
    return {
      fingerprint: fp,
      publicKey,
      shortId: shortFingerprint(publicKey),
      name,
      ...(known ? { nickname: known.nickname } : {}),
      known: known !== undefined,
      autoAccept: known?.autoAccept ?? false,
      online: addresses.length > 0,
      lastSeen: seen?.lastSeen ?? (known?.lastSeen ? Date.parse(known.lastSeen) || null : null),
      addresses,
      ...(seen?.nameplateHash && addresses.length > 0 ? { nameplateHash: seen.nameplateHash } : {}),
      ...(impersonated ? { impersonates: impersonated } : {}),
    };
  }

  /** The nickname of a known peer this name belongs to, if any. */
  #impersonated(name: string): string | undefined {
    return knownByName(this.#known.values(), name)?.nickname;
  }

  /** Make room: forget the stalest offline unknown device. */
  #evictOne(now: number): boolean {
    let victim: string | undefined;
    let oldest = Number.POSITIVE_INFINITY;
    for (const [fp, seen] of this.#seen) {
      if (this.#known.has(fp)) continue;
      const live = [...seen.addresses.values()].some((a) => now - a.lastSeen <= this.#expireMs);
      if (!live && seen.lastSeen < oldest) {
        oldest = seen.lastSeen;
        victim = fp;
      }
    }
    if (victim === undefined) return false;
    this.#seen.delete(victim);
    return true;
  }

  #changed(): void {
    for (const l of this.#listeners) {
      try {
        l();
      } catch {
        // A listener's bug must not break discovery.
      }
    }
  }
}

/**
 * The known peer that goes by `name` (its nickname or the device name it
 * announced; case-insensitive), other than the one with `exceptFingerprint`:
 * the check that a new key does not pose as a known device.
 */
export function knownByName<
  K extends Pick<KnownPeerInfo, 'fingerprint' | 'nickname' | 'deviceName'>,
>(known: Iterable<K>, name: string, exceptFingerprint?: string): K | undefined {
  const lower = name.toLowerCase();
  for (const k of known) {
    if (k.fingerprint === exceptFingerprint) continue;
    if (k.nickname.toLowerCase() === lower || k.deviceName?.toLowerCase() === lower) return k;
  }
  return undefined;
}

function matchId(q: string, all: readonly PeerEntry[]): PeerEntry[] {
  const hex = q.toLowerCase();
  if (/^[0-9a-f]{4,64}$/.test(hex)) {
    const m = all.filter((p) => p.fingerprint.startsWith(hex));
    if (m.length > 0) return m;
  }
  const short = q.toUpperCase().replace(/-/g, '');
  if (/^[A-Z2-7]{4,16}$/.test(short)) {
    return all.filter((p) => p.shortId.replace(/-/g, '').startsWith(short));
  }
  return [];
}

function pick(q: string, found: readonly PeerEntry[]): Resolution {
  if (found.length === 1) {
    const peer = found[0]!;
    if (!peer.online) {
      return {
        ok: false,
        reason: 'offline',
        message: `'${q}' (${peer.nickname ?? peer.name}, ${peer.shortId}) is not online on this network`,
        candidates: found,
      };
    }
    return { ok: true, peer };
  }
  if (found.length === 0) {
    return { ok: false, reason: 'none', message: `no device matches '${q}'`, candidates: [] };
  }
  return {
    ok: false,
    reason: 'ambiguous',
    message: `'${q}' matches ${found.length} devices (${found.map((p) => `${p.nickname ?? p.name} ${p.shortId}`).join(', ')}); use a longer fingerprint prefix`,
    candidates: found,
  };
}
