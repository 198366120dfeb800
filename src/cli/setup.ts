/** What every headless command opens first: the config, and the ways to reach a peer. */
import { FerryConfig } from '../store/config.js';
import {
  type GlobalOptions,
  parseHostPort,
  requirePath,
  resolveConfigDir,
  resolveRelays,
} from './common.js';
import { type LanSettings, lanSettings } from './lan.js';
import type { Reporter } from './output.js';
import type { RelayEndpoint } from './relay-client.js';

/** `config.json` of the command's config dir; its warnings go to the user. */
export function openConfig(opts: GlobalOptions, out: Reporter): FerryConfig {
  return FerryConfig.open(resolveConfigDir(opts.configDir), {
    onWarning: (m) => out.say(`warning: ${m}`),
  });
}

/** Relays, a direct address and LAN discovery, as flags, environment and settings say. */
export interface PeerPaths {
  readonly relays: RelayEndpoint[];
  readonly direct: { host: string; port: number } | undefined;
  readonly lan: LanSettings;
}

/**
 * The paths a code session may use; a usage error up front when there is
 * none at all (callers check again once they know whether discovery started).
 */
export function peerPaths(
  opts: GlobalOptions & { relay?: string[]; direct?: string },
  config: FerryConfig,
): PeerPaths {
  const relays = resolveRelays(opts.relay, process.env, config.settings.relays);
  const direct = opts.direct ? parseHostPort(opts.direct, '--direct') : undefined;
  const lan = lanSettings(opts, config);
  requirePath(relays, direct ?? (lan.enabled ? 'lan' : undefined));
  return { relays, direct, lan };
}
