/**
 * `ferry send <paths...>`: print the code, wait for the receiver (on the
 * LAN by mDNS, directly, or through relays), send, resume if it comes back.
 * With `--to` it goes straight to a LAN device instead (send-to.ts).
 */

import { resolve } from 'node:path';
import { nameplateHash } from '../discovery/advert.js';
import { generateCode, parseCode, roomIdFromNameplate } from '../engine/crypto/code-phrase.js';
import { shortFingerprint } from '../engine/crypto/identity.js';
import { resumeRendezvous, sessionCodeHash } from '../engine/crypto/resume.js';
import { FerryError, toFerryError } from '../engine/errors.js';
import { type WalkResult, walkSources } from '../engine/transfer/manifest.js';
import { type SendTransfer, startSend } from '../engine/transfer/sender.js';
import type { Transfer } from '../engine/transfer/transfer.js';
import { loadOrCreateIdentity } from '../store/identity-file.js';
import {
  type GlobalOptions,
  isTransient,
  requirePath,
  resolveConfigDir,
  throttleFor,
  transferIdFor,
} from './common.js';
import { listenHost, rememberPeer, startLan } from './lan.js';
import { describeSources, ExitCode, formatBytes, type Reporter } from './output.js';
import { awaitPeer, DirectListener } from './paths.js';
import { sendToPeer } from './send-to.js';
import { openSessions, resumeOf, sessionForCode, trackSession } from './sessions.js';
import { openConfig, peerPaths } from './setup.js';

/** Options of `ferry send`. */
export interface SendCommandOptions extends GlobalOptions {
  code?: string;
  relay?: string[];
  relayPassword?: string;
  direct?: string;
  /** A LAN device: name, nickname or fingerprint prefix. */
  to?: string;
  /** Seconds to look for `--to` on the LAN. */
  wait?: string;
}

/** Run `ferry send`; resolves with the exit code. */
export async function sendCommand(
  paths: string[],
  opts: SendCommandOptions,
  out: Reporter,
  signal: AbortSignal,
): Promise<number> {
  if (opts.to !== undefined) return sendToPeer(paths, opts.to, opts, out, signal);
  const code = opts.code ?? generateCode();
  const parsed = parseCode(code);
  const sources = await walkSources(paths);
  const transferId = transferIdFor(
    code,
    sources.files.map((f) => f.path),
  );
  const codeHash = sessionCodeHash(parsed.nameplate, parsed.password);
  // The same code and files again after a restart: this session already
  // started once, so both sides now meet under its resume rendezvous.
  const earlier = opts.code ? sessionForCode(openSessions(opts, out), 'send', codeHash) : undefined;
  if (earlier && earlier.id === Buffer.from(transferId).toString('hex')) {
    return sendByRendezvous(
      paths,
      { ...resumeOf(earlier), transferId, code, codeHash, resuming: earlier.id.slice(0, 8) },
      opts,
      out,
      signal,
      sources,
    );
  }
  return sendByRendezvous(
    paths,
    {
      room: roomIdFromNameplate(parsed.nameplate),
      password: parsed.password,
      lanHint: nameplateHash(parsed.nameplate),
      transferId,
      code,
      codeHash,
    },
    opts,
    out,
    signal,
    sources,
  );
}

/** How the two sides of a code session (or of its resume) meet and authenticate. */
export interface Rendezvous {
  /** Relay room id. */
  readonly room: Uint8Array;
  /** CPace password: the code words, or the resume secret's derivation. */
  readonly password: Uint8Array;
  /** Announced by mDNS while waiting (nameplate hash, or resume hint). */
  readonly lanHint: string;
  readonly transferId: Uint8Array;
  /** The code to show (absent when resuming). */
  readonly code?: string;
  /** The peer's key, pinned from the first session (resume). */
  readonly expectedPeer?: Uint8Array;
  /** Resuming a recorded session: its id, for messages. */
  readonly resuming?: string;
  /** Code sessions: recorded so the same code typed again finds the session. */
  readonly codeHash?: string;
}

