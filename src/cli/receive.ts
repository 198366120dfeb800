/** `ferry receive <code>`: connect, show the offer, ask, receive, verify. */

import { resolve } from 'node:path';
import { nameplateHash } from '../discovery/advert.js';
import { parseCode, roomIdFromNameplate } from '../engine/crypto/code-phrase.js';
import { shortFingerprint } from '../engine/crypto/identity.js';
import { sessionCodeHash } from '../engine/crypto/resume.js';
import { FerryError, toFerryError } from '../engine/errors.js';
import { type Decision, type OfferInfo, startReceive } from '../engine/transfer/receiver.js';
import { CheckpointFileStore } from '../store/checkpoint-file-store.js';
import { loadOrCreateIdentity } from '../store/identity-file.js';
import {
  type GlobalOptions,
  requireFolder,
  requirePath,
  resolveConfigDir,
  throttleFor,
  UsageError,
} from './common.js';
import { rememberPeer, startLan } from './lan.js';
import { listenCommand } from './listen.js';
import { displayName, ExitCode, formatBytes, LISTED_FILES, type Reporter } from './output.js';
import { dialAny, type PathOptions } from './paths.js';
import { askYesNo } from './prompt.js';
import { onProven } from './send.js';
import { openSessions, resumeOf, sessionForCode, trackSession } from './sessions.js';
import { openConfig, peerPaths } from './setup.js';

/** Options of `ferry receive`. */
export interface ReceiveCommandOptions extends GlobalOptions {
  dir?: string;
  yes?: boolean;
  relay?: string[];
  relayPassword?: string;
  direct?: string;
  /** Wait for senders on the LAN instead of using a code. */
  listen?: boolean;
  /** `--listen`: port for QUIC and TCP (default: any free one). */
  port?: string;
}

/** Run `ferry receive`; resolves with the exit code. */
export async function receiveCommand(
  code: string | undefined,
  opts: ReceiveCommandOptions,
  out: Reporter,
  signal: AbortSignal,
): Promise<number> {
  if (opts.listen) {
    if (code !== undefined) throw new UsageError('give either a code or --listen, not both');
    return listenCommand(opts, out, signal);
  }
  if (code === undefined) {
    throw new UsageError(
      "missing the code: 'ferry receive <code>' (the sender shows it), or 'ferry receive --listen' to wait for senders on this network",
    );
  }
  const parsed = parseCode(code);
  const codeHash = sessionCodeHash(parsed.nameplate, parsed.password);
  const byCode = {
    room: roomIdFromNameplate(parsed.nameplate),
    password: parsed.password,
    lanHint: nameplateHash(parsed.nameplate),
  };
  // The same code again after this transfer started once: both sides now
  // meet under its resume rendezvous (the sender moved there once it saw
  // the transfer start). A sender killed before it saw that, and run again,
  // waits under the code instead: try that too.
  const earlier = sessionForCode(openSessions(opts, out), 'receive', codeHash);
  if (earlier) {
    out.say(`resuming session ${earlier.id.slice(0, 8)}`);
    return receiveByRendezvous(
      {
        ...resumeOf(earlier),
        resumeTransferId: earlier.transferId ?? earlier.id,
        recordId: earlier.id,
        codeHash,
        orCode: byCode,
      },
      {
        ...opts,
        ...(opts.dir === undefined && earlier.targetDir ? { dir: earlier.targetDir } : {}),
      },
      out,
      signal,
    );
  }
  return receiveByRendezvous({ ...byCode, codeHash }, opts, out, signal);
}

/** How a receiver meets its sender (a code, or a recorded session's resume). */
export interface ReceiveRendezvous {
  readonly room: Uint8Array;
  readonly password: Uint8Array;
  readonly lanHint: string;
  /** Resuming: the sender's key from the first session. */
  readonly expectedPeer?: Uint8Array;
  /** Resuming: the transfer this session accepted before (accepted again without asking). */
  readonly resumeTransferId?: string;
  /** Code sessions: recorded so the same code typed again finds the session. */
  readonly codeHash?: string;
  /** Resuming: the session record to keep (see SessionBase.recordId). */
  readonly recordId?: string;
  /**
   * Resuming a code session: the code's own rendezvous, tried at the same
   * time over relays and the LAN, for a sender that restarted before it
   * recorded the session (it knows only the code).
   */
  readonly orCode?: {
    readonly room: Uint8Array;
    readonly password: Uint8Array;
    readonly lanHint: string;
  };
}

