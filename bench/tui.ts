/**
 * TUI benchmark: the real `App` rendered by ink to a throwaway 120×40
 * terminal for 10 s while a simulated controller moves 20 live transfers
 * (bytes, rates, chunk maps, events) every 50 ms. Prints the CPU share of one
 * core over the window (target ≤ 15 %; DESIGN.md measured 11–17 %) and the
 * renders per second. NODE_ENV is production unless set: React's
 * development build is several times slower and is not what users run.
 */
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import type {
  AppSnapshot,
  EventLine,
  FerryController,
  FileView,
  JobView,
  PeerView,
} from '../src/app/controller.js';
import { tuneHeap } from '../src/heap.js';
import type { BenchArgs } from './run.js';

const TRANSFERS = 20;
const TICK_MS = 50;
const WARMUP_MS = 1000;
const WINDOW_MS = 10_000;
const COLUMNS = 120;
const ROWS = 40;
const CHUNK = 1024 * 1024;
const MiB = 1024 * 1024;

interface SimFile {
  readonly path: string;
  readonly size: number;
  chunks: Uint8Array;
}

interface SimJob {
  readonly id: string;
  readonly files: SimFile[];
  readonly total: number;
  readonly rate: number;
  done: number;
  events: EventLine[];
  view: JobView;
}

/** A deterministic pseudo-random sequence, so runs compare. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** A FerryController whose snapshot moves 20 transfers along every 50 ms. */
export class SimulatedController implements FerryController {
  private version = 1;
  private readonly jobs: SimJob[] = [];
  private readonly peers: PeerView[];
  private snap: AppSnapshot;
  private readonly timer: NodeJS.Timeout;
  private readonly random = prng(42);
  /** CPU microseconds spent building snapshots. */
  simCpuMicros = 0;

