/**
 * `ferry send <paths...> --to <peer>`: straight to a device on the LAN,
 * found by mDNS, over QUIC (TCP+TLS fallback), no code and no relay.
 *
 * A known peer is held to its pinned key. A new one is held to the key it
 * announces, and its user and ours must compare the verification words
 * before any data leaves; once the transfer completes it is pinned.
 */

import { resolve } from 'node:path';
import { FerryError } from '../engine/errors.js';
import { walkSources } from '../engine/transfer/manifest.js';
import { startSend } from '../engine/transfer/sender.js';
import { lanTransferId } from '../engine/transfer/transfer-id.js';
import { loadOrCreateIdentity } from '../store/identity-file.js';
import { resolveConfigDir, throttleFor, UsageError } from './common.js';
import { dialDevice, lanSettings, rememberPeer, startLan, touchKnown } from './lan.js';
import { describeSources, displayName, ExitCode, type Reporter } from './output.js';
import { askYesNo, canAsk } from './prompt.js';
import { followSend, onProven, type SendCommandOptions } from './send.js';
import { openSessions, trackSession } from './sessions.js';
import { openConfig } from './setup.js';

/** Seconds to look for the peer before giving up (default). */
const DEFAULT_FIND_S = 5;

/** Run `ferry send --to`; resolves with the exit code. */
export async function sendToPeer(
  paths: string[],
  to: string,
  opts: SendCommandOptions,
  out: Reporter,
  signal: AbortSignal,
): Promise<number> {
  if (opts.code || opts.relay?.length || opts.direct) {
    throw new UsageError(
      '--to sends directly on the LAN: it does not combine with --code, --relay or --direct',
    );
  }
  const waitS = opts.wait === undefined ? DEFAULT_FIND_S : Number(opts.wait);
  if (!Number.isFinite(waitS) || waitS < 0 || waitS > 3600) {
    throw new UsageError(`--wait '${opts.wait}': expected seconds, 0..3600`);
  }
  const configDir = resolveConfigDir(opts.configDir);
  const config = openConfig(opts, out);
  const { files, dirs, skipped } = await walkSources(paths);
  const identity = await loadOrCreateIdentity(configDir);
  const lan = await startLan(lanSettings(opts, config), identity, config, out, true);
  try {
    out.say(`looking for '${displayName(to)}' on the local network…`);
    await lan!.waitFor((t) => (t.resolve(to).ok ? true : undefined), waitS * 1000, signal);
    const found = lan!.table.resolve(to);
    if (!found.ok) {
      throw new FerryError(
        'CONNECTION',
        `${found.message}${found.reason === 'none' ? " (see 'ferry peers'; the receiver runs 'ferry receive --listen')" : ''}`,
        { retryable: false },
      );
    }
    const peer = found.peer;
    const known = config.knownPeer(peer.fingerprint);
    const expectedPeer = known
      ? Uint8Array.from(Buffer.from(known.publicKey, 'hex'))
      : peer.publicKey;
    if (!known && !canAsk()) {
      throw new UsageError(
        `'${peer.name}' (${peer.shortId}) is not a known device and there is no terminal to compare ` +
          `verification words: run this in a terminal, or pin it first with 'ferry peers trust ${peer.shortId}'`,
      );
    }
    const total = files.reduce((s, f) => s + f.size, 0);
    out.line({
      type: 'peer',
      fingerprint: peer.fingerprint,
      name: peer.name,
      known: Boolean(known),
    });
    out.say(
      `Sending ${describeSources(files, dirs)} to ${displayName(known?.nickname ?? peer.name)} (${peer.shortId}${known ? ', known' : ', new device'})`,
    );
    if (skipped.length > 0) {
      out.line({ type: 'skipped', paths: skipped });
      out.say(`not sending ${skipped.length} item(s) that are not regular files`);
    }
    const throttle = throttleFor(opts.limit, config.settings);
    const link = await dialDevice(peer, identity, expectedPeer, signal);
    const sessions = openSessions(opts, out);
    out.connected(link.info);
    try {
      const stream = await link.openStream();
      const attempt = startSend({
        stream,
        identity,
        paths,
        expectedPeer,
        deviceName: config.deviceName,
        chunkSize: config.settings.chunkSize,
        memoryBudget: config.settings.windowMemory,
        ...(throttle ? { throttle } : {}),
        transferId: lanTransferId(
          identity.publicKey,
          expectedPeer,
          files.map((f) => f.path),
        ),
        ...(known
          ? {}
          : {
              confirmPeer: (p) =>
                askYesNo(
                  `First contact with this device: does it show the words '${p.sas}'? Send and remember it?`,
                  signal,
                ),
            }),
      });
      trackSession(
        sessions,
        attempt,
        { direction: 'send', via: 'lan', paths: paths.map((p) => resolve(p)) },
        signal,
      );
      onProven(attempt, (p) => {
        if (known) touchKnown(config, p.publicKey, p.name);
        else rememberPeer(config, p.publicKey, p.name ?? peer.name, 'sas', out);
      });
      const code = await followSend(attempt, total, out, signal, false);
      return code === 'again' ? ExitCode.Failed : code; // (wait=false never returns 'again')
    } finally {
      sessions.flush();
      await link.close().catch(() => undefined);
    }
  } finally {
    await lan?.close();
  }
}