/**
 * Wait for the receiver on the LAN, on a direct address and in relay rooms,
 * send, and wait again (to resume) if it goes away.
 */
export async function sendByRendezvous(
  paths: string[],
  first: Rendezvous,
  opts: SendCommandOptions,
  out: Reporter,
  signal: AbortSignal,
  /** The walk of `paths`, when the caller already made it. */
  sources?: WalkResult,
): Promise<number> {
  const configDir = resolveConfigDir(opts.configDir);
  const config = openConfig(opts, out);
  const { relays, direct, lan: lanOpts } = peerPaths(opts, config);
  const { files, dirs, skipped } = sources ?? (await walkSources(paths));
  const identity = await loadOrCreateIdentity(configDir);
  const total = files.reduce((s, f) => s + f.size, 0);
  const sessions = openSessions(opts, out);
  // One bucket for the whole command: a re-connected attempt shares the limit.
  const throttle = throttleFor(opts.limit, config.settings);

  // Bind first: a port in use should fail before a code is handed out.
  const lan = await startLan(lanOpts, identity, config, out, false);
  if (!lan) requirePath(relays, direct);
  let listener: DirectListener | undefined;
  try {
    listener =
      direct || lan
        ? await DirectListener.start(
            identity,
            direct?.host ?? listenHost(lanOpts),
            direct?.port ?? 0,
          )
        : undefined;
  } catch (err) {
    await lan?.close();
    throw err;
  }
  if (lan && listener) {
    // Receivers on this network find us by the hint and connect directly.
    await lan.announce({
      quicPort: listener.quicPort,
      tcpPort: listener.tcpPort,
      nameplateHash: first.lanHint,
    });
  }
  if (first.code) out.line({ type: 'code', code: first.code });
  out.say(
    `${first.resuming ? `Resuming session ${first.resuming}: sending` : 'Sending'} ` +
      describeSources(files, dirs),
  );
  if (skipped.length > 0) {
    out.line({ type: 'skipped', paths: skipped });
    out.say(
      `not sending ${skipped.length} item(s) that are not regular files (symlinks inside folders, sockets, devices): ` +
        `${skipped.slice(0, 3).join(', ')}${skipped.length > 3 ? ', …' : ''}`,
    );
  }
  if (first.code) {
    out.say(`Code: ${first.code}`);
    out.say(`On the other machine run: ferry receive ${first.code}`);
  } else {
    out.say('waiting for the receiver to resume too (ferry resume, or its app)');
  }
  if (direct) {
    out.say(`listening for a direct connection on ${direct.host}:${direct.port} (QUIC and TCP)`);
  }
  if (lan) out.say('receivers on this network can connect directly (found by mDNS)');

  let rv = first;
  try {
    for (;;) {
      const conn = await awaitPeer({
        identity,
        room: rv.room,
        relays,
        ...(listener ? { listener } : {}),
        ...(opts.relayPassword ? { relayPassword: opts.relayPassword } : {}),
        signal,
        onNote: (t) => out.say(t),
      });
      out.connected(conn.link.info);
      const attempt = startSend({
        stream: conn.stream,
        identity,
        paths,
        password: rv.password,
        context: rv.room,
        transferId: rv.transferId,
        deviceName: config.deviceName,
        chunkSize: config.settings.chunkSize,
        memoryBudget: config.settings.windowMemory,
        ...(rv.expectedPeer ? { expectedPeer: rv.expectedPeer } : {}),
        ...(throttle ? { throttle } : {}),
      });
      trackSession(
        sessions,
        attempt,
        {
          direction: 'send',
          via: 'code',
          paths: paths.map((p) => resolve(p)),
          ...(rv.codeHash ? { codeHash: rv.codeHash } : {}),
        },
        signal,
      );
      let started = false;
      let peerKey: Uint8Array | undefined;
      attempt.on((e) => {
        if (e.type === 'started') started = true;
        if (e.type === 'handshake') peerKey = e.peer.publicKey;
      });
      // The receiver proved the code: remember it, so next time needs none.
      onProven(attempt, (p) => rememberPeer(config, p.publicKey, p.name, 'code', out));
      const outcome = await followSend(attempt, total, out, signal).finally(() =>
        conn.link.close().catch(() => undefined),
      );
      if (outcome !== 'again') return outcome;
      // Once a transfer has started, both sides have recorded the session:
      // wait for the receiver under its resume rendezvous from now on (a
      // receiver that runs the same code again, or `ferry resume`, goes there).
      const secret = attempt.resumeSecret;
      if (started && secret && peerKey && !rv.resuming) {
        rv = {
          ...resumeRendezvous(secret),
          expectedPeer: peerKey,
          transferId: rv.transferId,
          ...(rv.codeHash ? { codeHash: rv.codeHash } : {}),
          resuming: Buffer.from(rv.transferId).toString('hex').slice(0, 8),
        };
        if (lan && listener) {
          await lan.announce({
            quicPort: listener.quicPort,
            tcpPort: listener.tcpPort,
            nameplateHash: rv.lanHint,
          });
        }
      }
    }
  } finally {
    sessions.flush();
    await listener?.close();
    await lan?.close();
  }
}

