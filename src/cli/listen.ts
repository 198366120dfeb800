/**
 * `ferry receive --listen`: announce this device on the LAN and take
 * direct transfers (`ferry send --to`) until Ctrl+C.
 *
 * Each offer shows the sender's name, fingerprint, verification words and
 * files, then:
 * - a known peer (pinned key) is accepted when it is marked auto-accept or
 *   with `--yes`, else the user is asked;
 * - a new device needs the user to confirm the words (no terminal: refused);
 *   it is pinned once the transfer completes;
 * - a new key that uses the name of a known peer is refused, loudly.
 */
import { resolve } from 'node:path';
import { shortFingerprint } from '../engine/crypto/identity.js';
import { toFerryError } from '../engine/errors.js';
import type { Throttle } from '../engine/queue/bandwidth.js';
import {
  type Decision,
  type OfferInfo,
  type ReceiveTransfer,
  startReceive,
} from '../engine/transfer/receiver.js';
import type { ByteStream, Link } from '../engine/transport/link.js';
import { CheckpointFileStore } from '../store/checkpoint-file-store.js';
import type { FerryConfig } from '../store/config.js';
import { loadOrCreateIdentity } from '../store/identity-file.js';
import type { SessionRegistry } from '../store/session-store.js';
import { requireFolder, resolveConfigDir, throttleFor, UsageError } from './common.js';
import {
  knownNameClash,
  lanSettings,
  listenHost,
  rememberPeer,
  startLan,
  touchKnown,
} from './lan.js';
import { displayName, ExitCode, formatBytes, type Reporter } from './output.js';
import { DirectListener, MAX_INCOMING_LINKS, serveLink } from './paths.js';
import { askYesNo, canAsk } from './prompt.js';
import { checkpointInterval, describeOffer, type ReceiveCommandOptions } from './receive.js';
import { onProven } from './send.js';
import { openSessions, trackSession } from './sessions.js';
import { openConfig } from './setup.js';

/** Run `ferry receive --listen`; resolves with the exit code when interrupted. */
export async function listenCommand(
  opts: ReceiveCommandOptions,
  out: Reporter,
  signal: AbortSignal,
): Promise<number> {
  if (opts.relay?.length || opts.direct) {
    throw new UsageError('--listen takes direct connections on the LAN: drop --relay and --direct');
  }
  const port = opts.port === undefined ? 0 : Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`--port '${opts.port}': expected 0..65535`);
  }
  const configDir = resolveConfigDir(opts.configDir);
  const config = openConfig(opts, out);
  const targetDir = resolve(opts.dir ?? config.settings.downloadDir ?? '.');
  await requireFolder(targetDir, opts.dir === undefined ? 'the download folder' : '--dir');
  const identity = await loadOrCreateIdentity(configDir);
  const settings = lanSettings(opts, config);
  const lan = await startLan(settings, identity, config, out, true);
  let listener: DirectListener;
  try {
    listener = await DirectListener.start(identity, listenHost(settings), port);
  } catch (err) {
    await lan?.close();
    throw err;
  }
  const instance = await lan!.announce({ quicPort: listener.quicPort, tcpPort: listener.tcpPort });
  const short = shortFingerprint(identity.publicKey);
  out.line({
    type: 'listening',
    name: instance,
    short_id: short,
    quic_port: listener.quicPort,
    tcp_port: listener.tcpPort,
    dir: targetDir,
  });
  out.say(
    `Waiting for transfers as '${displayName(instance)}' (${short}) into ${targetDir}; ` +
      `senders run: ferry send <files> --to '${instance}'. Ctrl+C to stop.`,
  );
  if (!canAsk()) {
    out.say(
      opts.yes
        ? 'no terminal: known peers are accepted (--yes), new devices are refused'
        : 'no terminal: only known peers marked auto-accept are accepted (pass --yes to accept all known peers)',
    );
  }

  const sessions = openSessions(opts, out);
  const throttle = throttleFor(opts.limit, config.settings);
  const running = new Set<Promise<void>>();
  const active: Context['active'] = new Map();
  listener.handler = (link) => {
    // Anyone on the LAN can connect; each connection costs a PQ handshake
    // and a prompt. Past a handful at once, newcomers are turned away.
    if (running.size >= MAX_INCOMING_LINKS) {
      out.say(`turned away a connection: ${MAX_INCOMING_LINKS} transfers are already in progress`);
      link.close().catch(() => undefined);
      return;
    }
    const job = receiveOne(link, {
      opts,
      out,
      signal,
      config,
      identity,
      targetDir,
      configDir,
      sessions,
      throttle,
      active,
    });
    running.add(job);
    void job.finally(() => running.delete(job));
  };
  await new Promise<void>((r) => {
    if (signal.aborted) r();
    else signal.addEventListener('abort', () => r(), { once: true });
  });
  listener.handler = null;
  await Promise.allSettled([...running]);
  // Goodbye first: peers drop us at once.
  await lan?.close();
  await listener.close();
  sessions.flush();
  out.line({ type: 'stopped' });
  out.say('stopped listening');
  return ExitCode.Interrupted;
}

