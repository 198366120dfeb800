/**
 * Runs of code-phrase jobs for the app's queue: a send that waits for its
 * receiver in relay rooms, and a receive that finds its sender on the LAN
 * (by the nameplate hash) or through relays. The first run of a job meets
 * under the code; once the transfer started, both sides recorded the
 * handshake's resume secret, and every later run (a retry, or after a
 * restart of either side) meets under the resume rendezvous instead, so no
 * code is needed again (docs/adr/0008).
 */

import { awaitPeer, type Connected, type DirectListener, dialPeer } from '../cli/paths.js';
import type { RelayEndpoint } from '../cli/relay-client.js';
import { onProven } from '../cli/send.js';
import { resumeOf } from '../cli/sessions.js';
import { nameplateHash } from '../discovery/advert.js';
import type { LanDiscovery } from '../discovery/lan.js';
import { parseCode, roomIdFromNameplate } from '../engine/crypto/code-phrase.js';
import type { Identity } from '../engine/crypto/identity.js';
import type { Throttle } from '../engine/queue/bandwidth.js';
import type { Job, JobRun, RunOutcome, RunPhase } from '../engine/queue/scheduler.js';
import { type OfferInfo, startReceive } from '../engine/transfer/receiver.js';
import { startSend } from '../engine/transfer/sender.js';
import type { Transfer } from '../engine/transfer/transfer.js';
import type { SessionStore } from '../engine/transfer/types.js';
import type { LinkInfo } from '../engine/transport/link.js';
import type { SessionRegistry } from '../store/session-store.js';
import { finished, runAttempt } from './attempt.js';

/** A send by code (`Job.data`). */
export interface CodeSendJob {
  readonly kind: 'code-send';
  readonly paths: readonly string[];
  /** Only in the run that created it: codes are never written to disk. */
  readonly code?: string;
}

/** A receive by code (`Job.data`). */
export interface CodeReceiveJob {
  readonly kind: 'code-receive';
  readonly targetDir: string;
  readonly code?: string;
}

/** What code runs need from the app. */
export interface CodeRunContext {
  readonly identity: Identity;
  readonly registry: SessionRegistry;
  readonly relays: () => readonly RelayEndpoint[];
  readonly relayPassword?: string;
  readonly lan: () => LanDiscovery | null;
  readonly deviceName: () => string;
  readonly chunkSize: () => number;
  readonly windowMemory: () => number;
  readonly throttle: (job: Job) => Throttle | undefined;
  readonly checkpoints: SessionStore;
  /** A line for the job's history. */
  readonly note: (job: Job, text: string) => void;
  /** The attempt's transfer, once started; records the peer's key in the session once it starts. */
  readonly attach: (job: Job, t: Transfer, info: LinkInfo) => void;
  /** Ask the user about an offer (true: accept). */
  readonly decide: (job: Job, offer: OfferInfo, signal: AbortSignal) => Promise<boolean>;
  /** The peer proved the code (or the resume secret): remember it. */
  readonly proven: (publicKey: Uint8Array, name: string | undefined) => void;
  /**
   * A code send waits on the LAN too: listeners of its own, announced with
   * the hint; null without discovery. `release` withdraws and closes them.
   */
  readonly offerOnLan: (
    lanHint: string,
  ) => Promise<{ listener: DirectListener; release: () => Promise<void> } | null>;
}

interface Meeting {
  readonly room: Uint8Array;
  readonly password: Uint8Array;
  readonly lanHint: string;
  readonly expectedPeer?: Uint8Array;
}

/** Where this run of a code job meets its peer: the resume rendezvous once it started, else the code. */
function meeting(job: Job, registry: SessionRegistry, code: string | undefined): Meeting | null {
  const r = registry.get(job.id);
  if (r?.resumeSecret && r.peer.publicKey) return resumeOf(r);
  if (!code) return null;
  const parsed = parseCode(code);
  return {
    room: roomIdFromNameplate(parsed.nameplate),
    password: parsed.password,
    lanHint: nameplateHash(parsed.nameplate),
  };
}

const noCode: RunOutcome = {
  ok: false,
  error: {
    code: 'CANCELLED',
    message: 'this session never started and its code is not kept; start it again with a new code',
    retryable: false,
  },
};

/**
 * Record what a later run needs, once the transfer started on both sides:
 * the handshake's resume secret and the transfer id (the peer's key is
 * recorded for every job by `attach`). Pins the peer once it completes.
 */
function recordResume(ctx: CodeRunContext, job: Job, t: Transfer): void {
  t.on((e) => {
    if (e.type === 'started') {
      // The first session's secret stays (see trackSession): both sides and
      // any later run of either must meet under the same rendezvous.
      const secret = ctx.registry.get(job.id)?.resumeSecret ? null : t.resumeSecret;
      try {
        ctx.registry.update(job.id, {
          ...(secret ? { resumeSecret: Buffer.from(secret).toString('hex') } : {}),
          transferId: e.transferId,
        });
      } catch {
        // Bookkeeping only; the transfer goes on.
      }
    }
  });
  onProven(t, (p) => ctx.proven(p.publicKey, p.name));
}

