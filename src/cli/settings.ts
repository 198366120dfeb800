/**
 * `ferry settings [key [value]]`: list, show and change the settings in
 * config.json (issue 5). Values are typed the way people write them (`on`,
 * `1M`, `500k/s`, `a:9009,b:9009`) and stored as the store's types; `unset`
 * clears an optional setting or puts one back to its default. The store
 * checks ranges; this module checks the form and maps both to UsageError.
 */
import { homedir, networkInterfaces } from 'node:os';
import { resolve } from 'node:path';
import { DEFAULT_SETTINGS, SETTING_KEYS, type SettingKey, type Settings } from '../store/config.js';
import { type GlobalOptions, parseRate, UsageError } from './common.js';
import { interfaceAddress } from './lan.js';
import { displayName, ExitCode, type Reporter } from './output.js';
import { parseRelayAddress } from './relay-client.js';
import { openConfig } from './setup.js';

/** A setting's value as the store holds it; undefined = unset / back to the default. */
export type SettingValue = Settings[SettingKey] | undefined;

/** What an unset optional setting means, for the listing. */
const UNSET_MEANS: Partial<Record<SettingKey, string>> = {
  deviceName: 'the host name',
  downloadDir: 'the current directory',
  mdnsInterface: 'all interfaces',
};

type ValueKind = 'text' | 'path' | 'list' | 'count' | 'size' | 'rate' | 'bool' | 'iface' | 'choice';

/** How each setting's value is typed and shown. */
const KIND: Record<SettingKey, ValueKind> = {
  deviceName: 'text',
  downloadDir: 'path',
  relays: 'list',
  maxConcurrent: 'count',
  chunkSize: 'size',
  windowMemory: 'size',
  rateLimit: 'rate',
  perTransferRateLimit: 'rate',
  mdns: 'bool',
  mdnsInterface: 'iface',
  autoAcceptKnown: 'bool',
  autoResume: 'choice',
};

const BOOLEANS: Readonly<Record<string, boolean>> = {
  on: true,
  true: true,
  yes: true,
  off: false,
  false: false,
  no: false,
};
const UNITS = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 } as const;

/**
 * The setting a typed key names: exact, or ignoring case, `-` and `_`
 * (`chunk-size`). UsageError listing the keys otherwise.
 */
export function settingKey(text: string): SettingKey {
  const loose = (s: string) => s.replace(/[-_]/g, '').toLowerCase();
  const key = SETTING_KEYS.find((k) => loose(k) === loose(text));
  if (!key) {
    throw new UsageError(`unknown setting '${text}'; the settings are ${SETTING_KEYS.join(', ')}`);
  }
  return key;
}

/**
 * A typed value for `key` in the store's type; undefined for `unset`.
 * UsageError when the form is wrong; ranges are the store's to check.
 */
export function parseSettingValue(
  key: SettingKey,
  text: string,
  interfaces = networkInterfaces(),
): SettingValue {
  const s = text.trim();
  if (s.toLowerCase() === 'unset') return undefined;
  switch (KIND[key]) {
    case 'text':
      return text;
    case 'path':
      if (s === '') throw new UsageError(`${key}: expected a directory`);
      // `~` is expanded here too, for values quoted past the shell.
      return resolve(s === '~' || s.startsWith('~/') ? homedir() + s.slice(1) : s);
    case 'list':
      return s
        .split(',')
        .map((r) => r.trim())
        .filter(Boolean)
        .map((r) => {
          try {
            parseRelayAddress(r);
          } catch (err) {
            throw new UsageError(`${key}: ${(err as Error).message}`);
          }
          return r;
        });
    case 'count':
      if (!/^\d+$/.test(s)) throw new UsageError(`${key} '${text}': expected a whole number`);
      return Number(s);
    case 'size':
      return parseSize(s, key);
    case 'rate':
      return parseRate(s, key);
    case 'bool': {
      const b = BOOLEANS[s.toLowerCase()];
      if (b === undefined) throw new UsageError(`${key} '${text}': expected on or off`);
      return b;
    }
    case 'iface':
      return interfaceAddress(s, interfaces, 'mdnsInterface') as string;
    case 'choice': {
      const choice = s.toLowerCase();
      if (choice !== 'always' && choice !== 'ask' && choice !== 'never') {
        throw new UsageError(`${key} '${text}': expected always, ask or never`);
      }
      return choice;
    }
  }
}

