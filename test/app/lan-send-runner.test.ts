/**
 * The queue driving real LAN sends: a Scheduler with the LanSendRunner sends
 * three files to a real `ferry receive --listen` process over QUIC on
 * loopback, two at a time, all over ONE shared connection.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LanSendRunner } from '../../src/app/lan-send-runner.js';
import { PeerLinks } from '../../src/app/peer-links.js';
import { dialDevice } from '../../src/cli/lan.js';
import { LanDiscovery } from '../../src/discovery/lan.js';
import { generateIdentity } from '../../src/engine/crypto/identity.js';
import { systemClock } from '../../src/engine/queue/bandwidth.js';
import { type QueueEvent, Scheduler } from '../../src/engine/queue/scheduler.js';
import { FerryConfig } from '../../src/store/config.js';
import { type FerryProcess, ferry, mdnsEnv, onlyLoopback } from '../e2e/cli-process.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const sha = async (p: string) =>
  createHash('sha256')
    .update(await readFile(p))
    .digest('hex');

describe.skipIf(!onlyLoopback)('LanSendRunner + Scheduler against a real listener', () => {
  it('three sends, two at a time, over one shared QUIC connection, all verified', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-runner-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const out = join(dir, 'out');
    await mkdir(out);
    const files = await Promise.all(
      [0, 1, 2].map(async (i) => {
        const p = join(dir, `f${i}.bin`);
        await writeFile(p, randomBytes(6 * 1024 * 1024 + i));
        return p;
      }),
    );
    const me = generateIdentity();
    const cfgR = join(dir, 'cfg-r');
    FerryConfig.open(cfgR).pin({ publicKey: me.publicKey, deviceName: 'runner', by: 'manual' });
    const listener: FerryProcess = ferry([
      'receive',
      '--listen',
      '--yes',
      '--dir',
      out,
      '--json',
      '--config-dir',
      cfgR,
    ]);
    cleanups.push(async () => {
      listener.proc.kill('SIGKILL');
      await listener.exit;
    });
    await listener.waitFor((x) => x['type'] === 'listening', 20_000);
    const idp = ferry(['id', '--json', '--config-dir', cfgR]);
    const peerFp = String((await idp.waitFor((x) => x['type'] === 'identity'))['fingerprint']);

    const lan = await LanDiscovery.start({
      publicKey: me.publicKey,
      name: 'runner',
      interface: mdnsEnv.FERRY_MDNS_INTERFACE,
      port: Number(mdnsEnv.FERRY_MDNS_PORT),
      queryIntervalMs: 500,
    });
    cleanups.push(() => lan.close());
    expect(await lan.waitFor((t) => t.get(peerFp)?.online || undefined, 10_000)).toBe(true);

    const links = new PeerLinks({ dial: (p, key, signal) => dialDevice(p, me, key, signal) });
    cleanups.push(() => links.close());
    const runner = new LanSendRunner({
      identity: me,
      table: lan.table,
      links,
      pinnedKey: () => undefined,
      deviceName: () => 'runner',
      chunkSize: () => 256 * 1024,
    });
    const queue = new Scheduler({ runner, clock: systemClock, maxConcurrent: 2 });
    let maxRunning = 0;
    const finished = new Promise<QueueEvent[]>((resolve) => {
      const events: QueueEvent[] = [];
      queue.on((e) => {
        events.push(e);
        maxRunning = Math.max(maxRunning, queue.running);
        const jobs = queue.list();
        if (
          jobs.length === 3 &&
          jobs.every((j) => ['done', 'failed', 'cancelled'].includes(j.state))
        ) {
          resolve(events);
        }
      });
    });
    for (const [i, f] of files.entries()) {
      queue.add({
        id: `job${i}`,
        direction: 'send',
        peer: peerFp,
        data: { paths: [f], peer: peerFp },
      });
    }
    await finished;
    expect(queue.list().map((j) => [j.id, j.state, j.error?.message ?? null])).toEqual([
      ['job0', 'done', null],
      ['job1', 'done', null],
      ['job2', 'done', null],
    ]);
    expect(maxRunning).toBe(2);
    expect(links.dials).toBe(1);
    for (const [i, f] of files.entries()) {
      expect(await sha(join(out, `f${i}.bin`))).toBe(await sha(f));
    }
    await listener.waitFor(
      () => listener.lines.filter((x) => x['type'] === 'completed').length === 3,
      10_000,
    );
    // Three transfers at once on one listener: every line says which one it is about.
    const completed = listener.lines.filter((x) => x['type'] === 'completed');
    expect(new Set(completed.map((x) => x['transfer_id'])).size).toBe(3);
    const progress = listener.lines.filter((x) => x['type'] === 'progress');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every((x) => typeof x['transfer_id'] === 'string')).toBe(true);
  }, 90_000);
});
