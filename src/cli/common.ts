/** Options and helpers shared by the headless commands. */
import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { FerryError } from '../engine/errors.js';
import { combine, type Throttle, TokenBucket } from '../engine/queue/bandwidth.js';
import { targetFolderProblem } from '../engine/transfer/safe-path.js';
import { UsageError } from './help.js';
import { parseRelayAddress, type RelayEndpoint } from './relay-client.js';

/** Global options every command accepts. */
export interface GlobalOptions {
  configDir?: string;
  mdns: boolean;
  mdnsInterface?: string;
  json?: boolean;
  /** Bandwidth limit for this transfer (`--limit`). */
  limit?: string;
}

/**
 * Where ferry keeps its identity, checkpoints and (later) settings:
 * `--config-dir`, else FERRY_CONFIG_DIR, else conf's standard location
 * (`$XDG_CONFIG_HOME/ferry-nodejs`, `~/Library/Preferences/ferry-nodejs`,
 * `%APPDATA%\ferry-nodejs\Config`).
 */
export function resolveConfigDir(opt: string | undefined, env = process.env): string {
  if (opt) return opt;
  const fromEnv = env['FERRY_CONFIG_DIR'];
  if (fromEnv) return fromEnv;
  if (process.platform === 'darwin')
    return join(homedir(), 'Library', 'Preferences', 'ferry-nodejs');
  if (process.platform === 'win32') {
    return join(env['APPDATA'] ?? join(homedir(), 'AppData', 'Roaming'), 'ferry-nodejs', 'Config');
  }
  return join(env['XDG_CONFIG_HOME'] ?? join(homedir(), '.config'), 'ferry-nodejs');
}

/**
 * Relays from `--relay` (repeatable), else FERRY_RELAY (comma-separated; set
 * but empty means none), else the `relays` setting.
 */
export function resolveRelays(
  opt: string[] | undefined,
  env = process.env,
  fromSettings: readonly string[] = [],
): RelayEndpoint[] {
  const fromEnv = env['FERRY_RELAY'];
  const list =
    opt && opt.length > 0
      ? opt
      : fromEnv !== undefined
        ? fromEnv.split(',').filter(Boolean)
        : [...fromSettings];
  return list.map((s) => parseRelayAddress(s));
}

/** Parse `HOST:PORT` for direct addresses. */
export function parseHostPort(input: string, what: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:/\s]+):(\d{1,5})$/.exec(input.trim());
  const port = m ? Number(m[2]) : -1;
  if (!m || port < 0 || port > 65535)
    throw new RangeError(`${what} '${input}': expected HOST:PORT`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

/**
 * The transfer id of a code-based send: the same code and the same file
 * names give the same id, so a restarted sender is recognised by the
 * receiver's checkpoint. (Contents are not part of it: a changed file is
 * found and repaired chunk by chunk.)
 */
export function transferIdFor(code: string, relativePaths: readonly string[]): Uint8Array {
  const h = createHash('sha256').update('ferry/1 transfer-id\0').update(code).update('\0');
  for (const p of relativePaths) h.update(p).update('\0');
  return Uint8Array.from(h.digest().subarray(0, 16));
}

/** Refuse to start when there is no path at all to the peer. */
export function requirePath(relays: readonly unknown[], direct: unknown): void {
  if (relays.length === 0 && direct === undefined) {
    throw new UsageError(
      'no way to reach the peer: LAN discovery is off, no relay is configured and no direct address was given ' +
        '(pass --relay HOST:PORT or set FERRY_RELAY, use --direct HOST:PORT, or drop --no-mdns)',
    );
  }
}

/** A usage error unless `dir` is an existing folder; `what` names where it came from. */
export async function requireFolder(dir: string, what: string): Promise<void> {
  const problem = await targetFolderProblem(dir);
  if (problem) throw new UsageError(`${what} ${problem}`);
}

export { UsageError };

/** Whether an error is worth waiting out (the peer may come back). */
export function isTransient(err: unknown): boolean {
  return err instanceof FerryError && err.retryable;
}

/**
 * A bandwidth limit as typed: bytes per second with an optional k/M/G
 * (powers of 1024) and an optional "B", "iB" or "/s": `500k`, `2.5M`,
 * `10MiB/s`. `0`, `off` or `none` mean no limit (null).
 */
export function parseRate(input: string, what = '--limit'): number | null {
  const s = input.trim();
  if (/^(0|off|none)$/i.test(s)) return null;
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?(?:\/s)?$/i.exec(s);
  if (!m) throw new UsageError(`${what} '${input}': expected a rate like 500k, 2.5M or 10MiB/s`);
  const scale = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[
    m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'
  ];
  const bps = Math.round(Number(m[1]) * scale);
  if (bps < 1024) throw new UsageError(`${what} '${input}': at least 1k per second`);
  return bps;
}

/**
 * The bandwidth limit of a command: `--limit` if given, else the settings'
 * per-transfer and global limits together; undefined when unlimited.
 */
export function throttleFor(
  limit: string | undefined,
  settings?: { rateLimit: number | null; perTransferRateLimit: number | null },
): Throttle | undefined {
  if (limit !== undefined) {
    const bps = parseRate(limit);
    return bps === null ? undefined : new TokenBucket({ rateBps: bps });
  }
  const rates = [settings?.perTransferRateLimit, settings?.rateLimit].filter(
    (r): r is number => typeof r === 'number',
  );
  if (rates.length === 0) return undefined;
  return combine(...rates.map((rateBps) => new TokenBucket({ rateBps })));
}

/** Wait `ms`; rejects with the signal's reason if it aborts first. */
export function delay(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}
