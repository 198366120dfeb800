/**
 * Settings and known (pinned) peers in `<config dir>/config.json`, a
 * JsonDocument (json-document.ts): kept in memory, re-read before each
 * change so two ferry processes sharing a config dir (`ferry receive
 * --listen` and `ferry send`) keep each other's pins, written through conf
 * (atomic rename, mode 0600). A file that is not JSON, does not match the
 * schema or comes from a newer ferry is moved aside to
 * `config.json.corrupt-<time>` (never deleted) and ferry goes on with
 * defaults. A known peer whose fingerprint is not the one of its public key
 * is dropped, so a hand edit cannot make a trusted name point at another key.
 */
import { isIPv4 } from 'node:net';
import { hostname } from 'node:os';
import { z } from 'zod';
import { fingerprint, shortFingerprint } from '../engine/crypto/identity.js';
import {
  JsonDocument,
  type JsonDocumentSpec,
  type Migration,
  type ReportProblem,
} from './json-document.js';

/** How a peer came to be trusted. */
export type PinSource = 'code' | 'sas' | 'manual';

/** A peer whose identity key is pinned. */
export interface KnownPeer {
  /** 64 lowercase hex: fingerprint() of the public key. */
  readonly fingerprint: string;
  /** 64 lowercase hex of the 32-byte Ed25519 public key. */
  readonly publicKey: string;
  /** What the user calls it; defaults to the device name or the short fingerprint. */
  readonly nickname: string;
  /** The name the device announced last. */
  readonly deviceName?: string;
  /** Accept its transfers without asking. */
  readonly autoAccept: boolean;
  /** ISO time of the first pin. */
  readonly pinnedAt: string;
  /** How the first pin was made. */
  readonly pinnedBy: PinSource;
  /** ISO time the peer was last seen. */
  readonly lastSeen?: string;
}

/** User settings. */
export interface Settings {
  /** The name announced to peers; unset means the host name. */
  readonly deviceName?: string;
  /** Announce and browse on the local network. */
  readonly mdns: boolean;
  /** IPv4 address of the interface used for discovery; unset means all. */
  readonly mdnsInterface?: string;
}