/** Find the sender (LAN, direct, relays), show the offer, receive, verify. */
export async function receiveByRendezvous(
  rv: ReceiveRendezvous,
  opts: ReceiveCommandOptions,
  out: Reporter,
  signal: AbortSignal,
): Promise<number> {
  const configDir = resolveConfigDir(opts.configDir);
  const config = openConfig(opts, out);
  const { relays, direct, lan: lanOpts } = peerPaths(opts, config);
  const targetDir = resolve(opts.dir ?? config.settings.downloadDir ?? '.');
  await requireFolder(targetDir, opts.dir === undefined ? 'the download folder' : '--dir');
  if (!opts.yes && !rv.resumeTransferId && !process.stdin.isTTY) {
    throw new UsageError('no terminal to ask whether to accept: pass --yes to accept the offer');
  }
  const identity = await loadOrCreateIdentity(configDir);
  const lan = await startLan(lanOpts, identity, config, out, false);
  if (!lan) requirePath(relays, direct);
  if (lan && relays.length === 0 && !direct) out.say('looking for the sender on this network…');
  const paths = (r: { room: Uint8Array; lanHint: string }) => ({
    identity,
    room: r.room,
    relays,
    ...(lan ? { lan: { discovery: lan, nameplateHash: r.lanHint } } : {}),
    ...(opts.relayPassword ? { relayPassword: opts.relayPassword } : {}),
    signal,
  });
  const candidates: { tag: ReceiveRendezvous; opts: PathOptions }[] = [
    {
      tag: rv,
      opts: { ...paths(rv), ...(direct ? { direct } : {}), onNote: (t: string) => out.say(t) },
    },
  ];
  if (rv.orCode && (lan || relays.length > 0)) {
    candidates.push({ tag: { ...rv, ...rv.orCode }, opts: paths(rv.orCode) });
  }
  const conn = await dialAny(candidates, signal).finally(() => lan?.close());
  // The code's rendezvous met a sender that started afresh: this handshake's
  // resume secret is the one it records, so ours must follow.
  const met = conn.tag;
  const renewSecret = met !== rv;
  const room = met.room;
  out.connected(conn.link.info);

  const sessions = openSessions(opts, out);
  const throttle = throttleFor(opts.limit, config.settings);
  const t = startReceive({
    stream: conn.stream,
    identity,
    targetDir,
    store: new CheckpointFileStore(configDir),
    password: met.password,
    context: room,
    deviceName: config.deviceName,
    memoryBudget: config.settings.windowMemory,
    ...(rv.expectedPeer ? { expectedPeer: rv.expectedPeer } : {}),
    ...(throttle ? { throttle } : {}),
    decide: (offer) => {
      if (rv.resumeTransferId && offer.transferId === rv.resumeTransferId) {
        // The same transfer this session accepted before.
        describeOffer(offer, out);
        return { accept: true };
      }
      return decide(offer, opts, out, signal);
    },
    ...checkpointInterval(),
  });
  let started = false;
  t.on((e) => {
    if (e.type === 'started') started = true;
    if (e.type !== 'failed' && e.type !== 'cancelled' && e.type !== 'completed') out.event(e);
  });
  trackSession(
    sessions,
    t,
    {
      direction: 'receive',
      via: 'code',
      paths: [targetDir],
      targetDir,
      ...(rv.codeHash ? { codeHash: rv.codeHash } : {}),
      ...(rv.recordId ? { recordId: rv.recordId } : {}),
      ...(renewSecret ? { renewSecret } : {}),
    },
    signal,
  );
  const onAbort = () => t.cancel('receiver interrupted');
  signal.addEventListener('abort', onAbort, { once: true });
  // The sender proved the code: remember it, so next time needs none.
  onProven(t, (p) => rememberPeer(config, p.publicKey, p.name, 'code', out));
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
    throw withResumeHint(toFerryError(err), started);
  } finally {
    sessions.flush();
    signal.removeEventListener('abort', onAbort);
    await conn.link.close().catch(() => undefined);
  }
}

/**
 * A failure a re-run of the same command can resume from (the sender waits
 * meanwhile) says so: a full disk (make room first), or a lost connection
 * once something arrived.
 */
export function withResumeHint(err: FerryError, started: boolean): FerryError {
  const resume = 'run the same command again to resume (what arrived is kept)';
  if (err.code === 'NO_SPACE') {
    const again = started ? resume : 'run the same command again';
    return new FerryError(
      err.code,
      `${err.message}; make room or pick another --dir, then ${again}`,
      {
        cause: err,
      },
    );
  }
  if (started && (err.code === 'CONNECTION' || err.code === 'TIMEOUT')) {
    return new FerryError(err.code, `${err.message}; ${resume}`, { cause: err });
  }
  return err;
}

/** FERRY_CHECKPOINT_MS: how often progress checkpoints are written (default 1000 ms). */
export function checkpointInterval(): { checkpointIntervalMs?: number } {
  const ms = Number(process.env['FERRY_CHECKPOINT_MS']);
  return Number.isFinite(ms) && ms >= 50 ? { checkpointIntervalMs: ms } : {};
}

async function decide(
  offer: OfferInfo,
  opts: ReceiveCommandOptions,
  out: Reporter,
  signal: AbortSignal,
): Promise<Decision> {
  describeOffer(offer, out);
  if (opts.yes) return { accept: true };
  return (await askYesNo('Accept?', signal))
    ? { accept: true }
    : { accept: false, reason: 'the receiver declined' };
}

/** Show an offer: who (name, fingerprint, words) and what (files, sizes). */
export function describeOffer(
  offer: OfferInfo,
  out: Reporter,
  extra: Record<string, unknown> = {},
): void {
  out.line({
    type: 'offer',
    ...extra,
    files: offer.files.map((f) => ({ path: f.path, size: f.size })),
    dirs: offer.dirs,
    total: offer.total,
    peer_fingerprint: offer.peer.fingerprint,
    peer_name: offer.peerName ?? null,
    sas: offer.peer.sas,
    resuming: offer.resuming,
  });
  const who = offer.peerName
    ? `${displayName(offer.peerName)} (${shortFingerprint(offer.peer.publicKey)})`
    : shortFingerprint(offer.peer.publicKey);
  out.say(`Offer from ${who} (verification words: ${offer.peer.sas})`);
  const shown = offer.files.slice(0, LISTED_FILES);
  for (const f of shown) out.say(`  ${displayName(f.path)}  ${formatBytes(f.size)}`);
  if (offer.files.length > shown.length)
    out.say(`  … and ${offer.files.length - shown.length} more`);
  const folders = offer.dirs.length > 0 ? `, ${offer.dirs.length} empty folder(s)` : '';
  out.say(
    `  ${offer.files.length} file(s), ${formatBytes(offer.total)}${folders}${offer.resuming ? ' (resuming)' : ''}`,
  );
}