/** A code run's connection: the link, and for a send on the LAN its own listener. */
type CodeConnection = Connected & { cleanup?: () => Promise<void> };

async function release(c: CodeConnection): Promise<void> {
  await c.link.close().catch(() => undefined);
  await c.cleanup?.().catch(() => undefined);
}

/** A run with no path to the peer at all. */
function unreachable(who: 'sender' | 'receiver'): JobRun {
  return finished({
    ok: false,
    error: {
      code: 'CONNECTION',
      message: `no way to reach the ${who}: discovery is off and no relay is set (Settings)`,
      retryable: false,
    },
  });
}

/** One run of a code send: wait for the receiver in the relay rooms, then send. */
export function startCodeSend(ctx: CodeRunContext, job: Job, phase: (p: RunPhase) => void): JobRun {
  const data = job.data as CodeSendJob;
  const m = meeting(job, ctx.registry, data.code);
  if (!m) return finished(noCode);
  const relays = ctx.relays();
  if (relays.length === 0 && !ctx.lan()) return unreachable('receiver');
  const transferId = Uint8Array.from(Buffer.from(job.id, 'hex'));
  return runAttempt<CodeConnection>(
    {
      connect: async (signal) => {
        const onLan = await ctx.offerOnLan(m.lanHint);
        try {
          const conn = await awaitPeer({
            identity: ctx.identity,
            room: m.room,
            relays,
            ...(onLan ? { listener: onLan.listener } : {}),
            ...(ctx.relayPassword ? { relayPassword: ctx.relayPassword } : {}),
            signal,
            onNote: (t) => ctx.note(job, t),
          });
          // QUIC links share their listener's socket: it closes after the link.
          return { ...conn, ...(onLan ? { cleanup: onLan.release } : {}) };
        } catch (err) {
          await onLan?.release();
          throw err;
        }
      },
      begin: (conn) => {
        const t = startSend({
          stream: conn.stream,
          ...engineOptions(ctx, job, m),
          paths: data.paths,
          transferId,
          chunkSize: ctx.chunkSize(),
        });
        recordResume(ctx, job, t);
        ctx.attach(job, t, conn.link.info);
        return t;
      },
      release,
    },
    phase,
  );
}

/** One run of a code receive: find the sender (LAN, relays), ask about the offer, receive. */
export function startCodeReceive(
  ctx: CodeRunContext,
  job: Job,
  phase: (p: RunPhase) => void,
): JobRun {
  const data = job.data as CodeReceiveJob;
  const m = meeting(job, ctx.registry, data.code);
  if (!m) return finished(noCode);
  const relays = ctx.relays();
  const lan = ctx.lan();
  if (relays.length === 0 && !lan) return unreachable('sender');
  const resumeId = ctx.registry.get(job.id)?.transferId;
  return runAttempt<CodeConnection>(
    {
      connect: (signal) =>
        dialPeer({
          identity: ctx.identity,
          room: m.room,
          relays,
          ...(lan ? { lan: { discovery: lan, nameplateHash: m.lanHint } } : {}),
          ...(ctx.relayPassword ? { relayPassword: ctx.relayPassword } : {}),
          signal,
          onNote: (t) => ctx.note(job, t),
        }),
      begin: (conn) => {
        const t = startReceive({
          stream: conn.stream,
          ...engineOptions(ctx, job, m),
          targetDir: data.targetDir,
          store: ctx.checkpoints,
          decide: async (offer) => {
            if (resumeId && offer.transferId === resumeId) return { accept: true };
            const ac = new AbortController();
            const off = t.on((e) => {
              if (e.type === 'failed' || e.type === 'cancelled') ac.abort();
            });
            try {
              return (await ctx.decide(job, offer, ac.signal))
                ? { accept: true }
                : { accept: false, reason: 'the receiver declined' };
            } finally {
              off();
            }
          },
        });
        recordResume(ctx, job, t);
        ctx.attach(job, t, conn.link.info);
        return t;
      },
      release,
    },
    phase,
  );
}

/**
 * What a send and a receive by code both hand the engine: who we are, where
 * and how we meet (the code or the resume rendezvous, the pinned peer), and
 * the settings read at the start of this run.
 */
function engineOptions(ctx: CodeRunContext, job: Job, m: Meeting) {
  const throttle = ctx.throttle(job);
  return {
    identity: ctx.identity,
    password: m.password,
    context: m.room,
    deviceName: ctx.deviceName(),
    memoryBudget: ctx.windowMemory(),
    ...(m.expectedPeer ? { expectedPeer: m.expectedPeer } : {}),
    ...(throttle ? { throttle } : {}),
  };
}