const FILE_NAME = 'config';
const VERSION = 1;
const FALLBACK_DEVICE_NAME = 'ferry';
// DNS-SD instance names are at most 63 bytes of UTF-8 (RFC 6763 §4.1.1), and
// the device name is announced as one.
const MAX_NAME_BYTES = 63;
const HEX_KEY = /^[0-9a-f]{64}$/;
const LINE_BREAKS = /[\t\n\v\f\r\u0085\u2028\u2029]/gu;
// Controls, lone surrogates and the bidi formatting characters of UAX #9
// (ALM, LRM, RLM, LRE–RLO, LRI–PDI), which can make a name display as
// something it is not (CVE-2021-42574).
const UNSAFE_CHARS = /[\p{Cc}\p{Cs}\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

type ConfigDocument = {
  version: typeof VERSION;
  settings: Settings;
  knownPeers: Record<string, KnownPeer>;
};

/** Steps from version N (the key) to N + 1. Version 1 is the first, so none yet. */
const MIGRATIONS: Readonly<Record<number, Migration>> = {};

// Names in the file are cleaned rather than rejected: a stray character in a
// hand edit should not move every pin aside.
const storedName = z
  .string()
  .transform(cleanDeviceName)
  .refine((name) => name !== '', 'must not be empty');
const isoTime = z.iso.datetime({ offset: true });
const pinSource = z.enum(['code', 'sas', 'manual']);

const peerSchema = z.object({
  fingerprint: z.string().regex(HEX_KEY),
  publicKey: z.string().regex(HEX_KEY),
  nickname: storedName,
  deviceName: storedName.optional(),
  autoAccept: z.boolean().default(false),
  pinnedAt: isoTime,
  pinnedBy: pinSource,
  lastSeen: isoTime.optional(),
});

const settingsSchema = z.object({
  deviceName: storedName.optional(),
  mdns: z.boolean().default(true),
  mdnsInterface: z.string().refine(isIPv4, 'not an IPv4 address').optional(),
});

const documentSchema = z.object({
  version: z.literal(VERSION),
  settings: settingsSchema.default({ mdns: true }),
  knownPeers: z.record(z.string().regex(HEX_KEY), peerSchema).default({}),
});

const CONFIG_SPEC: JsonDocumentSpec<ConfigDocument> = {
  name: FILE_NAME,
  label: 'config',
  version: VERSION,
  migrations: MIGRATIONS,
  schema: documentSchema,
  defaults: defaultDocument,
  defaultsName: 'the default settings',
  loadedName: 'the settings and peers this process had loaded',
  sanitize: dropForeignKeys,
};

/** Options for FerryConfig.open. */
export interface FerryConfigOptions {
  /** Receives problems found in the file; defaults to process.emitWarning. */
  readonly onWarning?: (message: string) => void;
  /** Clock for pin times and for names of moved-aside files. */
  readonly now?: () => Date;
}

/** Settings and known peers, kept in memory and persisted in `<configDir>/config.json`. */
export class FerryConfig {
  /** Absolute path of config.json. */
  readonly path: string;
  readonly #document: JsonDocument<ConfigDocument>;
  readonly #now: () => Date;

  private constructor(document: JsonDocument<ConfigDocument>, now: () => Date) {
    this.#document = document;
    this.#now = now;
    this.path = document.path;
  }

  /** Open (creating if needed) `<configDir>/config.json`. */
  static open(configDir: string, opts: FerryConfigOptions = {}): FerryConfig {
    const now = opts.now ?? (() => new Date());
    const document = JsonDocument.open(configDir, CONFIG_SPEC, { ...opts, now });
    return new FerryConfig(document, now);
  }

  get #doc(): ConfigDocument {
    return this.#document.value;
  }

  /** Current settings. */
  get settings(): Settings {
    return this.#doc.settings;
  }

  /** The name announced to peers: the setting, else the cleaned host name, else 'ferry'. */
  get deviceName(): string {
    return this.#doc.settings.deviceName ?? (cleanDeviceName(hostname()) || FALLBACK_DEVICE_NAME);
  }

  /** Set the announced name (trimmed); RangeError when it is empty, too long or unsafe. */
  setDeviceName(name: string): void {
    this.updateSettings({ deviceName: name });
  }

  /** Change settings; a key given as undefined goes back to its default. */
  updateSettings(patch: Partial<Settings>): void {
    const deviceName =
      patch.deviceName === undefined ? undefined : checkName(patch.deviceName, 'deviceName');
    if (patch.mdns !== undefined && typeof patch.mdns !== 'boolean') {
      throw new TypeError('mdns must be a boolean');
    }
    if (patch.mdnsInterface !== undefined && !isIPv4(patch.mdnsInterface)) {
      throw new RangeError(
        `mdnsInterface: ${JSON.stringify(patch.mdnsInterface)} is not an IPv4 address`,
      );
    }
    const checked = Object.hasOwn(patch, 'deviceName') ? { ...patch, deviceName } : patch;
    this.#mutate((doc) => {
      doc.settings = withoutUndefined({ ...doc.settings, ...checked });
    });
  }

  /** Known peers sorted by nickname. */
  knownPeers(): KnownPeer[] {
    return Object.values(this.#doc.knownPeers).sort(
      (a, b) => a.nickname.localeCompare(b.nickname) || a.fingerprint.localeCompare(b.fingerprint),
    );
  }

  /** The known peer with this fingerprint, if any. */
  knownPeer(fingerprint: string): KnownPeer | undefined {
    return peerIn(this.#doc, fingerprint);
  }

  /**
   * Pin a key. If the fingerprint is already known, keep its nickname,
   * autoAccept and pin time and source, refresh deviceName and lastSeen, and
   * return created=false. `deviceName` is cleaned (it comes from the
   * network); `nickname` must be valid (RangeError otherwise).
   */
  pin(p: { publicKey: Uint8Array; deviceName?: string; nickname?: string; by: PinSource }): {
    peer: KnownPeer;
    created: boolean;
  } {
    const fp = fingerprint(p.publicKey);
    const nickname = p.nickname === undefined ? undefined : checkName(p.nickname, 'nickname');
    if (!pinSource.safeParse(p.by).success) {
      throw new RangeError(`by: must be one of ${pinSource.options.join(', ')}`);
    }
    const deviceName = cleanDeviceName(p.deviceName ?? '') || undefined;
    const now = this.#now().toISOString();
    // A manual pin is typed in by the user, not seen on the network.
    const lastSeen = p.by === 'manual' ? undefined : now;
    return this.#mutate((doc) => {
      const old = peerIn(doc, fp);
      const peer: KnownPeer = old
        ? withoutUndefined({
            ...old,
            deviceName: deviceName ?? old.deviceName,
            lastSeen: lastSeen ?? old.lastSeen,
          })
        : withoutUndefined({
            fingerprint: fp,
            publicKey: Buffer.from(p.publicKey).toString('hex'),
            nickname: nickname ?? deviceName ?? shortFingerprint(p.publicKey),
            deviceName,
            autoAccept: false,
            pinnedAt: now,
            pinnedBy: p.by,
            lastSeen,
          });
      doc.knownPeers[fp] = peer;
      return { peer, created: old === undefined };
    });
  }

  /** Change a known peer; RangeError('fingerprint: not a known peer') when there is none. */
  updatePeer(
    fingerprint: string,
    patch: { nickname?: string; autoAccept?: boolean; lastSeen?: Date; deviceName?: string },
  ): KnownPeer {
    const nickname =
      patch.nickname === undefined ? undefined : checkName(patch.nickname, 'nickname');
    if (patch.autoAccept !== undefined && typeof patch.autoAccept !== 'boolean') {
      throw new TypeError('autoAccept must be a boolean');
    }
    if (patch.lastSeen !== undefined && Number.isNaN(patch.lastSeen.getTime())) {
      throw new RangeError('lastSeen: invalid date');
    }
    const deviceName = cleanDeviceName(patch.deviceName ?? '') || undefined;
    return this.#mutate((doc) => {
      const old = peerIn(doc, fingerprint);
      if (!old) throw new RangeError('fingerprint: not a known peer');
      const peer: KnownPeer = withoutUndefined({
        ...old,
        nickname: nickname ?? old.nickname,
        deviceName: deviceName ?? old.deviceName,
        autoAccept: patch.autoAccept ?? old.autoAccept,
        lastSeen: patch.lastSeen?.toISOString() ?? old.lastSeen,
      });
      doc.knownPeers[fingerprint] = peer;
      return peer;
    });
  }

  /** Unpin a peer; false when it was not known. */
  forget(fingerprint: string): boolean {
    return this.#mutate((doc) => {
      if (!peerIn(doc, fingerprint)) return false;
      delete doc.knownPeers[fingerprint];
      return true;
    });
  }

  #mutate<T>(change: (doc: ConfigDocument) => T): T {
    return this.#document.mutate(change);
  }
}

