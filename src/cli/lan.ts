/** LAN discovery and trust, as the headless commands use them. */
import { isIPv4 } from 'node:net';
import { networkInterfaces } from 'node:os';
import { LanDiscovery } from '../discovery/lan.js';
import { knownByName, type PeerEntry } from '../discovery/peer-table.js';
import { fingerprint, type Identity, shortFingerprint } from '../engine/crypto/identity.js';
import { ConnectionError, FerryError, HandshakeError } from '../engine/errors.js';
import type { Link } from '../engine/transport/link.js';
import { dialQuic } from '../engine/transport/quic-link.js';
import { dialTcp } from '../engine/transport/tcp-link.js';
import type { FerryConfig, KnownPeer, PinSource } from '../store/config.js';
import { type GlobalOptions, UsageError } from './common.js';
import { displayName, type Reporter } from './output.js';

/** Where and whether discovery runs. */
export interface LanSettings {
  readonly enabled: boolean;
  /** Interface address; unset = the system's default multicast interface. */
  readonly interface?: string;
  /** mDNS port (tests use a private one). */
  readonly port?: number;
}

/** `--no-mdns` / settings, `--mdns-interface` (env FERRY_MDNS_INTERFACE) / settings, FERRY_MDNS_PORT. */
export function lanSettings(
  opts: GlobalOptions,
  config: FerryConfig,
  env = process.env,
): LanSettings {
  const iface = interfaceAddress(opts.mdnsInterface ?? config.settings.mdnsInterface);
  const port = env['FERRY_MDNS_PORT'] ? Number(env['FERRY_MDNS_PORT']) : undefined;
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
    throw new UsageError(`FERRY_MDNS_PORT '${env['FERRY_MDNS_PORT']}': expected 1..65535`);
  }
  return {
    enabled: opts.mdns !== false && config.settings.mdns,
    ...(iface ? { interface: iface } : {}),
    ...(port ? { port } : {}),
  };
}

/**
 * An interface given as an IPv4 address or by name (`eth0`): its IPv4
 * address, or a usage error that lists what there is.
 */
export function interfaceAddress(
  given: string | undefined,
  interfaces = networkInterfaces(),
  what = '--mdns-interface',
): string | undefined {
  if (given === undefined) return undefined;
  const all = Object.values(interfaces).flatMap((addrs) => addrs ?? []);
  if (isIPv4(given) && all.some((a) => a.address === given)) return given;
  const v4 = interfaces[given]?.find((a) => a.family === 'IPv4');
  if (v4) return v4.address;
  const known = Object.entries(interfaces)
    .flatMap(([name, addrs]) =>
      (addrs ?? []).filter((a) => a.family === 'IPv4').map((a) => `${name} (${a.address})`),
    )
    .join(', ');
  throw new UsageError(
    `${what} '${given}': expected the IPv4 address or the name of an interface of this machine; it has ${known || 'no IPv4 interface'}`,
  );
}

/**
 * Start discovery. When `required`, failure is an error; otherwise it is a
 * note and the command goes on without the LAN (relays still work).
 */
export async function startLan(
  s: LanSettings,
  identity: Identity,
  config: FerryConfig,
  out: Reporter,
  required: boolean,
): Promise<LanDiscovery | null> {
  if (!s.enabled) {
    if (required) {
      throw new UsageError(
        'LAN discovery is turned off (--no-mdns, or mdns=false in the settings); this command needs it',
      );
    }
    return null;
  }
  try {
    return await LanDiscovery.start({
      publicKey: identity.publicKey,
      name: config.deviceName,
      ...(s.interface ? { interface: s.interface } : {}),
      ...(s.port ? { port: s.port } : {}),
      known: config.knownPeers(),
      onWarning: (m) => out.say(`discovery: ${m}`),
    });
  } catch (err) {
    const msg = `LAN discovery unavailable: ${(err as Error).message}`;
    if (required) throw new ConnectionError(msg, { cause: err });
    out.say(`${msg}; going on without it`);
    return null;
  }
}

