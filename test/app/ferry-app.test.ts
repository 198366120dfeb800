/**
 * The app core for real: two FerryApp instances with their own config dirs
 * find each other by mDNS on loopback and send over QUIC. First contact
 * needs both users (the sender confirms the words, the receiver accepts the
 * offer); the next send between the now-known peers still asks the receiver
 * unless it chose "always". One side quits mid-transfer and starts again on
 * the same config dir: the queue reloads and the transfer resumes to a
 * verified file, sending only what was missing.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AppSnapshot, JobView } from '../../src/app/controller.js';
import { FerryApp } from '../../src/app/ferry-app.js';
import { FerryConfig } from '../../src/store/config.js';
import { SessionRegistry } from '../../src/store/session-store.js';
import { ferry, mdnsEnv, onlyLoopback } from '../e2e/cli-process.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const sha = async (p: string) =>
  createHash('sha256')
    .update(await readFile(p))
    .digest('hex');

async function until<T>(
  what: string,
  fn: () => T | undefined | false,
  ms = 30_000,
  explain: () => unknown = () => '',
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${what} ${JSON.stringify(explain(), null, 1)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

const env = { ...process.env, ...mdnsEnv, FERRY_RELAY: '' };

async function open(configDir: string, downloadDir?: string): Promise<FerryApp> {
  if (downloadDir) FerryConfig.open(configDir).updateSettings({ downloadDir });
  const app = await FerryApp.start({ configDir, mdnsInterface: '127.0.0.1', env });
  cleanups.push(() => app.close());
  return app;
}

const job = (s: AppSnapshot, id: string): JobView | undefined => s.jobs.find((j) => j.id === id);

describe.skipIf(!onlyLoopback)('FerryApp: two instances on loopback', () => {
  it('first contact, words confirmed on both sides; pinned; quit mid-way and resume after restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-app-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const inbox = join(dir, 'inbox');
    await mkdir(inbox);
    const src = join(dir, 'movie.bin');
    await writeFile(src, randomBytes(24 * 1024 * 1024 + 123));
    const cfgA = join(dir, 'a');
    const cfgB = join(dir, 'b');
    FerryConfig.open(cfgA).setDeviceName('alice-box');
    FerryConfig.open(cfgB).setDeviceName('bob-box');
    // Slow the receiver down so there is time to quit mid-way.
    FerryConfig.open(cfgB).updateSettings({ rateLimit: 4 * 1024 * 1024 });
    const a = await open(cfgA);
    let b = await open(cfgB, inbox);
    const bFp = b.snapshot().device.fingerprint;

    const bobSeen = await until('alice to see bob', () =>
      a.snapshot().peers.find((p) => p.fingerprint === bFp && p.online),
    );
    expect(bobSeen).toMatchObject({ name: 'bob-box', badge: 'new' });
    // A new device name reaches the peers at once, not at the next start.
    b.setSetting('deviceName', 'bob-renamed');
    await until('alice to see the new name', () =>
      a.snapshot().peers.find((p) => p.fingerprint === bFp && p.name === 'bob-renamed'),
    );

    const id = await a.sendToPeer([src], bFp);
    // The sender holds the data until its user compares the words…
    const waiting = await until('the confirm question', () => {
      const j = job(a.snapshot(), id);
      return j?.needsConfirm ? j : undefined;
    });
    // …and the receiver is asked about the offer, with the same words.
    const offer = await until('the offer', () => b.snapshot().offers[0]);
    expect(offer).toMatchObject({ peerName: 'alice-box', known: false, resuming: false });
    expect(offer.files).toEqual([{ path: 'movie.bin', size: 24 * 1024 * 1024 + 123 }]);
    expect(offer.sas).toBe(waiting.handshake?.sas);
    b.answerOffer(offer.id, 'accept');
    a.confirmPeer(id, true);

    // A pause on the receiver shows on the sender as the peer's.
    await until('bytes moving', () => (job(b.snapshot(), id)?.bytesDone ?? 0) > 0, 60_000);
    b.togglePause(id);
    const held = await until('the sender to show the pause', () => {
      const j = job(a.snapshot(), id);
      return j?.pausedByPeer ? j : undefined;
    });
    expect(held).toMatchObject({ state: 'paused', rateBps: 0, etaSeconds: null });
    b.togglePause(id);
    await until('the sender to go on', () => job(a.snapshot(), id)?.state === 'transferring');
    expect(job(a.snapshot(), id)?.pausedByPeer).toBe(false);

    // Quit the receiver once a good part arrived (its checkpoint is on disk).
    await until(
      'progress',
      () => (job(b.snapshot(), id)?.bytesDone ?? 0) > 6 * 1024 * 1024,
      60_000,
    );
    await new Promise((r) => setTimeout(r, 1200)); // one checkpoint interval
    await b.close();
    expect(
      SessionRegistry.open(cfgB)
        .list()
        .find((r) => r.id === id)?.state,
    ).not.toBe('done');
    // The sender sees the peer vanish and waits for it (not a failure).
    await until('the sender to wait', () => {
      const s = job(a.snapshot(), id)?.state;
      return s === 'waiting-for-peer' || s === 'retrying' || s === 'queued' || s === 'connecting';
    });

    // Restart the receiver on the same config dir: no question this time
    // (the transfer was accepted before), only the missing part travels.
    FerryConfig.open(cfgB).updateSettings({ rateLimit: null });
    b = await open(cfgB);
    const restored = job(b.snapshot(), id);
    expect(restored?.direction).toBe('receive');
    a.retryNow(id);
    const done = await until(
      'done on both sides',
      () =>
        job(a.snapshot(), id)?.state === 'done' && job(b.snapshot(), id)?.state === 'done'
          ? job(a.snapshot(), id)
          : undefined,
      90_000,
      () =>
        [a, b].map((x) => {
          const j = job(x.snapshot(), id);
          return { state: j?.state, error: j?.error, events: j?.events.map((e) => e.text) };
        }),
    );
    expect(done.events.some((e) => /already there/.test(e.text))).toBe(true);
    expect(b.snapshot().offers).toEqual([]);
    expect(await sha(join(inbox, 'movie.bin'))).toBe(await sha(src));
    // Both sides pinned each other after the confirmed first contact.
    expect(FerryConfig.open(cfgA).knownPeer(bFp)?.pinnedBy).toBe('sas');
    expect(FerryConfig.open(cfgB).knownPeer(a.snapshot().device.fingerprint)?.pinnedBy).toBe('sas');
    // The same file to the same device again: the finished job (same id)
    // makes way on both sides; known now, so no word check, one question.
    expect(await a.sendToPeer([src], bFp)).toBe(id);
    const again = await until('the second offer', () => b.snapshot().offers[0]);
    expect(again.known).toBe(true);
    b.answerOffer(again.id, 'accept');
    await until(
      'the second send done',
      () => job(a.snapshot(), id)?.state === 'done' && job(b.snapshot(), id)?.state === 'done',
      60_000,
    );
    expect(job(b.snapshot(), id)?.restored).toBe(false);
  }, 180_000);

  it('a declined offer fails the send with the reason, and nothing is written', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-app-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const inbox = join(dir, 'inbox');
    await mkdir(inbox);
    const src = join(dir, 'note.txt');
    await writeFile(src, 'hello');
    const a = await open(join(dir, 'a'));
    const b = await open(join(dir, 'b'), inbox);
    const bFp = b.snapshot().device.fingerprint;
    await until('peer', () => a.snapshot().peers.find((p) => p.fingerprint === bFp && p.online));
    const id = await a.sendToPeer([src], bFp);
    await until('confirm', () => job(a.snapshot(), id)?.needsConfirm);
    a.confirmPeer(id, true);
    const offer = await until('offer', () => b.snapshot().offers[0]);
    b.answerOffer(offer.id, 'decline');
    const failed = await until('failed', () => {
      const j = job(a.snapshot(), id);
      return j?.state === 'failed' ? j : undefined;
    });
    expect(failed.error?.message).toMatch(/declined/);
    expect(job(b.snapshot(), id)).toBeUndefined();
    expect(FerryConfig.open(join(dir, 'a')).knownPeer(bFp)).toBeUndefined();
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(inbox)).toEqual([]);
  }, 60_000);

  it('works with the headless commands: receives a `ferry send` code, takes a `send --to`, sends by code to `ferry receive` (LAN, no relay)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-app-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const inbox = join(dir, 'inbox');
    await mkdir(inbox);
    const src = join(dir, 'photo.jpg');
    await writeFile(src, randomBytes(3 * 1024 * 1024 + 7));
    const app = await open(join(dir, 'app'), inbox);
    FerryConfig.open(join(dir, 'app')).setDeviceName('app-box');

    // 1. `ferry send` prints a code; the app receives by it (found on the LAN, no relay).
    const sender = ferry(['send', src, '--json', '--config-dir', join(dir, 'cli')], {
      FERRY_RELAY: '',
    });
    cleanups.push(async () => sender.proc.kill('SIGKILL'));
    const { code } = (await sender.waitFor((l) => l['type'] === 'code')) as { code: string };
    await expect(app.receiveByCode('not a code')).rejects.toThrow(/code/i);
    await expect(app.receiveByCode(code, join(dir, 'nowhere'))).rejects.toThrow(
      `Save to ${join(dir, 'nowhere')}: no such folder (create it first)`,
    );
    const id = await app.receiveByCode(code);
    const offer = await until('the offer', () => app.snapshot().offers[0]);
    expect(offer.files).toEqual([{ path: 'photo.jpg', size: 3 * 1024 * 1024 + 7 }]);
    app.answerOffer(offer.id, 'accept');
    await until('done', () => job(app.snapshot(), id)?.state === 'done', 60_000);
    expect(await sender.exit).toBe(0);
    expect(await sha(join(inbox, 'photo.jpg'))).toBe(await sha(src));
    // The code proved both sides: each pinned the other.
    const cliFp = job(app.snapshot(), id)?.handshake?.fingerprint;
    expect(cliFp && FerryConfig.open(join(dir, 'app')).knownPeer(cliFp)?.pinnedBy).toBe('code');

    // 2. Now known to each other: `ferry send --to` the app; the app asks
    // (known, not auto-accept), the user says "always".
    const again = join(dir, 'again.txt');
    await writeFile(again, 'second file');
    const to = ferry(
      [
        'send',
        again,
        '--to',
        app.snapshot().device.shortId,
        '--json',
        '--config-dir',
        join(dir, 'cli'),
      ],
      { FERRY_RELAY: '' },
    );
    cleanups.push(async () => to.proc.kill('SIGKILL'));
    const second = await until('the second offer', () => app.snapshot().offers[0], 30_000);
    expect(second.known).toBe(true);
    app.answerOffer(second.id, 'always');
    expect(await to.exit).toBe(0);
    expect(await readFile(join(inbox, 'again.txt'), 'utf8')).toBe('second file');
    expect(cliFp && FerryConfig.open(join(dir, 'app')).knownPeer(cliFp)?.autoAccept).toBe(true);

    // 3. The app sends two files by code at once on the LAN (no relay); a
    // `ferry receive CODE` finds each, the older one too.
    const out = join(dir, 'cli-inbox');
    await mkdir(out);
    const sent = await app.sendByCode([src]);
    const newer = await app.sendByCode([again]);
    expect(job(app.snapshot(), sent.id)?.code).toBe(sent.code);
    for (const [s, cfg] of [
      [sent, 'cli2'],
      [newer, 'cli3'],
    ] as const) {
      const receiver = ferry(
        ['receive', s.code, '--yes', '--dir', out, '--json', '--config-dir', join(dir, cfg)],
        { FERRY_RELAY: '' },
      );
      cleanups.push(async () => receiver.proc.kill('SIGKILL'));
      expect(await receiver.exit).toBe(0);
      await until('the send done', () => job(app.snapshot(), s.id)?.state === 'done');
    }
    expect(await sha(join(out, 'photo.jpg'))).toBe(await sha(src));
    expect(await readFile(join(out, 'again.txt'), 'utf8')).toBe('second file');
  }, 120_000);

  it('a code session through a real relay (no LAN): the receiver quits mid-way and resumes without the code', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-app-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const relay = ferry([
      'relay',
      '--listen',
      '127.0.0.1:0',
      '--json',
      '--config-dir',
      join(dir, 'r'),
    ]);
    cleanups.push(async () => relay.proc.kill('SIGKILL'));
    const l = await relay.waitFor((x) => x['type'] === 'listening');
    const relayEnv = { ...process.env, FERRY_RELAY: `127.0.0.1:${l['tcp_port']}` };
    const start = async (cfg: string) => {
      const app = await FerryApp.start({ configDir: join(dir, cfg), mdns: false, env: relayEnv });
      cleanups.push(() => app.close());
      return app;
    };
    const inbox = join(dir, 'inbox');
    await mkdir(inbox);
    const src = join(dir, 'archive.tar');
    await writeFile(src, randomBytes(16 * 1024 * 1024 + 9));
    FerryConfig.open(join(dir, 'b')).updateSettings({
      downloadDir: inbox,
      rateLimit: 3 * 1024 * 1024,
    });
    const a = await start('a');
    let b = await start('b');
    const { id, code } = await a.sendByCode([src]);
    const rid = await b.receiveByCode(code);
    const offer = await until('the offer', () => b.snapshot().offers[0]);
    expect(offer.sas).toMatch(/^\w+-\w+-\w+$/);
    b.answerOffer(offer.id, 'accept');
    await until(
      'progress',
      () => (job(b.snapshot(), rid)?.bytesDone ?? 0) > 4 * 1024 * 1024,
      60_000,
    );
    expect(job(b.snapshot(), rid)?.path).toMatchObject({ kind: 'relay' });
    await new Promise((r) => setTimeout(r, 1200));
    await b.close();
    FerryConfig.open(join(dir, 'b')).updateSettings({ rateLimit: null });
    b = await start('b');
    // No code typed again: the restored job meets the sender under the resume rendezvous.
    await until(
      'done on both sides',
      () => job(a.snapshot(), id)?.state === 'done' && job(b.snapshot(), rid)?.state === 'done',
      90_000,
      () => [job(a.snapshot(), id)?.events, job(b.snapshot(), rid)?.events],
    );
    expect(b.snapshot().offers).toEqual([]);
    expect(await sha(join(inbox, 'archive.tar'))).toBe(await sha(src));
    expect(job(a.snapshot(), id)?.events.some((e) => /already there/.test(e.text))).toBe(true);
  }, 150_000);
});