/**
 * Drop peers whose fingerprint (key or field) is not the one of their
 * public key, so a hand edit cannot make a trusted name point at another key.
 */
function dropForeignKeys(doc: ConfigDocument, report: ReportProblem): ConfigDocument {
  for (const [key, peer] of Object.entries(doc.knownPeers)) {
    const actual = fingerprint(Buffer.from(peer.publicKey, 'hex'));
    if (key === actual && peer.fingerprint === actual) continue;
    delete doc.knownPeers[key];
    report(
      `ignored known peer "${peer.nickname}" (${key}): its fingerprint does not match its public key`,
    );
  }
  return doc;
}

/**
 * Make a name safe to show and announce: line breaks become spaces, control,
 * lone-surrogate and bidi formatting characters become U+FFFD, the result is
 * trimmed and cut to at most 63 UTF-8 bytes between two characters (grapheme
 * clusters). Returns '' when nothing is left. For names that arrive from the
 * network too.
 */
export function cleanDeviceName(raw: string): string {
  const name = replaceUnsafe(String(raw)).trim();
  if (Buffer.byteLength(name) <= MAX_NAME_BYTES) return name;
  let out = '';
  let bytes = 0;
  for (const { segment } of graphemes.segment(name)) {
    bytes += Buffer.byteLength(segment);
    if (bytes > MAX_NAME_BYTES) break;
    out += segment;
  }
  return out.trimEnd();
}

function replaceUnsafe(name: string): string {
  return name.replace(LINE_BREAKS, ' ').replace(UNSAFE_CHARS, '\uFFFD');
}

/** A name typed by the user, trimmed; RangeError instead of cleaning it. */
function checkName(raw: string, param: string): string {
  if (typeof raw !== 'string') throw new TypeError(`${param} must be a string`);
  const name = raw.trim();
  if (name === '') throw new RangeError(`${param}: must not be empty`);
  if (replaceUnsafe(name) !== name) {
    throw new RangeError(
      `${param}: must not contain control or bidirectional formatting characters`,
    );
  }
  const bytes = Buffer.byteLength(name);
  if (bytes > MAX_NAME_BYTES) {
    throw new RangeError(`${param}: ${bytes} UTF-8 bytes, at most ${MAX_NAME_BYTES} allowed`);
  }
  return name;
}

function defaultDocument(): ConfigDocument {
  return { version: VERSION, settings: { mdns: true }, knownPeers: {} };
}

function peerIn(doc: ConfigDocument, fingerprint: string): KnownPeer | undefined {
  return Object.hasOwn(doc.knownPeers, fingerprint) ? doc.knownPeers[fingerprint] : undefined;
}

/** A copy without keys whose value is undefined, so optional fields are absent rather than undefined. */
function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
