/**
 * Recorded sessions for the headless commands: every send and receive is
 * written to `sessions.json` (state changes at once, progress debounced),
 * so `ferry sessions` lists them and `ferry resume <id>` continues one after
 * either side restarted, without the code (docs/adr/0008).
 */
import { resumeRendezvous } from '../engine/crypto/resume.js';
import { FerryError, isRetryableCode } from '../engine/errors.js';
import type { Transfer } from '../engine/transfer/transfer.js';
import { CheckpointFileStore } from '../store/checkpoint-file-store.js';
import { fileCountOf, type SessionRecord, SessionRegistry } from '../store/session-store.js';
import { type GlobalOptions, resolveConfigDir, UsageError } from './common.js';
import { displayName, ExitCode, formatBytes, type Reporter } from './output.js';
import { type ReceiveCommandOptions, receiveByRendezvous } from './receive.js';
import { type SendCommandOptions, sendByRendezvous } from './send.js';
import { sendToPeer } from './send-to.js';

/** Open the registry of `opts`' config dir. */
export function openSessions(opts: GlobalOptions, out: Reporter): SessionRegistry {
  return SessionRegistry.open(resolveConfigDir(opts.configDir), {
    onWarning: (m) => out.say(`warning: ${m}`),
  });
}

/** What a command knows about the session it runs, before the handshake. */
export interface SessionBase {
  readonly direction: 'send' | 'receive';
  readonly via: 'lan' | 'code';
  readonly paths: readonly string[];
  readonly targetDir?: string;
  /** Code sessions: see SessionRecord.codeHash. */
  readonly codeHash?: string;
  /**
   * The record this run continues, when its id is not the transfer id (the
   * app names a receive by code before it knows the transfer): progress goes
   * there instead of into a second record.
   */
  readonly recordId?: string;
  /**
   * This run met its peer afresh (by the code, the peer having no record):
   * the record takes this handshake's resume secret, which the peer records,
   * instead of keeping the first one.
   */
  readonly renewSecret?: boolean;
}

/**
 * Record a transfer's life in the registry. `interrupted` tells a Ctrl+C
 * (the session stays resumable: 'paused') from a real cancel.
 */
export function trackSession(
  registry: SessionRegistry,
  t: Transfer,
  base: SessionBase,
  interrupted: AbortSignal,
): void {
  let id: string | null = null;
  let peer: SessionRecord['peer'] = {};
  let secret: string | undefined;
  const safely = (fn: () => void) => {
    try {
      fn();
    } catch {
      // Bookkeeping must never break a transfer.
    }
  };
  t.on((e) => {
    switch (e.type) {
      case 'handshake':
        peer = {
          fingerprint: e.peer.fingerprint,
          publicKey: Buffer.from(e.peer.publicKey).toString('hex'),
        };
        if (base.via === 'code') {
          const s = t.resumeSecret;
          secret = s ? Buffer.from(s).toString('hex') : undefined;
        }
        break;
      case 'started': {
        const rid = base.recordId ?? e.transferId;
        id = rid;
        const before = registry.get(rid);
        const keep = base.renewSecret ? undefined : before?.resumeSecret;
        safely(() =>
          registry.put({
            id: rid,
            ...(rid === e.transferId ? {} : { transferId: e.transferId }),
            direction: base.direction,
            state: 'transferring',
            priority: before?.priority ?? 'normal',
            via: base.via,
            peer: { ...before?.peer, ...peer },
            paths: base.paths,
            ...(base.targetDir ? { targetDir: base.targetDir } : {}),
            files: e.files.map((f) => ({ path: f.path, size: f.size })),
            totalBytes: e.total,
            bytesDone: e.resumedBytes,
            attempts: before?.attempts ?? 0,
            // The first session's secret stays for the life of the session:
            // each handshake derives a new one, and a sender still waiting
            // for this receiver waits under the first (taking the newest
            // made a receiver killed twice look for its sender elsewhere).
            ...((keep ?? secret) ? { resumeSecret: keep ?? secret } : {}),
            ...((base.codeHash ?? before?.codeHash)
              ? { codeHash: base.codeHash ?? before?.codeHash }
              : {}),
            ...(before ? { createdAt: before.createdAt } : {}),
          }),
        );
        break;
      }
      case 'progress':
        if (id) safely(() => registry.progress(id!, e.bytes));
        break;
      case 'paused':
      case 'resumed':
        if (id)
          safely(() =>
            registry.update(id!, { state: e.type === 'paused' ? 'paused' : 'transferring' }),
          );
        break;
      case 'completed':
        if (id) {
          const total = e.summary.bytesTransferred + e.summary.bytesSkipped;
          safely(() =>
            registry.update(id!, {
              state: 'done',
              bytesDone: total,
              peer: { ...peer, ...(e.summary.peerName ? { name: e.summary.peerName } : {}) },
            }),
          );
        }
        break;
      case 'failed':
        if (id) {
          // A network failure can be resumed; integrity/trust ones are final.
          const retryable = isRetryableCode(e.code);
          safely(() =>
            registry.update(id!, {
              state: retryable ? 'paused' : 'failed',
              error: { code: e.code, message: e.message, retryable },
            }),
          );
        }
        break;
      case 'cancelled':
        if (id) {
          safely(() =>
            registry.update(id!, {
              state: interrupted.aborted ? 'paused' : 'cancelled',
              error: { code: 'CANCELLED', message: e.reason, retryable: interrupted.aborted },
            }),
          );
        }
        break;
      default:
        break;
    }
  });
}