  constructor() {
    const names = ['alice', 'bob', 'carol', 'dave', 'erin'];
    this.peers = names.map((name, i) => ({
      fingerprint: String(i).repeat(64),
      shortId: `${i}${i}${i}${i}-${i}${i}${i}${i}`,
      name,
      online: i < 4,
      badge: i === 4 ? 'new' : 'known',
      lastSeen: Date.now(),
      autoAccept: false,
    }));
    for (let i = 0; i < TRANSFERS; i++) {
      const nFiles = 1 + (i % 3);
      const files: SimFile[] = [];
      for (let f = 0; f < nFiles; f++) {
        const size = Math.floor((64 + this.random() * 1000) * MiB);
        files.push({
          path: `dir-${i}/file-${f}.bin`,
          size,
          chunks: new Uint8Array(Math.ceil(size / CHUNK)),
        });
      }
      const total = files.reduce((n, f) => n + f.size, 0);
      const job: SimJob = {
        id: `job-${i}`,
        files,
        total,
        rate: (2 + this.random() * 30) * MiB,
        done: Math.floor(this.random() * total * 0.3),
        events: [{ at: Date.now(), text: 'connected over direct QUIC' }],
        view: undefined as unknown as JobView,
      };
      job.view = this.viewOf(job, i);
      this.jobs.push(job);
    }
    this.snap = this.build();
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  private viewOf(j: SimJob, i: number): JobView {
    const remaining = j.total - j.done;
    return {
      id: j.id,
      direction: i % 2 === 0 ? 'send' : 'receive',
      label: j.files.length === 1 ? (j.files[0]?.path ?? '') : `${j.files.length} files`,
      peer: this.peers[i % this.peers.length]?.name ?? '?',
      via: 'lan',
      pausedByPeer: false,
      state: 'transferring',
      priority: i % 5 === 0 ? 'high' : 'normal',
      total: j.total,
      bytesDone: j.done,
      rateBps: j.rate,
      etaSeconds: remaining / j.rate,
      retryAt: null,
      attempts: 1,
      path: { kind: i % 4 === 0 ? 'relay' : 'direct', transport: 'quic', rttMs: 3 + (i % 7) },
      error: null,
      handshake: {
        suite: 'ML-KEM-1024+X25519/CPace/AES-256-GCM',
        sas: 'river stone maple orbit',
        fingerprint: 'ab'.repeat(32),
        usedCode: false,
      },
      files: j.files.map(
        (f): FileView => ({
          path: f.path,
          size: f.size,
          chunkCount: f.chunks.length,
          chunks: f.chunks,
          leavesVerified: f.chunks.filter((c) => c === 3).length,
          root: 'streaming',
          mismatched: [],
        }),
      ),
      events: j.events,
      restored: false,
      needsConfirm: false,
    };
  }

  /** Advance every transfer by 50 ms: bytes, chunk states (a window in flight), events. */
  private tick(): void {
    const cpu0 = process.cpuUsage();
    for (const [i, j] of this.jobs.entries()) {
      const rate = j.rate * (0.8 + this.random() * 0.4);
      j.done = Math.min(j.total, j.done + (rate * TICK_MS) / 1000);
      if (j.done >= j.total) j.done = 0;
      let at = 0;
      for (const f of j.files) {
        const next = new Uint8Array(f.chunks.length);
        for (let c = 0; c < next.length; c++) {
          const start = at + c * CHUNK;
          const ahead = (start - j.done) / CHUNK;
          next[c] = ahead < -8 ? 3 : ahead < -2 ? 2 : ahead < 6 ? 1 : 0;
        }
        if (this.random() < 0.01) next[Math.floor(this.random() * next.length)] = 4;
        f.chunks = next;
        at += f.size;
      }
      if (this.random() < TICK_MS / 2000) {
        j.events = [...j.events.slice(-19), { at: Date.now(), text: `progress ${j.done} bytes` }];
      }
      j.view = this.viewOf(j, i);
    }
    this.version++;
    this.snap = this.build();
    const d = process.cpuUsage(cpu0);
    this.simCpuMicros += d.user + d.system;
  }

  private build(): AppSnapshot {
    return {
      version: this.version,
      device: { name: 'bench', fingerprint: 'cd'.repeat(32), shortId: 'cdcd-cdcd' },
      network: { relays: ['relay.example:7000'], relayStatus: 'reachable', discovery: 'on' },
      peers: this.peers,
      jobs: this.jobs.map((j) => j.view),
      offers: [],
      notices: [],
      settings: [],
      downloadDir: '/tmp',
    };
  }

  snapshot(): AppSnapshot {
    return this.snap;
  }
  async sendToPeer(): Promise<string> {
    return 'x';
  }
  async sendByCode(): Promise<{ id: string; code: string }> {
    return { id: 'x', code: '1-a-b' };
  }
  async receiveByCode(): Promise<string> {
    return 'x';
  }
  answerOffer(): void {}
  confirmPeer(): void {}
  pause(): void {}
  resume(): void {}
  togglePause(): void {}
  cancel(): void {}
  setPriority(): void {}
  retryNow(): void {}
  pauseAll(): void {}
  resumeAll(): void {}
  discard(): void {}
  setSetting(): void {}
  trustPeer(): void {}
  async close(): Promise<void> {
    clearInterval(this.timer);
  }
}

/** A stdin that never types (ink wants raw mode on a TTY). */
class IdleStdin extends EventEmitter {
  readonly isTTY = true;
  read(): null {
    return null;
  }
  setRawMode(): void {}
  setEncoding(): void {}
  ref(): void {}
  unref(): void {}
  resume(): void {}
  pause(): void {}
}

/** Run the TUI scenario. */
export async function tuiBench({ log }: BenchArgs): Promise<Record<string, unknown>> {
  process.env['NODE_ENV'] ??= 'production';
  tuneHeap(); // as the ferry command does
  if (process.env['CI'])
    log('tui: CI is set, so ink skips drawing frames; figures are not meaningful');
  // Imported here, after NODE_ENV is set: React picks its build when first loaded.
  const [{ createElement }, { render }, { App }, { TUI_RENDER_OPTIONS }] = await Promise.all([
    import('react'),
    import('ink'),
    import('../src/ui/App.js'),
    import('../src/ui/run-tui.js'),
  ]);
  let bytes = 0;
  const stdout = Object.assign(
    new Writable({
      write(chunk: Buffer | string, _enc, cb) {
        bytes += chunk.length;
        cb();
      },
    }),
    { columns: COLUMNS, rows: ROWS, isTTY: true },
  );
  const controller = new SimulatedController();
  let renders = 0;
  const instance = render(createElement(App, { controller, onQuit: () => {} }), {
    stdout: stdout as unknown as NodeJS.WriteStream,
    stdin: new IdleStdin() as unknown as NodeJS.ReadStream,
    ...TUI_RENDER_OPTIONS,
    onRender: () => {
      renders++;
    },
  });
  log(
    `tui: ${TRANSFERS} live transfers at ${COLUMNS}×${ROWS}, snapshot every ${TICK_MS} ms, ` +
      `NODE_ENV=${process.env['NODE_ENV']}, ${WINDOW_MS / 1000} s (after ${WARMUP_MS / 1000} s warm-up)`,
  );
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const renders0 = renders;
  const bytes0 = bytes;
  const sim0 = controller.simCpuMicros;
  const cpu0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, WINDOW_MS));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0);
  const sim = (controller.simCpuMicros - sim0) / 1e6;
  instance.unmount();
  await controller.close();

  const total = (cpu.user + cpu.system) / 1e6;
  const cpuPercent = (100 * total) / seconds;
  const simPercent = (100 * sim) / seconds;
  const rendersPerSecond = (renders - renders0) / seconds;
  const kibPerSecond = (bytes - bytes0) / 1024 / seconds;
  log(
    `tui: CPU ${cpuPercent.toFixed(1)} % of one core (target ≤ 15 %): ` +
      `UI ${(cpuPercent - simPercent).toFixed(1)} %, simulator ${simPercent.toFixed(1)} %; ` +
      `event loop busy ${(elu.utilization * 100).toFixed(1)} %`,
  );
  log(
    `tui: ${rendersPerSecond.toFixed(1)} renders/s, ${kibPerSecond.toFixed(0)} KiB/s to the terminal`,
  );
  return {
    scenario: 'tui',
    transfers: TRANSFERS,
    columns: COLUMNS,
    rows: ROWS,
    seconds,
    cpuPercent,
    uiCpuPercent: cpuPercent - simPercent,
    simulatorCpuPercent: simPercent,
    eventLoopUtilization: elu.utilization,
    rendersPerSecond,
    kibPerSecond,
    nodeEnv: process.env['NODE_ENV'],
  };
}