/** A size as typed: bytes with an optional k/M/G (powers of 1024) and "B"/"iB": `512k`, `1 MiB`. */
export function parseSize(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`${what} '${text}': expected a size like 512k, 1M or 4MiB`);
  const unit = m[2]!.toLowerCase() as keyof typeof UNITS;
  return Math.round(Number(m[1]) * UNITS[unit]);
}

/** A value as the listing shows it; sizes and rates exactly, in a form `parseSettingValue` reads back. */
export function formatSettingValue(key: SettingKey, value: SettingValue): string {
  if (value === undefined) return `(unset: ${UNSET_MEANS[key] ?? 'the default'})`;
  switch (KIND[key]) {
    case 'list':
      return (value as readonly string[]).length === 0
        ? 'none'
        : (value as readonly string[]).map(displayName).join(',');
    case 'size':
      return exactSize(value as number);
    case 'rate':
      return value === null ? 'off' : `${exactSize(value as number)}/s`;
    case 'bool':
      return value ? 'on' : 'off';
    default:
      return displayName(String(value));
  }
}

/** `ferry settings`, `ferry settings <key>`, `ferry settings <key> <value>`. */
export function settingsCommand(
  key: string | undefined,
  value: string | undefined,
  opts: GlobalOptions,
  out: Reporter,
): number {
  const config = openConfig(opts, out);
  if (key === undefined) {
    const all = config.settings;
    out.line({
      type: 'settings',
      settings: Object.fromEntries(SETTING_KEYS.map((k) => [k, all[k] ?? null])),
    });
    const keyWidth = Math.max(...SETTING_KEYS.map((k) => k.length));
    // Unset rows have no note, so their longer text does not set the column.
    const valueWidth = Math.max(
      ...SETTING_KEYS.map((k) => (all[k] === undefined ? 0 : formatSettingValue(k, all[k]).length)),
    );
    for (const k of SETTING_KEYS) out.print(row(k, all[k], keyWidth, valueWidth));
    return ExitCode.Ok;
  }
  const k = settingKey(key);
  if (value !== undefined) {
    const parsed = parseSettingValue(k, value);
    try {
      config.updateSettings({ [k]: parsed } as Partial<Settings>);
    } catch (err) {
      if (err instanceof RangeError || err instanceof TypeError) throw new UsageError(err.message);
      throw err;
    }
  }
  const current = config.settings[k];
  out.line({ type: 'setting', key: k, value: current ?? null });
  out.print(row(k, current));
  return ExitCode.Ok;
}

/** `key  value  (default)`, `key  value  (default: …)`, or `key  (unset: …)`. */
function row(key: SettingKey, value: SettingValue, keyWidth = 0, valueWidth = 0): string {
  const fallback: SettingValue = Object.hasOwn(DEFAULT_SETTINGS, key)
    ? DEFAULT_SETTINGS[key]
    : undefined;
  const shown = formatSettingValue(key, value);
  if (value === undefined) return `${key.padEnd(keyWidth)}  ${shown}`;
  const note =
    JSON.stringify(value) === JSON.stringify(fallback)
      ? '(default)'
      : `(default: ${fallback === undefined ? 'unset' : formatSettingValue(key, fallback)})`;
  return `${key.padEnd(keyWidth)}  ${shown.padEnd(valueWidth)}  ${note}`;
}

/** `1 MiB`, `1536 KiB`, `1000 B`: the largest unit that divides exactly. */
function exactSize(n: number): string {
  for (const [unit, scale] of [
    ['GiB', UNITS.g],
    ['MiB', UNITS.m],
    ['KiB', UNITS.k],
  ] as const) {
    if (n >= scale && n % scale === 0) return `${n / scale} ${unit}`;
  }
  return `${n} B`;
}
