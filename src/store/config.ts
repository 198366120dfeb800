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
import { isAbsolute } from 'node:path';
import { z } from 'zod/v3';
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

/** When unfinished sessions resume: at start without asking, after asking, or only by hand. */
export type AutoResume = 'always' | 'ask' | 'never';

/**
 * User settings (issue 5). Fields without `?` always have a value (the
 * default fills in what a file lacks); optional ones mean something when
 * unset, as each says.
 */
export interface Settings {
  /** The name announced to peers; unset means the host name. */
  readonly deviceName?: string;
  /** Absolute directory received files are saved in; unset means the CLI's current directory. */
  readonly downloadDir?: string;
  /**
   * Relays used when none is given (`HOST:PORT`, `tcp://…`, `quic://…`).
   * Only checked here as short non-empty strings: the CLI parses the
   * address form when it uses them (src/store does not import src/cli).
   */
  readonly relays: readonly string[];
  /** How many transfers run at once, 1..32. */
  readonly maxConcurrent: number;
  /** Bytes per chunk: a power of two from 64 KiB to 16 MiB. */
  readonly chunkSize: number;
  /** Bytes of chunks in flight (the window) per transfer, 1 MiB..1 GiB. */
  readonly windowMemory: number;
  /** Bandwidth limit for all transfers together in bytes/s (at least 1 KiB/s); null = none. */
  readonly rateLimit: number | null;
  /** Bandwidth limit for each transfer in bytes/s (at least 1 KiB/s); null = none. */
  readonly perTransferRateLimit: number | null;
  /** Announce and browse on the local network. */
  readonly mdns: boolean;
  /** IPv4 address of the interface used for discovery; unset means all. */
  readonly mdnsInterface?: string;
  /**
   * Accept transfers from every known peer without asking. Off: known
   * peers are still asked about unless their own autoAccept is on.
   */
  readonly autoAcceptKnown: boolean;
  /**
   * `always`: unfinished sessions resume when ferry starts and the peer is
   * reachable; `ask`: ferry asks first; `never`: only `ferry resume` does.
   */
  readonly autoResume: AutoResume;
}

/** The name of a setting. */
export type SettingKey = keyof Settings;

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** The value of every setting that has a default (optional ones are unset by default). */
export const DEFAULT_SETTINGS: Readonly<Settings> = Object.freeze({
  relays: Object.freeze([]),
  maxConcurrent: 3,
  chunkSize: MiB,
  windowMemory: 16 * MiB,
  rateLimit: null,
  perTransferRateLimit: null,
  mdns: true,
  autoAcceptKnown: false,
  autoResume: 'always',
});

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
const isoTime = z.string().datetime({ offset: true });
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

// Relay addresses are short; the bound keeps a hand-edited file from
// carrying arbitrary text into every command.
const MAX_RELAY_CHARS = 300;
const MAX_PATH_CHARS = 4096;
const AUTO_RESUME: readonly AutoResume[] = ['always', 'ask', 'never'];

/** One setting's rule: what a valid value is, and the message naming it. */
interface SettingRule {
  readonly test: (value: unknown) => boolean;
  readonly message: string;
}

const isIntIn = (v: unknown, min: number, max: number) =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
const isRate = (v: unknown) => v === null || isIntIn(v, KiB, Number.MAX_SAFE_INTEGER);
const isBoolean = (v: unknown) => typeof v === 'boolean';

// deviceName and mdnsInterface keep their own checks (checkName, isIPv4):
// a stored name is cleaned, a typed one is refused.
const RULES = {
  downloadDir: {
    test: (v) =>
      typeof v === 'string' && isAbsolute(v) && !v.includes('\0') && v.length <= MAX_PATH_CHARS,
    message: 'must be an absolute path',
  },
  relays: {
    test: (v) =>
      Array.isArray(v) &&
      v.every((r) => typeof r === 'string' && r.trim() !== '' && r.length <= MAX_RELAY_CHARS),
    message: `must be a list of relay addresses, each 1 to ${MAX_RELAY_CHARS} characters`,
  },
  maxConcurrent: { test: (v) => isIntIn(v, 1, 32), message: 'must be a whole number from 1 to 32' },
  chunkSize: {
    test: (v) => isIntIn(v, 64 * KiB, 16 * MiB) && ((v as number) & ((v as number) - 1)) === 0,
    message: 'must be a power of two between 64 KiB and 16 MiB',
  },
  windowMemory: {
    test: (v) => isIntIn(v, MiB, GiB),
    message: 'must be a whole number of bytes between 1 MiB and 1 GiB',
  },
  rateLimit: { test: isRate, message: 'must be null or at least 1024 bytes per second' },
  perTransferRateLimit: {
    test: isRate,
    message: 'must be null or at least 1024 bytes per second',
  },
  mdns: { test: isBoolean, message: 'must be true or false' },
  autoAcceptKnown: { test: isBoolean, message: 'must be true or false' },
  autoResume: {
    test: (v) => AUTO_RESUME.includes(v as AutoResume),
    message: `must be one of ${AUTO_RESUME.join(', ')}`,
  },
} satisfies Record<Exclude<SettingKey, 'deviceName' | 'mdnsInterface'>, SettingRule>;