/**
 * Report one attempt to the end: an exit code, or 'again' when the receiver
 * went away in a way worth waiting out (it may come back and resume).
 */
export async function followSend(
  t: SendTransfer,
  total: number,
  out: Reporter,
  signal: AbortSignal,
  /** false: a transient failure is an error (with a hint to re-run), not a wait. */
  wait = true,
): Promise<number | 'again'> {
  let started = false;
  let holding = false;
  t.on((e) => {
    if (e.type === 'handshake') {
      out.say(`receiver ${shortFingerprint(e.peer.publicKey)} — verification words: ${e.peer.sas}`);
    }
    // A local pause before the offer is accepted is the first-contact hold
    // (send-to.ts), not the user's: it and its resume are not news.
    if (e.type === 'started') started = true;
    if (e.type === 'paused' && e.by === 'local' && !started) {
      holding = true;
      return;
    }
    if (e.type === 'resumed' && e.by === 'local' && holding) {
      holding = false;
      return;
    }
    if (e.type !== 'failed' && e.type !== 'cancelled' && e.type !== 'completed') out.event(e);
  });
  const onAbort = () => t.cancel('sender interrupted');
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const summary = await t.done;
    out.bar(summary.bytesTransferred + summary.bytesSkipped, total, 0, 0, true);
    out.event({ type: 'completed', summary });
    out.say(
      `done: the receiver verified ${summary.files.length} file(s), ${formatBytes(summary.bytesTransferred)} sent` +
        (summary.bytesSkipped > 0 ? `, ${formatBytes(summary.bytesSkipped)} it already had` : ''),
    );
    return ExitCode.Ok;
  } catch (err) {
    await t.settled;
    if (signal.aborted) return ExitCode.Interrupted;
    const fe = toFerryError(err);
    if (!isTransient(fe)) throw fe;
    if (!wait) {
      throw new FerryError(
        fe.code,
        `the receiver went away (${fe.message}); run the same command again to resume`,
        { cause: fe },
      );
    }
    out.say(`the receiver went away (${fe.message}); waiting for it to come back — Ctrl+C to stop`);
    out.line({ type: 'waiting', reason: fe.message });
    return 'again';
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/**
 * Call `then` once the transfer completes (the peer proved itself end to
 * end) with its key and the name it gave. Runs from the engine's
 * `completed` event, so before the caller reports completion.
 */
export function onProven(
  t: Transfer,
  then: (peer: { publicKey: Uint8Array; name: string | undefined }) => void,
): void {
  let key: Uint8Array | undefined;
  t.on((e) => {
    if (e.type === 'handshake') key = e.peer.publicKey;
    if (e.type === 'completed' && key) then({ publicKey: key, name: e.summary.peerName });
  });
}
