/**
 * What the command line needs before any command runs: usage errors, help
 * texts and defaults. Kept free of the engine, transports, zod and conf, so
 * `ferry --help` and option parsing load none of them (each command module
 * is imported only when its command runs: src/cli.ts).
 */
import type { SettingKey } from '../store/config.js';

/** Raised for bad command-line input (exit code 2). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Default relay address: loopback only, so nothing is exposed by accident. */
export const DEFAULT_RELAY_LISTEN = '127.0.0.1:9009';

/** How each setting is typed on the command line, for `--help`, in the store's key order. */
export const VALUE_FORMS: Readonly<Record<SettingKey, string>> = {
  deviceName: 'name announced to peers',
  downloadDir: 'directory for received files',
  relays: 'HOST:PORT[#KEY][,…] (tcp:// or quic:// allowed)',
  maxConcurrent: 'transfers at once, 1..32',
  chunkSize: 'power of two, 64k..16M',
  windowMemory: 'bytes in flight per transfer, 1M..1G',
  rateLimit: 'all transfers, e.g. 10M or off',
  perTransferRateLimit: 'each transfer, e.g. 500k or off',
  mdns: 'on|off',
  mdnsInterface: 'IPv4 address or interface name',
  autoAcceptKnown: 'on|off',
  autoResume: 'always|ask|never',
};

/** Help text listing the keys and how their values are written. */
export function settingsHelp(): string {
  const keys = Object.keys(VALUE_FORMS) as SettingKey[];
  const width = Math.max(...keys.map((k) => k.length));
  const rows = keys.map((k) => `  ${k.padEnd(width)}  ${VALUE_FORMS[k]}`);
  return `\nKeys:\n${rows.join('\n')}\n\n'unset' clears a setting or puts it back to its default.`;
}
