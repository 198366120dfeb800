/**
 * Transfers that LAN senders start towards this device (`ferry send --to`,
 * or another ferry app choosing us in its Peers list). Each incoming stream
 * runs the engine's receive; its offer decides what happens:
 *
 * - a transfer the queue already has (the sender reconnected after a drop
 *   or a restart) is accepted again without asking, unless the user paused it;
 * - a known peer is accepted when it (or the `autoAcceptKnown` setting) says
 *   so, else the user is asked;
 * - a new device is asked about with its verification words; a new key
 *   using a known peer's name is refused loudly.
 *
 * An accepted transfer becomes a queue job (its id is the transfer id) and
 * waits for a slot like every other job: the queue's concurrency limit
 * covers sends and receives together.
 */

import { knownNameClash } from '../cli/lan.js';
import { displayName } from '../cli/output.js';
import { MAX_INCOMING_LINKS, serveLink } from '../cli/paths.js';
import { onProven } from '../cli/send.js';
import type { Identity } from '../engine/crypto/identity.js';
import { shortFingerprint } from '../engine/crypto/identity.js';
import type { Throttle } from '../engine/queue/bandwidth.js';
import {
  isFinal,
  type Job,
  type JobRun,
  type RunOutcome,
  type RunPhase,
  type Scheduler,
} from '../engine/queue/scheduler.js';
import {
  type Decision,
  type OfferInfo,
  type ReceiveTransfer,
  startReceive,
} from '../engine/transfer/receiver.js';
import type { SessionStore } from '../engine/transfer/types.js';
import type { ByteStream, Link, LinkInfo } from '../engine/transport/link.js';
import type { FerryConfig } from '../store/config.js';
import { finished } from './attempt.js';
import type { OfferAnswer } from './controller.js';

/** An incoming receive (`Job.data`). */
export interface IncomingJob {
  readonly kind: 'incoming';
  readonly targetDir: string;
}

/** The queue's peer key of an incoming job (apart from sends to that device). */
export function incomingPeer(fingerprint: string): string {
  return `incoming:${fingerprint}`;
}

/** What incoming transfers need from the app. */
export interface IncomingContext {
  readonly identity: Identity;
  readonly config: FerryConfig;
  readonly queue: Scheduler;
  readonly checkpoints: SessionStore;
  readonly targetDir: () => string;
  readonly windowMemory: () => number;
  /** A fresh per-transfer limiter (sharing the global bucket), if limits are set. */
  readonly throttle: () => Throttle | undefined;
  /** Ask the user about an offer. */
  readonly ask: (offer: OfferInfo, known: boolean, signal: AbortSignal) => Promise<OfferAnswer>;
  /** Create the queue job for an accepted transfer (id = transfer id). */
  readonly enqueue: (offer: OfferInfo, targetDir: string) => void;
  readonly attach: (jobId: string, t: ReceiveTransfer, info: LinkInfo) => void;
  readonly notice: (level: 'info' | 'warn' | 'error', text: string) => void;
  /** The transfer completed: pin a first-contact peer (`sas`), or note a known one was seen. */
  readonly proven: (publicKey: Uint8Array, name: string | undefined, firstContact: boolean) => void;
  /** The user chose "always accept": pin with auto-accept. */
  readonly trustAlways: (publicKey: Uint8Array, name: string | undefined) => void;
}

interface Live {
  readonly transfer: ReceiveTransfer;
  readonly info: LinkInfo;
  /** Resolves when the queue gives the job a slot. */
  readonly granted: () => void;
}

/** Incoming transfers and their hand-over to the queue's runner. */
export class IncomingTransfers {
  readonly #ctx: IncomingContext;
  /** Accepted transfers waiting for their queue slot, by job id. */
  readonly #waiting = new Map<string, Live>();
  /** Transfers in progress by id (a reconnecting sender supersedes its older one). */
  readonly #active = new Map<string, ReceiveTransfer>();
  readonly #links = new Set<Promise<void>>();
  readonly #closing = new AbortController();

  constructor(ctx: IncomingContext) {
    this.#ctx = ctx;
  }

  /** Take a new connection from the direct listener. */
  onLink(link: Link, info: LinkInfo): void {
    if (this.#closing.signal.aborted || this.#links.size >= MAX_INCOMING_LINKS) {
      if (!this.#closing.signal.aborted) {
        this.#ctx.notice(
          'warn',
          `turned away a connection: ${MAX_INCOMING_LINKS} are already open`,
        );
      }
      link.close().catch(() => undefined);
      return;
    }
    const p = this.#serve(link, info);
    this.#links.add(p);
    void p.finally(() => this.#links.delete(p));
  }