/** `ferry sessions`: recorded sessions, newest first. */
export function sessionsCommand(opts: GlobalOptions & { clear?: boolean }, out: Reporter): number {
  const registry = openSessions(opts, out);
  if (opts.clear) {
    // History only: anything that could still be resumed stays.
    const gone = registry
      .list()
      .filter((r) => r.state === 'done' || r.state === 'cancelled')
      .filter((r) => registry.remove(r.id));
    out.line({ type: 'sessions-cleared', removed: gone.length });
    out.say(`forgot ${gone.length} finished session(s)`);
  }
  const list = registry.list();
  out.line({ type: 'sessions', sessions: list.map(sessionJson) });
  if (list.length === 0) {
    out.print('no sessions recorded yet');
    return ExitCode.Ok;
  }
  for (const r of list) {
    const pct = r.totalBytes > 0 ? Math.floor((100 * r.bytesDone) / r.totalBytes) : 100;
    const n = fileCountOf(r);
    const what = n === 1 ? displayName(r.files[0]!.path) : `${n} files`;
    const who = r.peer.name ? displayName(r.peer.name) : (r.peer.fingerprint?.slice(0, 8) ?? '?');
    out.print(
      `${r.id.slice(0, 8)}  ${r.direction === 'send' ? 'send →' : 'recv ←'} ${who}  ${what}  ` +
        `${formatBytes(r.bytesDone)}/${formatBytes(r.totalBytes)} (${pct}%)  ${r.state}` +
        `${r.via === 'code' ? '  via code' : '  LAN'}${r.error && r.state !== 'done' ? `  (${r.error.message})` : ''}`,
    );
  }
  return ExitCode.Ok;
}

function sessionJson(r: SessionRecord): Record<string, unknown> {
  return {
    id: r.id,
    direction: r.direction,
    via: r.via,
    state: r.state,
    peer_fingerprint: r.peer.fingerprint ?? null,
    peer_name: r.peer.name ?? null,
    // The first FILES_KEPT files; file_count says how many there are.
    files: r.files.map((f) => ({ path: f.path, size: f.size })),
    file_count: fileCountOf(r),
    bytes_done: r.bytesDone,
    total: r.totalBytes,
    error: r.error ?? null,
    updated_at: r.updatedAt,
  };
}

function findSession(registry: SessionRegistry, idPrefix: string): SessionRecord {
  const q = idPrefix.trim().toLowerCase();
  if (!/^[0-9a-f]{4,32}$/.test(q)) {
    throw new UsageError(
      `'${idPrefix}': expected a session id (at least 4 hex digits, see 'ferry sessions')`,
    );
  }
  const found = registry.list().filter((r) => r.id.startsWith(q));
  if (found.length === 0) throw new UsageError(`no session '${idPrefix}' (see 'ferry sessions')`);
  if (found.length > 1)
    throw new UsageError(`'${idPrefix}' matches ${found.length} sessions; give more digits`);
  return found[0]!;
}

