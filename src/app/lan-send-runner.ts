/**
 * The queue's runner for sends to LAN peers: a job is "these paths to the
 * device with this fingerprint". Each run finds the device in the peer
 * table, opens a stream on the shared link to it (PeerLinks), runs the
 * engine's send with the pinned (or announced) key, and reports phases and
 * the outcome in the scheduler's terms.
 */
import type { PeerTable } from '../discovery/peer-table.js';
import type { Identity } from '../engine/crypto/identity.js';
import { toFerryError } from '../engine/errors.js';
import type { Throttle } from '../engine/queue/bandwidth.js';
import type { Job, JobRun, JobRunner, RunOutcome, RunPhase } from '../engine/queue/scheduler.js';
import { walkSources } from '../engine/transfer/manifest.js';
import { type SendTransfer, startSend } from '../engine/transfer/sender.js';
import { lanTransferId } from '../engine/transfer/transfer-id.js';
import type { PeerFacts } from '../engine/transfer/types.js';
import type { LinkInfo } from '../engine/transport/link.js';
import { finished, runAttempt } from './attempt.js';
import type { PeerLinks, StreamLease } from './peer-links.js';

/** What a LAN send job carries (`Job.data`). */
export interface LanSendJob {
  readonly paths: readonly string[];
  /** Full fingerprint of the receiving device. */
  readonly peer: string;
}

/** Options of LanSendRunner. */
export interface LanSendRunnerOptions {
  readonly identity: Identity;
  readonly table: PeerTable;
  readonly links: PeerLinks;
  /** The pinned key of a known peer (hex), if any: it wins over the announced one. */
  readonly pinnedKey: (fingerprint: string) => string | undefined;
  /** Read at the start of each attempt, so a changed setting applies to the next transfer. */
  readonly deviceName?: () => string | undefined;
  readonly chunkSize?: () => number | undefined;
  readonly memoryBudget?: () => number | undefined;
  /** One limiter for every job, or one per job (global and per-transfer limits combined). */
  readonly throttle?: Throttle | ((job: Job) => Throttle | undefined);
  /**
   * Asked after the handshake with a device whose key is not pinned: resolve
   * true once the user compared the verification words (no data leaves
   * before). Absent: unpinned devices are sent to on their announced key.
   */
  readonly confirmNew?: (job: Job, peer: PeerFacts) => Promise<boolean>;
  /** Each transfer as it starts (the UI subscribes to its events and snapshots). */
  readonly onTransfer?: (job: Job, t: SendTransfer, info: LinkInfo) => void;
}

/** Runs LAN sends for the Scheduler. */
export class LanSendRunner implements JobRunner {
  readonly #o: LanSendRunnerOptions;

  constructor(opts: LanSendRunnerOptions) {
    this.#o = opts;
  }

  start(job: Job, phase: (p: RunPhase) => void): JobRun {
    const o = this.#o;
    const data = job.data as LanSendJob;
    const peer = o.table.get(data.peer);
    if (!peer?.online) {
      return finished({
        ok: false,
        peerUnreachable: true,
        error: { code: 'CONNECTION', message: 'the device is not online', retryable: true },
      });
    }
    const pinned = o.pinnedKey(data.peer);
    const expected = pinned ? Uint8Array.from(Buffer.from(pinned, 'hex')) : peer.publicKey;
    return runAttempt<StreamLease>(
      {
        connect: (signal) => o.links.openStream(peer, expected, signal),
        // A device that cannot be reached parks the job until it is seen again.
        connectFailed: (err) => ({
          ...asOutcome(err),
          peerUnreachable: toFerryError(err).retryable,
        }),
        failed: asOutcome,
        begin: async (lease) => {
          const { files } = await walkSources(data.paths);
          const throttle = typeof o.throttle === 'function' ? o.throttle(job) : o.throttle;
          const t = startSend({
            stream: lease.stream,
            identity: o.identity,
            paths: data.paths,
            expectedPeer: expected,
            transferId: lanTransferId(
              o.identity.publicKey,
              expected,
              files.map((f) => f.path),
            ),
            ...optional('deviceName', o.deviceName?.()),
            ...optional('chunkSize', o.chunkSize?.()),
            ...optional('memoryBudget', o.memoryBudget?.()),
            ...(throttle ? { throttle } : {}),
            ...(!pinned && o.confirmNew
              ? { confirmPeer: (p: PeerFacts) => o.confirmNew!(job, p) }
              : {}),
          });
          o.onTransfer?.(job, t, lease.info);
          return t;
        },
        release: (lease) => lease.release(),
      },
      phase,
    );
  }
}

/** A failure counted by the error's own retryable flag. */
function asOutcome(err: unknown): RunOutcome {
  const fe = toFerryError(err);
  return { ok: false, error: { code: fe.code, message: fe.message, retryable: fe.retryable } };
}

/** `{ [key]: value }` when the value is set (exactOptionalPropertyTypes-friendly). */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value ? { [key]: value } : {}) as { [P in K]?: V };
}