/** Address direct listeners bind: the discovery interface, else every interface. */
export function listenHost(s: LanSettings): string {
  return s.interface ?? '0.0.0.0';
}

/**
 * Connect to a discovered device: each live address in turn (freshest
 * first), QUIC, then TCP+TLS. `expectedPeer` is checked in the transport
 * handshake already, so an address taken over by someone else fails fast.
 */
export async function dialDevice(
  peer: PeerEntry,
  identity: Identity,
  expectedPeer: Uint8Array,
  signal: AbortSignal,
): Promise<Link> {
  let last: unknown = new ConnectionError(`${peer.name} announces no port to connect to`);
  for (const a of peer.addresses) {
    const common = { identity, host: a.address, expectedPeer, signal, timeoutMs: 4000 };
    if (a.quicPort) {
      try {
        return (await dialQuic({ ...common, port: a.quicPort })).link;
      } catch (err) {
        if (signal.aborted) throw err;
        last = err;
      }
    }
    if (a.tcpPort) {
      try {
        return (await dialTcp({ ...common, port: a.tcpPort })).link;
      } catch (err) {
        if (signal.aborted) throw err;
        last = err;
      }
    }
  }
  if (last instanceof HandshakeError && last.code === 'PEER_MISMATCH') {
    throw new HandshakeError(
      'PEER_MISMATCH',
      `WARNING: the device at ${peer.addresses.map((a) => a.address).join(', ')} did not prove the key ` +
        `of ${peer.nickname ?? peer.name} (${peer.shortId}); refused. Someone may be impersonating it.`,
    );
  }
  throw last;
}

/**
 * Remember a peer that proved itself (a code, or words both users
 * confirmed). An existing pin is kept as is (only name and last-seen are
 * refreshed); a new device that shares a known one's name is pinned apart,
 * with a note.
 */
export function rememberPeer(
  config: FerryConfig,
  publicKey: Uint8Array,
  deviceName: string | undefined,
  by: PinSource,
  out: Reporter,
): KnownPeer | null {
  try {
    const fp = fingerprint(publicKey);
    const twin = knownNameClash(config, publicKey, deviceName);
    const nickname = twin
      ? `${deviceName} (${shortFingerprint(publicKey).slice(0, 4)})`
      : undefined;
    const { peer, created } = config.pin({
      publicKey,
      ...(deviceName ? { deviceName } : {}),
      ...(nickname ? { nickname } : {}),
      by,
    });
    if (!created) config.updatePeer(fp, { lastSeen: new Date() });
    if (created) {
      out.line({ type: 'pinned', fingerprint: fp, nickname: peer.nickname, by });
      out.say(
        `remembered ${displayName(peer.nickname)} (${shortFingerprint(publicKey)}) as a known peer: no code needed between you next time` +
          (twin ? `; note: another known device is also called '${twin.nickname}'` : ''),
      );
    }
    return peer;
  } catch (err) {
    out.say(`could not save the peer: ${err instanceof FerryError ? err.message : String(err)}`);
    return null;
  }
}

/** Known-peer record for a key, if pinned. */
export function knownFor(config: FerryConfig, publicKey: Uint8Array): KnownPeer | undefined {
  return config.knownPeer(fingerprint(publicKey));
}

/** The known peer whose name a different key is using, if any (impersonation check). */
export function knownNameClash(
  config: FerryConfig,
  publicKey: Uint8Array,
  name: string | undefined,
): KnownPeer | undefined {
  return name ? knownByName(config.knownPeers(), name, fingerprint(publicKey)) : undefined;
}

/** Note that a known peer was just seen, and the name it gave (best effort). */
export function touchKnown(config: FerryConfig, publicKey: Uint8Array, deviceName?: string): void {
  const fp = fingerprint(publicKey);
  try {
    if (config.knownPeer(fp)) {
      config.updatePeer(fp, { lastSeen: new Date(), ...(deviceName ? { deviceName } : {}) });
    }
  } catch {
    // Only bookkeeping: the transfer itself succeeded.
  }
}