/** `ferry resume <id>`: continue a recorded session without its code. */
export async function resumeCommand(
  idPrefix: string,
  opts: SendCommandOptions & ReceiveCommandOptions,
  out: Reporter,
  signal: AbortSignal,
): Promise<number> {
  const r = findSession(openSessions(opts, out), idPrefix);
  if (r.state === 'done') {
    out.say(`session ${r.id.slice(0, 8)} is already done`);
    return ExitCode.Ok;
  }
  if (r.via === 'lan') {
    if (r.direction === 'send') {
      if (!r.peer.fingerprint) throw new UsageError('this session has no recorded peer to send to');
      return sendToPeer(
        [...r.paths],
        r.peer.fingerprint,
        { ...opts, code: undefined },
        out,
        signal,
      );
    }
    throw new UsageError(
      `a LAN receive resumes when its sender sends again: run 'ferry receive --listen --dir ${r.targetDir ?? '.'}' and resume on the sending side`,
    );
  }
  if (!r.resumeSecret || !r.peer.publicKey) {
    throw new FerryError(
      'IO',
      `session ${r.id.slice(0, 8)} has no resume secret recorded; start it again with its code`,
    );
  }
  const rv = resumeOf(r);
  if (r.direction === 'send') {
    return sendByRendezvous(
      [...r.paths],
      {
        ...rv,
        transferId: Uint8Array.from(Buffer.from(r.id, 'hex')),
        resuming: r.id.slice(0, 8),
      },
      opts,
      out,
      signal,
    );
  }
  out.say('waiting for the sender (a ferry send still running, or ferry resume on its side)');
  return receiveByRendezvous(
    { ...rv, resumeTransferId: r.transferId ?? r.id, recordId: r.id },
    { ...opts, ...(r.targetDir ? { dir: r.targetDir } : {}) },
    out,
    signal,
  );
}

/** `ferry cancel <id>`: give up a session; a receive's partial files are deleted. */
export async function cancelCommand(
  idPrefix: string,
  opts: GlobalOptions,
  out: Reporter,
): Promise<number> {
  const registry = openSessions(opts, out);
  const r = findSession(registry, idPrefix);
  if (r.state === 'done')
    throw new UsageError(`session ${r.id.slice(0, 8)} is done; nothing to cancel`);
  const store = new CheckpointFileStore(resolveConfigDir(opts.configDir));
  const removed = r.direction === 'receive' ? await store.discard(r.transferId ?? r.id) : 0;
  registry.update(r.id, { state: 'cancelled' });
  registry.flush();
  out.line({ type: 'session-cancelled', id: r.id, partial_files_removed: removed });
  out.say(
    `cancelled session ${r.id.slice(0, 8)}${removed ? `; removed ${removed} partial file(s)` : ''}`,
  );
  return ExitCode.Ok;
}

/**
 * An unfinished code session this machine recorded for the same code (and
 * direction), that can resume through the resume rendezvous.
 */
export function sessionForCode(
  registry: SessionRegistry,
  direction: 'send' | 'receive',
  codeHash: string,
): SessionRecord | undefined {
  return registry
    .list()
    .find(
      (r) =>
        r.direction === direction &&
        r.codeHash === codeHash &&
        r.state !== 'done' &&
        r.state !== 'cancelled' &&
        r.resumeSecret !== undefined &&
        r.peer.publicKey !== undefined,
    );
}

/** The resume rendezvous of a recorded code session. */
export function resumeOf(r: SessionRecord): {
  room: Uint8Array;
  password: Uint8Array;
  lanHint: string;
  expectedPeer: Uint8Array;
} {
  const rv = resumeRendezvous(Uint8Array.from(Buffer.from(r.resumeSecret!, 'hex')));
  return { ...rv, expectedPeer: Uint8Array.from(Buffer.from(r.peer.publicKey!, 'hex')) };
}