  /** The queue's run of an incoming job: the accepted transfer, or wait for the sender. */
  start(job: Job, phase: (p: RunPhase) => void): JobRun {
    const live = this.#waiting.get(job.id);
    if (!live) {
      return finished({
        ok: false,
        peerUnreachable: true,
        error: {
          code: 'CONNECTION',
          message: 'waiting for the sender to connect again',
          retryable: true,
        },
      });
    }
    this.#waiting.delete(job.id);
    const t = live.transfer;
    this.#ctx.attach(job.id, t, live.info);
    phase('transferring');
    live.granted();
    const done = t.done.then(
      (): RunOutcome => ({ ok: true }),
      (err: unknown): RunOutcome => {
        const e = err as { code?: string; message?: string; retryable?: boolean };
        return {
          ok: false,
          error: {
            code: e.code ?? 'CONNECTION',
            message: e.message ?? String(err),
            retryable: e.retryable ?? false,
          },
          // The sender reconnects by itself: park the job until it does.
          peerUnreachable: e.retryable ?? false,
        };
      },
    );
    return {
      pause: () => t.pause(),
      resume: () => t.resume(),
      cancel: (reason) => t.cancel(reason),
      interrupt: () => t.interrupt('the receiver is quitting'),
      done,
    };
  }

  /** Stop taking connections and end the transfers in progress (they resume next start). */
  async close(): Promise<void> {
    this.#closing.abort();
    for (const t of this.#active.values()) t.interrupt('the receiver is quitting');
    await Promise.allSettled([...this.#links]);
  }

  #serve(link: Link, info: LinkInfo): Promise<void> {
    // A connection that failed before its transfer began is nobody's news.
    return serveLink(link, (stream) => this.#receive(stream, info), {
      stop: this.#closing.signal,
    });
  }

  async #receive(stream: ByteStream, info: LinkInfo): Promise<void> {
    const ctx = this.#ctx;
    const targetDir = ctx.targetDir();
    let firstContact = false;
    let id: string | null = null;
    const gone = new AbortController();
    const throttle = ctx.throttle();
    const t: ReceiveTransfer = startReceive({
      ...(throttle ? { throttle } : {}),
      stream,
      identity: ctx.identity,
      targetDir,
      store: ctx.checkpoints,
      deviceName: ctx.config.deviceName,
      memoryBudget: ctx.windowMemory(),
      decide: async (offer) => {
        id = offer.transferId;
        const older = this.#active.get(offer.transferId);
        this.#active.set(offer.transferId, t);
        if (older) {
          older.cancel('the sender reconnected');
          await older.settled;
        }
        const d = await this.#decide(offer, gone.signal);
        if (!d.accept) return d;
        firstContact = !ctx.config.knownPeer(offer.peer.fingerprint);
        // Wait for a queue slot before any data flows.
        await new Promise<void>((granted) => {
          this.#waiting.set(offer.transferId, { transfer: t, info, granted });
          const job = ctx.queue.get(offer.transferId);
          // A finished job of the same id (the same files sent again) makes
          // way for a new one; an unfinished one takes its transfer back.
          if (!job || isFinal(job.state)) ctx.enqueue(offer, targetDir);
          else ctx.queue.peerAvailable(job.peer ?? '');
          gone.signal.addEventListener('abort', () => granted(), { once: true });
        });
        return { accept: true };
      },
    });
    t.on((e) => {
      if (e.type === 'failed' || e.type === 'cancelled') gone.abort();
    });
    onProven(t, (p) => ctx.proven(p.publicKey, p.name, firstContact));
    try {
      await t.done;
    } catch {
      // Reported through the job (or, before it was accepted, not news).
    } finally {
      if (id && this.#active.get(id) === t) this.#active.delete(id);
      if (id && this.#waiting.get(id)?.transfer === t) this.#waiting.delete(id);
    }
  }

  async #decide(offer: OfferInfo, signal: AbortSignal): Promise<Decision> {
    const ctx = this.#ctx;
    const known = ctx.config.knownPeer(offer.peer.fingerprint);
    const job = ctx.queue.get(offer.transferId);
    if (job && job.direction === 'receive' && !isFinal(job.state)) {
      if (job.peer !== incomingPeer(offer.peer.fingerprint)) {
        return { accept: false, reason: 'this transfer belongs to another device' };
      }
      if (job.state === 'paused') {
        return { accept: false, reason: 'the receiver paused this transfer' };
      }
      return { accept: true };
    }
    if (!known) {
      const clash = knownNameClash(ctx.config, offer.peer.publicKey, offer.peerName);
      if (clash) {
        ctx.notice(
          'warn',
          `Refused a transfer: a device calls itself '${displayName(offer.peerName ?? '')}', the name of your known peer ` +
            `'${displayName(clash.nickname)}', but its key is different (${shortFingerprint(offer.peer.publicKey)}).`,
        );
        return {
          accept: false,
          reason: 'refused: the key does not match the known device of that name',
        };
      }
    } else if (known.autoAccept || ctx.config.settings.autoAcceptKnown) {
      return { accept: true };
    }
    const answer = await ctx.ask(offer, Boolean(known), signal);
    if (answer === 'decline') return { accept: false, reason: 'the receiver declined' };
    if (answer === 'always') ctx.trustAlways(offer.peer.publicKey, offer.peerName);
    return { accept: true };
  }
}