interface Context {
  readonly opts: ReceiveCommandOptions;
  readonly out: Reporter;
  readonly signal: AbortSignal;
  readonly config: FerryConfig;
  readonly identity: Awaited<ReturnType<typeof loadOrCreateIdentity>>;
  readonly targetDir: string;
  readonly configDir: string;
  readonly sessions: SessionRegistry;
  /** Transfers in progress by transfer id (a reconnecting sender supersedes its older one). */
  readonly active: Map<string, { transfer: ReceiveTransfer; superseded: AbortController }>;
  /** One bucket shared by every incoming transfer (`--limit`). */
  readonly throttle: Throttle | undefined;
}

/**
 * One incoming connection, start to end; never throws. A sender may run
 * several transfers over one connection (one stream each): every stream is
 * received in parallel until the sender closes the connection.
 */
function receiveOne(link: Link, ctx: Context): Promise<void> {
  return serveLink(link, (stream) => receiveStream(stream, ctx), {
    onError: (err) => ctx.out.say(`incoming connection failed: ${err.message}`),
  });
}

/** One transfer on its stream; never throws. */
async function receiveStream(stream: ByteStream, shared: Context): Promise<void> {
  // Several transfers may run at once: each JSON line says which it belongs to.
  const tags: { transfer_id: string | null } = { transfer_id: null };
  const ctx: Context = { ...shared, out: shared.out.tagged(tags) };
  const { out, config } = ctx;
  let firstContact = false;
  let transferId: string | null = null;
  // Set before this transfer yields to a newer one, so its session stays resumable.
  const superseded = new AbortController();
  try {
    const t: ReceiveTransfer = startReceive({
      stream,
      identity: ctx.identity,
      targetDir: ctx.targetDir,
      store: new CheckpointFileStore(ctx.configDir),
      deviceName: config.deviceName,
      memoryBudget: config.settings.windowMemory,
      ...(ctx.throttle ? { throttle: ctx.throttle } : {}),
      ...checkpointInterval(),
      decide: async (offer) => {
        transferId = offer.transferId;
        tags.transfer_id = offer.transferId;
        // A sender that reconnects (it restarted, or its link died unnoticed)
        // meets its own older connection here: end that one first, so two
        // transfers never write the same partial file.
        const older = ctx.active.get(offer.transferId);
        ctx.active.set(offer.transferId, { transfer: t, superseded });
        if (older) {
          out.say('the sender reconnected: closing its earlier connection first');
          older.superseded.abort();
          older.transfer.cancel('the sender reconnected');
          await older.transfer.settled;
        }
        const d = await decideIncoming(offer, ctx);
        firstContact = d.accept && !config.knownPeer(offer.peer.fingerprint);
        return d;
      },
    });
    t.on((e) => {
      if (firstContact && (e.type === 'paused' || e.type === 'resumed') && e.by === 'peer') {
        // The sender holds the data until its user confirms the words (send-to.ts).
        if (e.type === 'paused')
          out.say('waiting for the sender to confirm the verification words…');
        return;
      }
      if (e.type !== 'failed' && e.type !== 'cancelled' && e.type !== 'completed') out.event(e);
    });
    trackSession(
      ctx.sessions,
      t,
      { direction: 'receive', via: 'lan', paths: [ctx.targetDir], targetDir: ctx.targetDir },
      AbortSignal.any([ctx.signal, superseded.signal]),
    );
    const onAbort = () => t.cancel('receiver stopped listening');
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    onProven(t, (p) => {
      if (firstContact) rememberPeer(config, p.publicKey, p.name, 'sas', out);
      else touchKnown(config, p.publicKey, p.name);
    });
    try {
      const summary = await t.done;
      out.event({ type: 'completed', summary });
      out.say(
        `done: ${summary.files.length} file(s) verified in ${ctx.targetDir}, ${formatBytes(summary.bytesTransferred)} received`,
      );
    } catch (err) {
      await t.settled;
      const fe = toFerryError(err);
      out.line({ type: 'error', code: fe.code, message: fe.message });
      out.say(`transfer ended: ${fe.message}`);
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
    }
  } catch (err) {
    out.say(`incoming transfer failed: ${(err as Error).message}`);
  } finally {
    if (transferId && ctx.active.get(transferId)?.superseded === superseded) {
      ctx.active.delete(transferId);
    }
  }
}

