/** `ferry receive <code>`: connect, show the offer, ask, receive, verify. */

import { resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { parseCode, roomIdFromNameplate } from '../engine/crypto/code-phrase.js';
import { shortFingerprint } from '../engine/crypto/identity.js';
import { type Decision, type OfferInfo, startReceive } from '../engine/transfer/receiver.js';
import { CheckpointFileStore } from '../store/checkpoint-file-store.js';
import { loadOrCreateIdentity } from '../store/identity-file.js';
import {
  type GlobalOptions,
  parseHostPort,
  requirePath,
  resolveConfigDir,
  resolveRelays,
  UsageError,
} from './common.js';
import { displayName, ExitCode, formatBytes, type Reporter } from './output.js';
import { dialPeer } from './paths.js';

/** Options of `ferry receive`. */
export interface ReceiveCommandOptions extends GlobalOptions {
  dir?: string;
  yes?: boolean;
  relay?: string[];
  relayPassword?: string;
  direct?: string;
}

/** Run `ferry receive`; resolves with the exit code. */
export async function receiveCommand(
  code: string,
  opts: ReceiveCommandOptions,
  out: Reporter,
  signal: AbortSignal,
): Promise<number> {
  const parsed = parseCode(code);
  const configDir = resolveConfigDir(opts.configDir);
  const relays = resolveRelays(opts.relay);
  const direct = opts.direct ? parseHostPort(opts.direct, '--direct') : undefined;
  requirePath(relays, direct);
  const targetDir = resolve(opts.dir ?? '.');
  if (!opts.yes && !process.stdin.isTTY) {
    throw new UsageError('no terminal to ask whether to accept: pass --yes to accept the offer');
  }
  const identity = await loadOrCreateIdentity(configDir);
  const room = roomIdFromNameplate(parsed.nameplate);
  const conn = await dialPeer({
    identity,
    room,
    relays,
    ...(direct ? { direct } : {}),
    ...(opts.relayPassword ? { relayPassword: opts.relayPassword } : {}),
    signal,
    onNote: (t) => out.say(t),
  });
  out.connected(conn.link.info);

  const t = startReceive({
    stream: conn.stream,
    identity,
    targetDir,
    store: new CheckpointFileStore(configDir),
    password: parsed.password,
    context: room,
    decide: (offer) => decide(offer, opts, out, signal),
    ...checkpointInterval(),
  });
  t.on((e) => {
    if (e.type !== 'failed' && e.type !== 'cancelled' && e.type !== 'completed') out.event(e);
  });
  const onAbort = () => t.cancel('receiver interrupted');
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const summary = await t.done;
    out.event({ type: 'completed', summary });
    out.say(
      `done: ${summary.files.length} file(s) verified in ${targetDir}, ${formatBytes(summary.bytesTransferred)} received` +
        (summary.bytesSkipped > 0
          ? `, ${formatBytes(summary.bytesSkipped)} resumed from an earlier attempt`
          : ''),
    );
    return ExitCode.Ok;
  } catch (err) {
    await t.settled;
    if (signal.aborted) {
      out.say('interrupted; run the same command again to resume');
      return ExitCode.Interrupted;
    }
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
    await conn.link.close().catch(() => undefined);
  }
}

/** FERRY_CHECKPOINT_MS: how often progress checkpoints are written (default 1000 ms). */
function checkpointInterval(): { checkpointIntervalMs?: number } {
  const ms = Number(process.env['FERRY_CHECKPOINT_MS']);
  return Number.isFinite(ms) && ms >= 50 ? { checkpointIntervalMs: ms } : {};
}

async function decide(
  offer: OfferInfo,
  opts: ReceiveCommandOptions,
  out: Reporter,
  signal: AbortSignal,
): Promise<Decision> {
  out.line({
    type: 'offer',
    files: offer.files.map((f) => ({ path: f.path, size: f.size })),
    total: offer.total,
    peer_fingerprint: offer.peer.fingerprint,
    sas: offer.peer.sas,
    resuming: offer.resuming,
  });
  out.say(
    `Offer from ${shortFingerprint(offer.peer.publicKey)} (verification words: ${offer.peer.sas})`,
  );
  const shown = offer.files.slice(0, 20);
  for (const f of shown) out.say(`  ${displayName(f.path)}  ${formatBytes(f.size)}`);
  if (offer.files.length > shown.length)
    out.say(`  … and ${offer.files.length - shown.length} more`);
  out.say(
    `  ${offer.files.length} file(s), ${formatBytes(offer.total)}${offer.resuming ? ' (resuming)' : ''}`,
  );
  if (opts.yes) return { accept: true };
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question('Accept? [y/N] ', { signal });
    return /^y(es)?$/i.test(answer.trim())
      ? { accept: true }
      : { accept: false, reason: 'the receiver declined' };
  } catch {
    return { accept: false, reason: 'the receiver declined' };
  } finally {
    rl.close();
  }
}
