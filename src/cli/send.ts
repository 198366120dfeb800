/** `ferry send <paths...>`: print the code, wait for the receiver, send, resume if it comes back. */
import { generateCode, parseCode, roomIdFromNameplate } from '../engine/crypto/code-phrase.js';
import { shortFingerprint } from '../engine/crypto/identity.js';
import { toFerryError } from '../engine/errors.js';
import { walkSources } from '../engine/transfer/manifest.js';
import { type SendTransfer, startSend } from '../engine/transfer/sender.js';
import { loadOrCreateIdentity } from '../store/identity-file.js';
import {
  type GlobalOptions,
  isTransient,
  parseHostPort,
  requirePath,
  resolveConfigDir,
  resolveRelays,
  transferIdFor,
} from './common.js';
import { ExitCode, formatBytes, type Reporter } from './output.js';
import { awaitPeer, DirectListener } from './paths.js';

/** Options of `ferry send`. */
export interface SendCommandOptions extends GlobalOptions {
  code?: string;
  relay?: string[];
  relayPassword?: string;
  direct?: string;
}

/** Run `ferry send`; resolves with the exit code. */
export async function sendCommand(
  paths: string[],
  opts: SendCommandOptions,
  out: Reporter,
  signal: AbortSignal,
): Promise<number> {
  const configDir = resolveConfigDir(opts.configDir);
  const relays = resolveRelays(opts.relay);
  const direct = opts.direct ? parseHostPort(opts.direct, '--direct') : undefined;
  requirePath(relays, direct);
  const code = opts.code ?? generateCode();
  const parsed = parseCode(code);
  const { files, skipped } = await walkSources(paths);
  const identity = await loadOrCreateIdentity(configDir);
  const room = roomIdFromNameplate(parsed.nameplate);
  const transferId = transferIdFor(
    code,
    files.map((f) => f.path),
  );
  const total = files.reduce((s, f) => s + f.size, 0);

  // Bind first: a port in use should fail before a code is handed out.
  const listener = direct
    ? await DirectListener.start(identity, direct.host, direct.port)
    : undefined;
  out.line({ type: 'code', code });
  out.say(
    `Sending ${files.length === 1 ? files[0]!.path : `${files.length} files`} (${formatBytes(total)})`,
  );
  if (skipped.length > 0) {
    out.line({ type: 'skipped', paths: skipped });
    out.say(
      `not sending ${skipped.length} item(s) that are not regular files (symlinks inside folders, sockets, devices): ` +
        `${skipped.slice(0, 3).join(', ')}${skipped.length > 3 ? ', …' : ''}`,
    );
  }
  out.say(`Code: ${code}`);
  out.say(`On the other machine run: ferry receive ${code}`);
  if (listener) {
    out.say(`listening for a direct connection on ${direct!.host}:${direct!.port} (QUIC and TCP)`);
  }

  try {
    for (;;) {
      const conn = await awaitPeer({
        identity,
        room,
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
        password: parsed.password,
        context: room,
        transferId,
      });
      const outcome = await followSend(attempt, total, out, signal).finally(() =>
        conn.link.close().catch(() => undefined),
      );
      if (outcome !== 'again') return outcome;
    }
  } finally {
    await listener?.close();
  }
}

/**
 * Report one attempt to the end: an exit code, or 'again' when the receiver
 * went away in a way worth waiting out (it may come back and resume).
 */
async function followSend(
  t: SendTransfer,
  total: number,
  out: Reporter,
  signal: AbortSignal,
): Promise<number | 'again'> {
  t.on((e) => {
    if (e.type === 'handshake') {
      out.say(`receiver ${shortFingerprint(e.peer.publicKey)} — verification words: ${e.peer.sas}`);
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
    out.say(`the receiver went away (${fe.message}); waiting for it to come back — Ctrl+C to stop`);
    out.line({ type: 'waiting', reason: fe.message });
    return 'again';
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
