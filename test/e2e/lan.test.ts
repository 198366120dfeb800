/**
 * LAN end to end with real processes: mDNS on loopback (a port of this
 * file's own), direct QUIC links, no relay. A code send found on the LAN
 * pins both sides; `receive --listen` + `send --to` by name; a new device
 * without a terminal is refused; an impostor using a known name is refused
 * on both ends.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity } from '../../src/engine/crypto/identity.js';
import type { Link } from '../../src/engine/transport/link.js';
import { dialTcp } from '../../src/engine/transport/tcp-link.js';
import { type FerryProcess, ferry, killWhenCheckpointed, onlyLoopback } from './cli-process.js';

let dir: string;
let file: string;
const alive: FerryProcess[] = [];
const cfg = (who: string) => join(dir, `cfg-${who}`);
const noRelay = { FERRY_RELAY: '' };

async function sha(p: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(p))
    .digest('hex');
}

function run(args: string[]): FerryProcess {
  const p = ferry(args, noRelay);
  alive.push(p);
  return p;
}

async function json(args: string[]): Promise<Record<string, unknown>[]> {
  const p = run([...args, '--json']);
  expect(await p.exit, p.stderr).toBe(0);
  return p.lines;
}

async function listen(who: string, out: string): Promise<FerryProcess> {
  await mkdir(out, { recursive: true });
  const l = run(['receive', '--listen', '--yes', '--dir', out, '--json', '--config-dir', cfg(who)]);
  await l.waitFor((x) => x['type'] === 'listening', 20_000);
  return l;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-lan-'));
  file = join(dir, 'photo.bin');
  await writeFile(file, randomBytes(3 * 1024 * 1024 + 17));
  for (const [who, name] of [
    ['a', 'alice-laptop'],
    ['b', 'bob-desktop'],
    ['m', 'alice-laptop'],
  ] as const) {
    await json(['id', '--name', name, '--config-dir', cfg(who)]);
  }
});

afterAll(async () => {
  for (const p of alive) if (p.proc.exitCode === null) p.proc.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!onlyLoopback)('on the LAN, without a relay', () => {
  it('a code send is found by mDNS and goes direct; both sides then know each other', async () => {
    const code = '77-apple-river-stone';
    const out = join(dir, 'out-code');
    await mkdir(out);
    const s = run(['send', file, '--code', code, '--json', '--config-dir', cfg('a')]);
    await s.waitFor((l) => l['type'] === 'code');
    const r = run(['receive', code, '--yes', '--dir', out, '--json', '--config-dir', cfg('b')]);
    expect(await r.exit, r.stderr).toBe(0);
    expect(await s.exit, s.stderr).toBe(0);
    expect(r.lines.find((l) => l['type'] === 'connected')).toMatchObject({ path: 'direct' });
    expect(r.lines.find((l) => l['type'] === 'offer')).toMatchObject({ peer_name: 'alice-laptop' });
    expect(await sha(join(out, 'photo.bin'))).toBe(await sha(file));
    expect(s.lines.find((l) => l['type'] === 'pinned')).toMatchObject({
      nickname: 'bob-desktop',
      by: 'code',
    });
    expect(r.lines.find((l) => l['type'] === 'pinned')).toMatchObject({
      nickname: 'alice-laptop',
      by: 'code',
    });

    const [list] = await json(['peers', '--wait', '0', '--config-dir', cfg('b')]);
    expect(list).toMatchObject({
      type: 'peers',
      peers: [{ nickname: 'alice-laptop', known: true }],
    });
  }, 60_000);

  it('settings apply: a receive without --dir lands in the download dir setting', async () => {
    const inbox = join(dir, 'inbox');
    await mkdir(inbox);
    const cfgR = cfg('settings-r');
    const set = await json(['settings', 'download-dir', inbox, '--config-dir', cfgR]);
    expect(set.at(-1)).toMatchObject({ type: 'setting', key: 'downloadDir', value: inbox });
    const code = '78-apple-river-stone';
    const s = run(['send', file, '--code', code, '--json', '--config-dir', cfg('settings-s')]);
    await s.waitFor((l) => l['type'] === 'code');
    const r = run(['receive', code, '--yes', '--json', '--config-dir', cfgR]);
    expect(await r.exit, r.stderr).toBe(0);
    expect(await s.exit, s.stderr).toBe(0);
    expect(await sha(join(inbox, 'photo.bin'))).toBe(await sha(file));
  }, 60_000);

  it('receive --listen takes send --to <name> from a known peer, then a new device without a terminal is refused', async () => {
    const out = join(dir, 'out-listen');
    const l = await listen('b', out);

    const [seen] = (await json(['peers', '--wait', '1', '--config-dir', cfg('a')])) as [
      { peers: { name: string; online: boolean; known: boolean }[] },
    ];
    expect(seen.peers).toContainEqual(
      expect.objectContaining({ name: 'bob-desktop', online: true, known: true }),
    );

    const s = run(['send', file, '--to', 'bob-desktop', '--json', '--config-dir', cfg('a')]);
    expect(await s.exit, s.stderr).toBe(0);
    expect(s.lines.find((x) => x['type'] === 'connected')).toMatchObject({
      path: 'direct',
      transport: 'quic',
    });
    await l.waitFor((x) => x['type'] === 'completed', 20_000);
    expect(l.lines.find((x) => x['type'] === 'offer')).toMatchObject({
      known: true,
      peer_name: 'alice-laptop',
    });
    expect(await sha(join(out, 'photo.bin'))).toBe(await sha(file));

    // A device nobody knows, with no terminal to compare words: refused before connecting.
    const stranger = run(['send', file, '--to', 'bob-desktop', '--json', '--config-dir', cfg('c')]);
    expect(await stranger.exit).toBe(2);
    expect(stranger.stderr + JSON.stringify(stranger.lines)).toMatch(
      /not a known device.*ferry peers trust/,
    );

    // A name nobody announces.
    const nobody = run([
      'send',
      file,
      '--to',
      'nobody-here',
      '--wait',
      '1',
      '--json',
      '--config-dir',
      cfg('a'),
    ]);
    expect(await nobody.exit).toBe(1);
    expect(JSON.stringify(nobody.lines)).toMatch(/no device matches 'nobody-here'/);

    // One Ctrl+C: an orderly stop, with a goodbye that a watching device sees at once.
    const watch = run(['peers', '--watch', '--wait', '0', '--json', '--config-dir', cfg('a')]);
    const bobOnline = (x: Record<string, unknown>, online: boolean) =>
      x['type'] === 'peers' &&
      (x['peers'] as { name: string; online: boolean }[]).some(
        (p) => p.name === 'bob-desktop' && p.online === online,
      );
    await watch.waitFor((x) => bobOnline(x, true), 10_000);
    l.proc.kill('SIGINT');
    expect(await l.exit).toBe(130);
    expect(l.lines.at(-1)).toEqual({ type: 'stopped' });
    await watch.waitFor((x) => bobOnline(x, false), 5_000); // expiry alone would take 31 s
    watch.proc.kill('SIGINT');
    expect(await watch.exit).toBe(130);
  }, 90_000);

  it('an impostor using a known name is refused by the receiver and never chosen by the sender', async () => {
    // m calls itself 'alice-laptop' (a's name) with its own key. It pins b by
    // b's whole fingerprint (as a user reading 'ferry id' on b would) and sends.
    const [bId] = await json(['id', '--config-dir', cfg('b')]);
    const out = join(dir, 'out-impostor');
    const l = await listen('b', out);
    const trusted = await json([
      'peers',
      'trust',
      String(bId!['short_id']),
      '--config-dir',
      cfg('m'),
    ]);
    expect(trusted.at(-1)).toMatchObject({ type: 'pinned', by: 'manual' });
    const m = run(['send', file, '--to', 'bob-desktop', '--json', '--config-dir', cfg('m')]);
    expect(await m.exit).toBe(1);
    expect(m.lines.at(-1)).toMatchObject({ type: 'error', code: 'DECLINED' });
    await l.waitFor((x) => x['type'] === 'refused', 10_000);
    expect(l.stderr).toMatch(/WARNING: this sender calls itself 'alice-laptop'.*key is different/);
    l.proc.kill('SIGINT');
    await l.exit;

    // Now the impostor listens under a's name while a is away: b sending to 'alice-laptop' refuses.
    const fake = await listen('m', join(dir, 'out-fake'));
    const s = run([
      'send',
      file,
      '--to',
      'alice-laptop',
      '--wait',
      '2',
      '--json',
      '--config-dir',
      cfg('b'),
    ]);
    expect(await s.exit).toBe(1);
    expect(JSON.stringify(s.lines)).toMatch(/not online.*WARNING.*different key/);
    expect(fake.lines.some((x) => x['type'] === 'offer')).toBe(false);
    fake.proc.kill('SIGINT');
    await fake.exit;
  }, 90_000);
});

describe.skipIf(!onlyLoopback)('resuming a direct LAN send', () => {
  it('the listener is killed -9 mid-way and the same send --to resumes; then the sender is killed and ferry resume <id> finishes', async () => {
    // a and b know each other from the first test of this file.
    const big = join(dir, 'big.bin');
    await writeFile(big, randomBytes(64 * 1024 * 1024));
    const out = join(dir, 'out-resume');
    await mkdir(out);
    const listenArgs = [
      'receive',
      '--listen',
      '--yes',
      '--dir',
      out,
      '--json',
      '--config-dir',
      cfg('b'),
    ];
    const slowCheckpoints = { ...noRelay, FERRY_CHECKPOINT_MS: '200' };
    const l1 = ferry(listenArgs, slowCheckpoints);
    alive.push(l1);
    await l1.waitFor((x) => x['type'] === 'listening', 20_000);
    const s1 = run(['send', big, '--to', 'bob-desktop', '--json', '--config-dir', cfg('a')]);
    await killWhenCheckpointed(l1, cfg('b'), 8 * 1024 * 1024);
    expect(await s1.exit).toBe(1);
    expect(s1.lines.at(-1)).toMatchObject({
      type: 'error',
      message: expect.stringMatching(/run the same command again to resume/),
    });

    const l2 = ferry(listenArgs, slowCheckpoints);
    alive.push(l2);
    await l2.waitFor((x) => x['type'] === 'listening', 20_000);
    const s2 = run(['send', big, '--to', 'bob-desktop', '--json', '--config-dir', cfg('a')]);
    expect(await s2.exit, s2.stderr).toBe(0);
    const started = await l2.waitFor((x) => x['type'] === 'started', 10_000);
    expect(started['resumed_bytes']).toBeGreaterThanOrEqual(8 * 1024 * 1024);
    await l2.waitFor((x) => x['type'] === 'completed', 20_000);
    expect(await sha(join(out, 'big.bin'))).toBe(await sha(big));

    // Now the sender side dies mid-way; `ferry resume <id>` on it finishes, the listener stays up.
    const big2 = join(dir, 'big2.bin');
    await writeFile(big2, randomBytes(64 * 1024 * 1024));
    const seenBefore = l2.lines.length;
    // Limited, so it cannot finish before it is killed on a fast loopback.
    const s3 = run([
      'send',
      big2,
      '--to',
      'bob-desktop',
      '--limit',
      '16M',
      '--json',
      '--config-dir',
      cfg('a'),
    ]);
    // Lines of this transfer only: the listener already printed progress of the first one.
    await l2.waitFor(
      (x) =>
        l2.lines.indexOf(x) >= seenBefore &&
        x['type'] === 'progress' &&
        Number(x['bytes']) >= 8 * 1024 * 1024,
      30_000,
    );
    s3.proc.kill('SIGKILL');
    await s3.exit;
    const listed = await json(['sessions', '--config-dir', cfg('a')]);
    const rec = (listed.at(-1)!['sessions'] as { id: string; files: { path: string }[] }[]).find(
      (x) => x.files[0]?.path === 'big2.bin',
    )!;
    const s4 = run(['resume', rec.id.slice(0, 8), '--json', '--config-dir', cfg('a')]);
    expect(await s4.exit, s4.stderr).toBe(0);
    const resumed = await l2.waitFor(
      (x) =>
        x['type'] === 'started' && x['transfer_id'] === rec.id && Number(x['resumed_bytes']) > 0,
      30_000,
    );
    expect(resumed['resumed_bytes']).toBeGreaterThan(0);
    await l2.waitFor(
      (x) =>
        x['type'] === 'completed' && (x['files'] as { path: string }[])[0]?.path === 'big2.bin',
      30_000,
    );
    expect(await sha(join(out, 'big2.bin'))).toBe(await sha(big2));
    l2.proc.kill('SIGINT');
    await l2.exit;
  }, 180_000);
});

describe.skipIf(!onlyLoopback)('resuming a code session on the LAN', () => {
  it('both sides killed -9; ferry resume <id> on each finds the other by mDNS, no code, no relay', async () => {
    const big = join(dir, 'big3.bin');
    await writeFile(big, randomBytes(64 * 1024 * 1024));
    const out = join(dir, 'out-code-resume');
    await mkdir(out);
    const code = '88-apple-river-stone';
    const slow = { ...noRelay, FERRY_CHECKPOINT_MS: '200' };
    const s = ferry(['send', big, '--code', code, '--json', '--config-dir', cfg('code-s')], slow);
    alive.push(s);
    await s.waitFor((x) => x['type'] === 'code');
    const r = ferry(
      ['receive', code, '--yes', '--dir', out, '--json', '--config-dir', cfg('code-r')],
      slow,
    );
    alive.push(r);
    await killWhenCheckpointed(r, cfg('code-r'), 8 * 1024 * 1024);
    s.proc.kill('SIGKILL');
    await s.exit;
    const listed = await json(['sessions', '--config-dir', cfg('code-r')]);
    const rec = (listed.at(-1)!['sessions'] as { id: string; files: { path: string }[] }[]).find(
      (x) => x.files[0]?.path === 'big3.bin',
    )!;
    const s2 = run(['resume', rec.id, '--json', '--config-dir', cfg('code-s')]);
    const r2 = run(['resume', rec.id, '--json', '--config-dir', cfg('code-r')]);
    expect(await r2.exit, r2.stderr).toBe(0);
    expect(await s2.exit, s2.stderr).toBe(0);
    expect(r2.lines.find((x) => x['type'] === 'connected')).toMatchObject({ path: 'direct' });
    expect(Number(r2.lines.find((x) => x['type'] === 'started')!['resumed_bytes'])).toBeGreaterThan(
      0,
    );
    expect(await sha(join(out, 'big3.bin'))).toBe(await sha(big));
  }, 120_000);
});

describe.skipIf(!onlyLoopback)('a listener under a connection flood', () => {
  it('holds at most 8 connections, turns the 9th away, and drops ones that open no stream', async () => {
    const l = await listen('flood', join(dir, 'out-flood'));
    const port = Number(l.lines.find((x) => x['type'] === 'listening')!['tcp_port']);
    const closed = (link: Link, ms: number) =>
      Promise.race([
        link.acceptStream().then((s) => s === null),
        new Promise<false>((r) => setTimeout(() => r(false), ms)),
      ]);
    const idle: Link[] = [];
    for (let i = 0; i < 8; i++) {
      idle.push((await dialTcp({ identity: generateIdentity(), host: '127.0.0.1', port })).link);
    }
    await new Promise((r) => setTimeout(r, 300));
    const ninth = (await dialTcp({ identity: generateIdentity(), host: '127.0.0.1', port })).link;
    expect(await closed(ninth, 5000)).toBe(true);
    // The idle ones are dropped after the stream wait (10 s), freeing the slots.
    expect(await Promise.all(idle.map((x) => closed(x, 15_000)))).toEqual(Array(8).fill(true));
    l.proc.kill('SIGINT');
    expect(await l.exit).toBe(130);
  }, 60_000);
});
