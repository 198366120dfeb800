/** `ferry peers` (list, watch, trust, forget) and `ferry id`. */
import type { PeerEntry } from '../discovery/peer-table.js';
import { fingerprint, shortFingerprint } from '../engine/crypto/identity.js';
import type { FerryConfig } from '../store/config.js';
import { loadOrCreateIdentity } from '../store/identity-file.js';
import { delay, type GlobalOptions, resolveConfigDir, UsageError } from './common.js';
import { lanSettings, startLan } from './lan.js';
import { displayName, ExitCode, type Reporter } from './output.js';
import { openConfig } from './setup.js';

/** Options of `ferry peers`. */
export interface PeersOptions extends GlobalOptions {
  watch?: boolean;
  /** How long to listen before printing, in seconds. */
  wait?: string;
}

/** `ferry peers [--watch]`: known peers and devices on the LAN. */
export async function peersCommand(
  opts: PeersOptions,
  out: Reporter,
  signal: AbortSignal,
): Promise<number> {
  const waitS = opts.wait === undefined ? 2 : Number(opts.wait);
  if (!Number.isFinite(waitS) || waitS < 0 || waitS > 600) {
    throw new UsageError(`--wait '${opts.wait}': expected seconds, 0..600`);
  }
  const config = openConfig(opts, out);
  const identity = await loadOrCreateIdentity(resolveConfigDir(opts.configDir));
  const settings = lanSettings(opts, config);
  const lan = await startLan(settings, identity, config, out, false);
  try {
    if (lan) {
      // Announce ourselves too, so the others' lists show this device.
      await lan.announce();
      await delay(waitS * 1000, signal).catch(() => undefined);
    } else {
      out.say('LAN discovery is off: showing known peers only');
    }
    const table = () => (lan ? lan.table.list() : config.knownPeers().map((k) => offlineEntry(k)));
    if (!opts.watch || !lan) {
      print(table(), out);
      return ExitCode.Ok;
    }
    let last = '';
    const show = () => {
      const list = table();
      const key = JSON.stringify(list.map((p) => [p.fingerprint, p.online, p.addresses.length]));
      if (key === last) return;
      last = key;
      print(list, out, true);
    };
    show();
    const off = lan.table.onChange(show);
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
    off();
    return ExitCode.Interrupted;
  } finally {
    await lan?.close();
  }
}

function offlineEntry(k: ReturnType<FerryConfig['knownPeers']>[number]): PeerEntry {
  const publicKey = Uint8Array.from(Buffer.from(k.publicKey, 'hex'));
  return {
    fingerprint: k.fingerprint,
    publicKey,
    shortId: shortFingerprint(publicKey),
    name: k.deviceName ?? k.nickname,
    nickname: k.nickname,
    known: true,
    autoAccept: k.autoAccept,
    online: false,
    lastSeen: k.lastSeen ? Date.parse(k.lastSeen) : null,
    addresses: [],
  };
}

function print(list: readonly PeerEntry[], out: Reporter, watching = false): void {
  out.line({
    type: 'peers',
    peers: list.map((p) => ({
      name: p.name,
      nickname: p.nickname ?? null,
      fingerprint: p.fingerprint,
      short_id: p.shortId,
      known: p.known,
      auto_accept: p.autoAccept,
      online: p.online,
      addresses: p.addresses.map((a) => ({
        address: a.address,
        quic_port: a.quicPort ?? null,
        tcp_port: a.tcpPort ?? null,
      })),
      last_seen: p.lastSeen === null ? null : new Date(p.lastSeen).toISOString(),
      impersonates: p.impersonates ?? null,
    })),
  });
  if (watching) out.print(`— ${new Date().toLocaleTimeString()} —`);
  if (list.length === 0) {
    out.print('no peers found (is the other device running ferry on this network?)');
    return;
  }
  for (const p of list) {
    const label = displayName(p.nickname ?? p.name);
    const also = p.nickname && p.nickname !== p.name ? ` (announces '${displayName(p.name)}')` : '';
    const state = p.online ? 'online' : 'offline';
    const addrs = p.addresses.map((a) => a.address).join(', ');
    const seen = p.lastSeen === null ? 'not seen' : `seen ${ago(p.lastSeen)}`;
    out.print(
      `${p.known ? '★' : ' '} ${label}${also}  ${p.shortId}  ${p.known ? 'known' : 'new'}  ${state}` +
        `${addrs ? `  ${addrs}` : ''}  ${seen}${p.autoAccept ? '  auto-accept' : ''}`,
    );
    if (p.impersonates) {
      out.print(
        `    WARNING: announces the name of your known peer '${displayName(p.impersonates)}' with a different key`,
      );
    }
  }
}

function ago(t: number): string {
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  return new Date(t).toLocaleString();
}

/** Options of `ferry peers trust`. */
export interface TrustOptions extends GlobalOptions {
  nickname?: string;
  autoAccept?: boolean;
  wait?: string;
}

