/**
 * What a ferry device announces in the TXT record of its `_ferry._udp`
 * mDNS service, and the strict decoder for what others announce.
 *
 * Everything here is a hint. Anyone on the LAN can send any record, so the
 * decoder only guarantees a well-formed, self-consistent value (the
 * fingerprint matches the key); who is really at an address is proven by
 * the handshake, which pins the advertised or known key.
 *
 * Every TXT string stays well under the 255-byte limit: bonjour-service
 * would silently emit a packet that poisons all answers otherwise.
 */
import { createHash } from 'node:crypto';
import { fingerprint, IDENTITY_KEY_BYTES } from '../engine/crypto/identity.js';
import { cleanName } from '../engine/names.js';

/** The mDNS service type (`_ferry._udp.local`). */
export const SERVICE_TYPE = 'ferry';
/** Protocol of the service type: QUIC is UDP. */
export const SERVICE_PROTOCOL = 'udp';
/** Longest device name announced, in UTF-8 bytes (a DNS label is at most 63). */
export const MAX_NAME_BYTES = 63;
/** Discovery record format understood by this build. */
export const ADVERT_VERSION = 1;

/** A device's announcement. */
export interface Advert {
  /** Discovery record / protocol version. */
  readonly version: number;
  /** Ed25519 identity key (32 bytes). */
  readonly publicKey: Uint8Array;
  /** Hex fingerprint of `publicKey`. */
  readonly fingerprint: string;
  /** Device name as announced (already cleaned of control characters). */
  readonly name: string;
  /** UDP port of its QUIC listener, when it accepts connections. */
  readonly quicPort?: number;
  /** TCP port of its TCP+TLS listener, when it accepts connections. */
  readonly tcpPort?: number;
  /** While a code-based send waits: hash of its nameplate (see nameplateHash). */
  readonly nameplateHash?: string;
  /**
   * Where that code-based send listens, when not on `quicPort`/`tcpPort`
   * (the app keeps those for transfers sent to it and waits for a code's
   * receiver on listeners of its own).
   */
  readonly codeQuicPort?: number;
  readonly codeTcpPort?: number;
  /**
   * Further code-based sends waiting at the same time (the app queues
   * several), each with its own listener; TXT key `nx`, up to
   * MAX_MORE_CODE_OFFERS. Older readers ignore the key and see the first only.
   */
  readonly moreCodeOffers?: readonly CodeOffer[];
}

/** One waiting code-based send: its nameplate hash and where it listens. */
export interface CodeOffer {
  readonly nameplateHash: string;
  readonly quicPort?: number;
  readonly tcpPort?: number;
}

/** Code sends listed in `nx` besides the one in `np` (each ~28 bytes of one 255-byte TXT string). */
export const MAX_MORE_CODE_OFFERS = 7;

/**
 * The LAN hint for a code-based send: a hash of the nameplate only. The
 * nameplate is not secret (it already picks the relay room); the code words
 * never leave the machine, so publishing this costs the code nothing.
 */
export function nameplateHash(nameplate: string): string {
  return createHash('sha256')
    .update('ferry/1 lan-nameplate\0')
    .update(nameplate)
    .digest('hex')
    .slice(0, 16);
}

/** TXT key/value pairs for an advert. */
export function encodeAdvert(a: Omit<Advert, 'fingerprint'>): Record<string, string> {
  const txt: Record<string, string> = {
    v: String(a.version),
    pk: Buffer.from(a.publicKey).toString('base64url'),
    fp: fingerprint(a.publicKey),
    n: truncateUtf8(cleanName(a.name), MAX_NAME_BYTES) || 'ferry',
  };
  if (a.quicPort !== undefined) txt['q'] = String(a.quicPort);
  if (a.tcpPort !== undefined) txt['t'] = String(a.tcpPort);
  if (a.nameplateHash !== undefined) txt['np'] = a.nameplateHash;
  if (a.codeQuicPort !== undefined) txt['cq'] = String(a.codeQuicPort);
  if (a.codeTcpPort !== undefined) txt['ct'] = String(a.codeTcpPort);
  const more = (a.moreCodeOffers ?? []).slice(0, MAX_MORE_CODE_OFFERS);
  if (more.length > 0) {
    txt['nx'] = more
      .map((o) => `${o.nameplateHash}:${o.quicPort ?? ''}:${o.tcpPort ?? ''}`)
      .join(',');
  }
  return txt;
}