async function decideIncoming(offer: OfferInfo, ctx: Context): Promise<Decision> {
  const { out, config, opts, signal } = ctx;
  const known = config.knownPeer(offer.peer.fingerprint);
  describeOffer(offer, out, { known: Boolean(known) });
  const earlier = ctx.sessions.get(offer.transferId);
  if (
    earlier?.direction === 'receive' &&
    earlier.peer.fingerprint === offer.peer.fingerprint &&
    earlier.state !== 'done' &&
    earlier.state !== 'cancelled'
  ) {
    out.say(`resuming session ${offer.transferId.slice(0, 8)} (accepted before)`);
    return { accept: true };
  }
  if (!known) {
    const clash = knownNameClash(config, offer.peer.publicKey, offer.peerName);
    if (clash) {
      out.line({ type: 'refused', reason: 'name-clash', known_fingerprint: clash.fingerprint });
      out.warn(
        `WARNING: this sender calls itself '${displayName(offer.peerName ?? '')}', the name of your known peer ` +
          `'${displayName(clash.nickname)}', but its key is different (${shortFingerprint(offer.peer.publicKey)}). ` +
          'Refused. If that device was reset, forget the old one first (ferry peers forget).',
      );
      return {
        accept: false,
        reason: 'refused: the key does not match the known device of that name',
      };
    }
    if (!canAsk()) {
      out.say(
        `refused: new device ${shortFingerprint(offer.peer.publicKey)} and no terminal to compare the words ` +
          `(pin it first with 'ferry peers trust ${shortFingerprint(offer.peer.publicKey)}')`,
      );
      return { accept: false, reason: 'the receiver does not know this device' };
    }
    const yes = await askYesNo(
      `First contact with this device: does the sender show the words '${offer.peer.sas}'? Accept and remember it?`,
      signal,
    );
    return yes ? { accept: true } : { accept: false, reason: 'the receiver declined' };
  }
  if (known.autoAccept || opts.yes || config.settings.autoAcceptKnown) {
    out.say(`accepted (known peer ${displayName(known.nickname)})`);
    return { accept: true };
  }
  if (!canAsk()) {
    return {
      accept: false,
      reason: 'the receiver cannot ask (no terminal) and does not auto-accept',
    };
  }
  return (await askYesNo(`Accept from ${displayName(known.nickname)}?`, signal))
    ? { accept: true }
    : { accept: false, reason: 'the receiver declined' };
}