/**
 * `ferry peers trust <id>`: pin a device seen on the LAN by its whole
 * fingerprint (hex, or the 16-character short form `ferry id` shows on that
 * device), or change an already known peer's nickname / auto-accept.
 */
export async function trustCommand(
  who: string,
  opts: TrustOptions,
  out: Reporter,
  signal: AbortSignal,
): Promise<number> {
  const config = openConfig(opts, out);
  const existing = findKnown(config, who);
  if (existing) {
    const updated = config.updatePeer(existing.fingerprint, {
      ...(opts.nickname !== undefined ? { nickname: opts.nickname } : {}),
      ...(opts.autoAccept !== undefined ? { autoAccept: opts.autoAccept } : {}),
    });
    out.line({
      type: 'peer-updated',
      fingerprint: updated.fingerprint,
      nickname: updated.nickname,
      auto_accept: updated.autoAccept,
    });
    out.say(`${displayName(updated.nickname)}: auto-accept ${updated.autoAccept ? 'on' : 'off'}`);
    return ExitCode.Ok;
  }
  const id = who.replace(/[-\s]/g, '');
  const full = /^[0-9a-fA-F]{64}$/.test(id) || /^[A-Za-z2-7]{16}$/.test(id);
  if (!full) {
    throw new UsageError(
      `'${who}' is not a known peer; to trust a new device give its whole fingerprint as 'ferry id' shows it there (e.g. K4JQ-7ZPA-M2XD-QF3T)`,
    );
  }
  const identity = await loadOrCreateIdentity(resolveConfigDir(opts.configDir));
  const lan = await startLan(lanSettings(opts, config), identity, config, out, true);
  try {
    const waitS = opts.wait === undefined ? 5 : Number(opts.wait);
    const peer = await lan!.waitFor(
      (t) =>
        t
          .list()
          .find((p) =>
            id.length === 64
              ? p.fingerprint === id.toLowerCase()
              : p.shortId.replace(/-/g, '') === id.toUpperCase(),
          ),
      waitS * 1000,
      signal,
    );
    if (!peer) {
      out.say(`no device with fingerprint ${who} answered on this network within ${waitS}s`);
      return ExitCode.Failed;
    }
    const { peer: pinned } = config.pin({
      publicKey: peer.publicKey,
      deviceName: peer.name,
      ...(opts.nickname ? { nickname: opts.nickname } : {}),
      by: 'manual',
    });
    if (opts.autoAccept) config.updatePeer(pinned.fingerprint, { autoAccept: true });
    out.line({
      type: 'pinned',
      fingerprint: pinned.fingerprint,
      nickname: pinned.nickname,
      by: 'manual',
    });
    out.say(`trusted ${displayName(pinned.nickname)} (${peer.shortId})`);
    return ExitCode.Ok;
  } finally {
    await lan?.close();
  }
}

/** `ferry peers forget <id>`. */
export function forgetCommand(who: string, opts: GlobalOptions, out: Reporter): number {
  const config = openConfig(opts, out);
  const k = findKnown(config, who);
  if (!k) throw new UsageError(`'${who}' is not a known peer (see 'ferry peers')`);
  config.forget(k.fingerprint);
  out.line({ type: 'forgotten', fingerprint: k.fingerprint, nickname: k.nickname });
  out.say(`forgot ${displayName(k.nickname)}: it needs a code or confirmed words again next time`);
  return ExitCode.Ok;
}

function findKnown(config: FerryConfig, who: string) {
  const q = who.trim().toLowerCase();
  const compact = q.replace(/-/g, '').toUpperCase();
  const matches = config.knownPeers().filter((k) => {
    const short = shortFingerprint(Uint8Array.from(Buffer.from(k.publicKey, 'hex'))).replace(
      /-/g,
      '',
    );
    return (
      k.nickname.toLowerCase() === q ||
      (q.length >= 4 && /^[0-9a-f]+$/.test(q) && k.fingerprint.startsWith(q)) ||
      (compact.length >= 4 && short.startsWith(compact))
    );
  });
  if (matches.length > 1) {
    throw new UsageError(
      `'${who}' matches ${matches.length} known peers; use a longer fingerprint`,
    );
  }
  return matches[0];
}

/** `ferry id [--name NAME]`: this device's name and fingerprint. */
export async function idCommand(
  opts: GlobalOptions & { name?: string },
  out: Reporter,
): Promise<number> {
  const dir = resolveConfigDir(opts.configDir);
  const config = openConfig(opts, out);
  if (opts.name !== undefined) config.setDeviceName(opts.name);
  const identity = await loadOrCreateIdentity(dir);
  const short = shortFingerprint(identity.publicKey);
  out.line({
    type: 'identity',
    name: config.deviceName,
    fingerprint: fingerprint(identity.publicKey),
    short_id: short,
    config_dir: dir,
  });
  out.print(`device name:  ${displayName(config.deviceName)}`);
  out.print(`fingerprint:  ${short}`);
  out.print(`  (full: ${fingerprint(identity.publicKey)})`);
  return ExitCode.Ok;
}
