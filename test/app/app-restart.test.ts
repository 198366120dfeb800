/**
 * Issue 5's restart tests for the app: two FerryApp processes (known to
 * each other, auto-accept) send a file over the LAN; one side, or both, is
 * killed with SIGKILL mid-way and started again on the same config dir with
 * no command at all. The queue reloads and the transfer finishes verified,
 * with only the missing part sent.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FerryConfig } from '../../src/store/config.js';
import { loadOrCreateIdentity } from '../../src/store/identity-file.js';
import { SessionRegistry } from '../../src/store/session-store.js';
import { mdnsEnv, onlyLoopback } from '../e2e/cli-process.js';

const root = resolve(import.meta.dirname, '../..');
const children = new Set<ChildProcess>();
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

interface JobLine {
  readonly id: string;
  readonly state: string;
  readonly bytesDone: number;
  readonly total: number;
  readonly resumed: boolean;
}

interface Child {
  readonly proc: ChildProcess;
  readonly exit: Promise<unknown>;
  /** Latest line per job id. */
  readonly jobs: Map<string, JobLine>;
}

function child(configDir: string, args: string[] = []): Child {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/app/app-child.ts', configDir, ...args],
    {
      cwd: root,
      env: { ...process.env, ...mdnsEnv, FERRY_RELAY: '' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  children.add(proc);
  const jobs: Child['jobs'] = new Map();
  let buf = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const l = JSON.parse(buf.slice(0, nl)) as { job?: JobLine };
      buf = buf.slice(nl + 1);
      if (l.job) {
        // The app keeps a job's last 12 events: a note seen once stays seen.
        const prev = jobs.get(l.job.id);
        jobs.set(l.job.id, {
          ...l.job,
          resumed: l.job.resumed || (prev?.resumed ?? false),
        });
      }
    }
  });
  const exit = new Promise((r) => proc.on('exit', r));
  return { proc, exit, jobs };
}

async function until(what: string, fn: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function kill(c: Child): Promise<void> {
  c.proc.kill('SIGKILL');
  await c.exit;
}

const sha = async (p: string) =>
  createHash('sha256')
    .update(await readFile(p))
    .digest('hex');

/** Two config dirs that know each other (auto-accept), and a 20 MiB file. */
async function pair() {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-restart-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const inbox = join(dir, 'inbox');
  await mkdir(inbox);
  const src = join(dir, 'data.bin');
  await writeFile(src, randomBytes(20 * 1024 * 1024 + 5));
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  const ia = await loadOrCreateIdentity(a);
  const ib = await loadOrCreateIdentity(b);
  const ca = FerryConfig.open(a);
  const cb = FerryConfig.open(b);
  ca.setDeviceName('sender-box');
  cb.setDeviceName('receiver-box');
  const pa = ca.pin({ publicKey: ib.publicKey, deviceName: 'receiver-box', by: 'manual' }).peer;
  const pb = cb.pin({ publicKey: ia.publicKey, deviceName: 'sender-box', by: 'manual' }).peer;
  cb.updatePeer(pb.fingerprint, { autoAccept: true });
  // Slow enough to be caught mid-way: 3 MiB/s at the receiver.
  cb.updateSettings({ downloadDir: inbox, rateLimit: 3 * 1024 * 1024 });
  return { dir, inbox, src, a, b, bFp: pa.fingerprint };
}

const progressed = (c: Child, bytes: number) => () =>
  [...c.jobs.values()].some((j) => j.bytesDone >= bytes && j.state === 'transferring');
const done = (c: Child) => () =>
  c.jobs.size > 0 && [...c.jobs.values()].every((j) => j.state === 'done');

describe.skipIf(!onlyLoopback)('the app after kill -9 (LAN session)', () => {
  for (const victim of ['receiver', 'sender', 'both'] as const) {
    it(`kill -9 of ${victim === 'both' ? 'both sides' : `the ${victim}`}: a restart with no command resumes it to a verified file`, async () => {
      const p = await pair();
      let rx = child(p.b);
      let tx = child(p.a, ['send', p.src, p.bFp]);
      await until('progress', progressed(rx, 5 * 1024 * 1024));
      await new Promise((r) => setTimeout(r, 1200)); // a checkpoint interval
      if (victim !== 'sender') await kill(rx);
      if (victim !== 'receiver') await kill(tx);
      const id = [...(victim === 'sender' ? rx : tx).jobs.keys()][0]!;
      FerryConfig.open(p.b).updateSettings({ rateLimit: null });
      if (victim !== 'sender') rx = child(p.b);
      if (victim !== 'receiver') tx = child(p.a);
      await until('done on both sides', () => done(rx)() && done(tx)(), 90_000);
      expect(await sha(join(p.inbox, 'data.bin'))).toBe(await sha(p.src));
      // Only the missing part travelled after the restart.
      expect(tx.jobs.get(id)?.resumed).toBe(true);
      const rec = SessionRegistry.open(p.b).get(id);
      expect(rec?.state).toBe('done');
      expect(rec?.bytesDone).toBe(20 * 1024 * 1024 + 5);
      await Promise.all([kill(rx), kill(tx)]);
    }, 150_000);
  }
});