/** The `nx` list, or undefined when it is absent or malformed (then only `np` counts). */
function decodeMoreCodeOffers(text: string | undefined): CodeOffer[] | undefined {
  if (text === undefined) return undefined;
  const entries = text.split(',');
  if (entries.length > MAX_MORE_CODE_OFFERS) return undefined;
  const out: CodeOffer[] = [];
  for (const e of entries) {
    const m = /^([0-9a-f]{16}):(\d{0,5}):(\d{0,5})$/.exec(e);
    if (!m) return undefined;
    const quicPort = m[2] ? optionalPort(m[2]) : undefined;
    const tcpPort = m[3] ? optionalPort(m[3]) : undefined;
    if (quicPort === null || tcpPort === null || (!quicPort && !tcpPort)) return undefined;
    out.push({
      nameplateHash: m[1]!,
      ...(quicPort !== undefined ? { quicPort } : {}),
      ...(tcpPort !== undefined ? { tcpPort } : {}),
    });
  }
  return out;
}

/**
 * Decode the raw TXT strings of a record (as multicast-dns hands them over:
 * an array of Buffers, or one Buffer). Returns null for anything that is not
 * a complete, consistent ferry advert. Never throws.
 */
export function decodeAdvert(raw: unknown): Advert | null {
  try {
    const kv = txtPairs(raw);
    if (!kv) return null;
    const version = intField(kv.get('v'), 1, 0xffff);
    const pk = kv.get('pk');
    const fp = kv.get('fp');
    if (version === undefined || !pk || !fp || !/^[A-Za-z0-9_-]{43}$/.test(pk)) return null;
    const publicKey = Uint8Array.from(Buffer.from(pk, 'base64url'));
    if (publicKey.length !== IDENTITY_KEY_BYTES) return null;
    const expected = fingerprint(publicKey);
    if (fp.toLowerCase() !== expected) return null;
    const name = truncateUtf8(cleanName(kv.get('n') ?? ''), MAX_NAME_BYTES);
    const quicPort = optionalPort(kv.get('q'));
    const tcpPort = optionalPort(kv.get('t'));
    if (quicPort === null || tcpPort === null) return null;
    const np = kv.get('np');
    if (np !== undefined && !/^[0-9a-f]{16}$/.test(np)) return null;
    const codeQuicPort = optionalPort(kv.get('cq'));
    const codeTcpPort = optionalPort(kv.get('ct'));
    if (codeQuicPort === null || codeTcpPort === null) return null;
    const more = decodeMoreCodeOffers(kv.get('nx'));
    return {
      version,
      publicKey,
      fingerprint: expected,
      name: name || expected.slice(0, 8),
      ...(quicPort !== undefined ? { quicPort } : {}),
      ...(tcpPort !== undefined ? { tcpPort } : {}),
      ...(np !== undefined ? { nameplateHash: np } : {}),
      ...(codeQuicPort !== undefined ? { codeQuicPort } : {}),
      ...(codeTcpPort !== undefined ? { codeTcpPort } : {}),
      ...(more ? { moreCodeOffers: more } : {}),
    };
  } catch {
    return null;
  }
}

/** At most 32 strings of at most 255 bytes each; first occurrence of a key wins (RFC 6763 §6.4). */
function txtPairs(raw: unknown): Map<string, string> | null {
  const parts = Array.isArray(raw) ? raw : Buffer.isBuffer(raw) ? [raw] : null;
  if (!parts || parts.length > 32) return null;
  const kv = new Map<string, string>();
  for (const p of parts) {
    if (!Buffer.isBuffer(p) || p.length > 255) return null;
    const s = p.toString('utf8');
    const eq = s.indexOf('=');
    if (eq <= 0) continue;
    const key = s.slice(0, eq).toLowerCase();
    if (!kv.has(key)) kv.set(key, s.slice(eq + 1));
  }
  return kv;
}

function intField(s: string | undefined, min: number, max: number): number | undefined {
  if (s === undefined || !/^\d{1,5}$/.test(s)) return undefined;
  const n = Number(s);
  return n >= min && n <= max ? n : undefined;
}

/** undefined when absent, null when present but invalid. */
function optionalPort(s: string | undefined): number | undefined | null {
  if (s === undefined) return undefined;
  return intField(s, 1, 65535) ?? null;
}

/** Cut to at most `max` UTF-8 bytes without splitting a character. */
export function truncateUtf8(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  let out = '';
  let bytes = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > max) break;
    out += ch;
    bytes += n;
  }
  return out.trimEnd();
}