/** A zod schema that accepts what `rule` accepts, with the rule's message. */
function ruled<K extends keyof typeof RULES>(key: K) {
  return z.custom<Settings[K]>(RULES[key].test, { message: RULES[key].message });
}

const settingsShape = {
  deviceName: storedName.optional(),
  downloadDir: ruled('downloadDir').optional(),
  relays: ruled('relays').default(() => []),
  maxConcurrent: ruled('maxConcurrent').default(DEFAULT_SETTINGS.maxConcurrent),
  chunkSize: ruled('chunkSize').default(DEFAULT_SETTINGS.chunkSize),
  windowMemory: ruled('windowMemory').default(DEFAULT_SETTINGS.windowMemory),
  rateLimit: ruled('rateLimit').default(DEFAULT_SETTINGS.rateLimit),
  perTransferRateLimit: ruled('perTransferRateLimit').default(
    DEFAULT_SETTINGS.perTransferRateLimit,
  ),
  mdns: ruled('mdns').default(DEFAULT_SETTINGS.mdns),
  mdnsInterface: z.string().refine(isIPv4, 'not an IPv4 address').optional(),
  autoAcceptKnown: ruled('autoAcceptKnown').default(DEFAULT_SETTINGS.autoAcceptKnown),
  autoResume: ruled('autoResume').default(DEFAULT_SETTINGS.autoResume),
} satisfies Record<SettingKey, z.ZodType>;

/** Every setting, in the order `ferry settings` lists them. */
export const SETTING_KEYS: readonly SettingKey[] = Object.freeze(
  Object.keys(settingsShape) as SettingKey[],
);

const settingsSchema = z.object(settingsShape);

const documentSchema = z.object({
  version: z.literal(VERSION),
  settings: settingsSchema.default(defaultSettings),
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

  /**
   * Change settings and write the file once; a key given as undefined goes
   * back to its default (or unset). RangeError naming the key when a value
   * is invalid (nothing is written then).
   */
  updateSettings(patch: Partial<Settings>): void {
    const checked: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(patch)) {
      checked[key] = value === undefined ? undefined : checkSetting(key, value);
    }
    this.#mutate((doc) => {
      doc.settings = withoutUndefined({ ...doc.settings, ...checked }) as Settings;
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
  return { version: VERSION, settings: defaultSettings(), knownPeers: {} };
}

function defaultSettings(): Settings {
  return { ...DEFAULT_SETTINGS, relays: [] };
}

/** A valid value for `key` (a typed device name trimmed); RangeError naming the key otherwise. */
function checkSetting(key: string, value: unknown): unknown {
  if (key === 'deviceName') return checkName(value as string, 'deviceName');
  if (key === 'mdnsInterface') {
    if (typeof value === 'string' && isIPv4(value)) return value;
    throw new RangeError(`mdnsInterface: ${JSON.stringify(value)} is not an IPv4 address`);
  }
  const rule: SettingRule | undefined = Object.hasOwn(RULES, key)
    ? RULES[key as keyof typeof RULES]
    : undefined;
  if (!rule) throw new RangeError(`${key}: not a setting`);
  if (!rule.test(value)) throw new RangeError(`${key}: ${rule.message}`);
  return Array.isArray(value) ? [...value] : value;
}

function peerIn(doc: ConfigDocument, fingerprint: string): KnownPeer | undefined {
  return Object.hasOwn(doc.knownPeers, fingerprint) ? doc.knownPeers[fingerprint] : undefined;
}

/** A copy without keys whose value is undefined, so optional fields are absent rather than undefined. */
function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
