/**
 * An in-memory FerryController for the TUI's tests: it records every
 * command, and tests set what the snapshot says (each change bumps the
 * version, as the real app does). Builders make plausible views.
 */
import type {
  AppSnapshot,
  FerryController,
  FileView,
  JobView,
  OfferAnswer,
  OfferView,
  PeerView,
} from '../../src/app/controller.js';
import type { Priority } from '../../src/engine/queue/scheduler.js';

/** One recorded command. */
export interface Call {
  readonly method: keyof FerryController;
  readonly args: readonly unknown[];
}

/** A peer view with defaults. */
export function peer(p: Partial<PeerView> & { name: string }): PeerView {
  const fp = p.fingerprint ?? Buffer.from(p.name.padEnd(32, '.')).toString('hex').slice(0, 64);
  return {
    fingerprint: fp,
    shortId: `${fp.slice(0, 4)}-${fp.slice(4, 8)}`,
    online: true,
    badge: 'known',
    lastSeen: Date.now(),
    autoAccept: false,
    ...p,
  };
}

/** A file view: `chunks` gives the states, one digit per chunk ("0123" …). */
export function file(path: string, chunks: string, size = chunks.length * 1024 * 1024): FileView {
  const states = Uint8Array.from([...chunks].map(Number));
  return {
    path,
    size,
    chunkCount: states.length,
    chunks: states,
    leavesVerified: states.filter((c) => c === 3).length,
    root: 'streaming',
    mismatched: [],
  };
}

/** A job view with defaults (a send in progress). */
export function job(j: Partial<JobView> & { id: string }): JobView {
  return {
    direction: 'send',
    label: `${j.id}.bin`,
    peer: 'alice',
    via: 'lan',
    state: 'transferring',
    pausedByPeer: false,
    priority: 'normal',
    total: 100 * 1024 * 1024,
    bytesDone: 45 * 1024 * 1024,
    rateBps: 3 * 1024 * 1024,
    etaSeconds: 18,
    retryAt: null,
    attempts: 1,
    path: { kind: 'direct', transport: 'quic', rttMs: 2 },
    error: null,
    handshake: null,
    files: [],
    events: [],
    restored: false,
    needsConfirm: false,
    ...j,
  };
}

/** An offer view with defaults (a known peer sending two files). */
export function offer(o: Partial<OfferView> & { id: string }): OfferView {
  return {
    peerName: 'alice',
    fingerprint: 'ab'.repeat(32),
    shortId: 'abab-abab',
    sas: 'apple banana cherry delta',
    known: true,
    files: [
      { path: 'a.txt', size: 1024 },
      { path: 'b.txt', size: 2048 },
    ],
    folders: 0,
    total: 3072,
    resuming: false,
    targetDir: '/home/me/Downloads',
    ...o,
  };
}

/** An empty snapshot of device "laptop". */
export function emptySnapshot(): AppSnapshot {
  return {
    version: 1,
    device: { name: 'laptop', fingerprint: 'cd'.repeat(32), shortId: 'cdcd-cdcd' },
    network: { relays: ['relay.example:7000'], relayStatus: 'reachable', discovery: 'on' },
    peers: [],
    jobs: [],
    offers: [],
    notices: [],
    settings: [
      { key: 'maxConcurrent', value: '3', help: 'transfers at once' },
      { key: 'autoResume', value: 'ask', help: 'resume earlier sessions at start' },
    ],
    downloadDir: '/home/me/Downloads',
  };
}

/** The fake controller. */
export class FakeController implements FerryController {
  readonly calls: Call[] = [];
  /** Make a command fail: the method throws (or its promise rejects) with this error. */
  readonly failures = new Map<keyof FerryController, Error>();
  /** What `sendByCode` returns. */
  codeResult = { id: 'job-code', code: '7-purple-sausage-tiger' };
  closed = false;
  private snap: AppSnapshot;

  constructor(init: Partial<Omit<AppSnapshot, 'version'>> = {}) {
    this.snap = { ...emptySnapshot(), ...init };
  }

  /** Change the snapshot (bumping its version). */
  set(patch: Partial<Omit<AppSnapshot, 'version'>>): void {
    this.snap = { ...this.snap, ...patch, version: this.snap.version + 1 };
  }

  /** Calls of one method, as argument lists. */
  callsOf(method: keyof FerryController): (readonly unknown[])[] {
    return this.calls.filter((c) => c.method === method).map((c) => c.args);
  }

  private record(method: keyof FerryController, ...args: unknown[]): void {
    this.calls.push({ method, args });
    const err = this.failures.get(method);
    if (err) throw err;
  }

  snapshot(): AppSnapshot {
    return this.snap;
  }
  async sendToPeer(paths: readonly string[], peerId: string): Promise<string> {
    this.record('sendToPeer', paths, peerId);
    return 'job-new';
  }
  async sendByCode(paths: readonly string[]): Promise<{ id: string; code: string }> {
    this.record('sendByCode', paths);
    return this.codeResult;
  }
  async receiveByCode(code: string, dir?: string): Promise<string> {
    this.record('receiveByCode', code, dir);
    return 'job-recv';
  }
  answerOffer(id: string, answer: OfferAnswer): void {
    this.record('answerOffer', id, answer);
  }
  confirmPeer(jobId: string, ok: boolean): void {
    this.record('confirmPeer', jobId, ok);
  }
  pause(id: string): void {
    this.record('pause', id);
  }
  resume(id: string): void {
    this.record('resume', id);
  }
  togglePause(id: string): void {
    this.record('togglePause', id);
  }
  cancel(id: string): void {
    this.record('cancel', id);
  }
  setPriority(id: string, priority: Priority): void {
    this.record('setPriority', id, priority);
  }
  retryNow(id: string): void {
    this.record('retryNow', id);
  }
  pauseAll(): void {
    this.record('pauseAll');
  }
  resumeAll(): void {
    this.record('resumeAll');
  }
  discard(id: string): void {
    this.record('discard', id);
  }
  setSetting(key: string, value: string): void {
    this.record('setSetting', key, value);
  }
  trustPeer(fingerprint: string): void {
    this.record('trustPeer', fingerprint);
  }
  async close(): Promise<void> {
    this.record('close');
    this.closed = true;
  }
}
