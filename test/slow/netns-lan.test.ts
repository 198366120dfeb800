/**
 * Opt-in, root only (FERRY_NETNS=1, outside the test namespace):
 *
 *   sudo FERRY_NETNS=1 FERRY_NO_NETNS=1 npx vitest run test/slow/netns-lan.test.ts
 *
 * Two network namespaces joined by a veth pair, each with the multicast
 * route mDNS needs (224.0.0.0/4 via the veth). In them, two ferry
 * processes meet as they would on two machines: a code send found by mDNS
 * and connected directly (which pins both sides), then `ferry receive
 * --listen` in one and `ferry send --to` in the other. Files are compared,
 * the namespaces deleted. No traffic leaves the namespaces.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const tag = `f${process.pid % 100000}`;
const ns = { a: `${tag}-a`, b: `${tag}-b` };
const addr = { a: '10.231.0.1', b: '10.231.0.2' };

function why(): string | null {
  if (process.env['FERRY_NETNS'] !== '1')
    return 'set FERRY_NETNS=1 (root, outside `npm test`) to run it';
  if (process.getuid?.() !== 0) return 'needs root';
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
  } catch {
    return "no usable 'ip netns' here (inside the test namespace? run with FERRY_NO_NETNS=1)";
  }
  return null;
}
const reason = why();
if (reason) console.log(`skipping the two-namespace LAN test: ${reason}`);

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });

interface Run {
  proc: ChildProcess;
  lines: Record<string, unknown>[];
  stderr: string;
  exit: Promise<number>;
}

function ferryIn(side: 'a' | 'b', args: string[]): Run {
  const proc = spawn(
    'ip',
    ['netns', 'exec', ns[side], process.execPath, '--import', 'tsx', 'src/cli.ts', ...args],
    {
      cwd: root,
      env: { ...process.env, FERRY_MDNS_INTERFACE: addr[side], FERRY_RELAY: '', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const r: Run = {
    proc,
    lines: [],
    stderr: '',
    exit: new Promise((res) => proc.on('exit', (c) => res(c ?? -1))),
  };
  let buf = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      try {
        r.lines.push(JSON.parse(buf.slice(0, nl)));
      } catch {
        // not JSON
      }
      buf = buf.slice(nl + 1);
    }
  });
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
    r.stderr += d;
  });
  return r;
}

async function until(r: Run, pred: (l: Record<string, unknown>) => boolean, ms: number) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const l = r.lines.find(pred);
    if (l) return l;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`timed out; stderr:\n${r.stderr}`);
}

const sha = async (p: string) =>
  createHash('sha256')
    .update(await readFile(p))
    .digest('hex');

let dir: string;
const procs: Run[] = [];

describe.skipIf(reason !== null)('two machines on a veth link (root, opt-in)', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-netns-'));
    ip('netns', 'add', ns.a);
    ip('netns', 'add', ns.b);
    ip('link', 'add', `${tag}a`, 'type', 'veth', 'peer', 'name', `${tag}b`);
    for (const side of ['a', 'b'] as const) {
      const dev = `${tag}${side}`;
      ip('link', 'set', dev, 'netns', ns[side]);
      ip('-n', ns[side], 'addr', 'add', `${addr[side]}/24`, 'dev', dev);
      ip('-n', ns[side], 'link', 'set', dev, 'up', 'multicast', 'on');
      ip('-n', ns[side], 'link', 'set', 'lo', 'up');
      ip('-n', ns[side], 'route', 'add', '224.0.0.0/4', 'dev', dev);
    }
  });

  afterAll(async () => {
    for (const p of procs) if (p.proc.exitCode === null) p.proc.kill('SIGKILL');
    for (const n of Object.values(ns)) {
      try {
        ip('netns', 'delete', n);
      } catch {
        // already gone
      }
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('a code send across the link goes direct; then receive --listen / send --to by name', async () => {
    const file = join(dir, 'video.bin');
    await writeFile(file, randomBytes(8 * 1024 * 1024 + 3));
    const cfg = { a: join(dir, 'cfg-a'), b: join(dir, 'cfg-b') };
    const out1 = join(dir, 'out1');
    const out2 = join(dir, 'out2');
    await mkdir(out1);
    await mkdir(out2);
    for (const [side, name] of [
      ['a', 'machine-a'],
      ['b', 'machine-b'],
    ] as const) {
      const r = ferryIn(side, ['id', '--name', name, '--json', '--config-dir', cfg[side]]);
      expect(await r.exit, r.stderr).toBe(0);
    }

    const code = '314-apple-river-stone';
    const s = ferryIn('a', ['send', file, '--code', code, '--json', '--config-dir', cfg.a]);
    procs.push(s);
    await until(s, (l) => l['type'] === 'code', 20_000);
    const r = ferryIn('b', [
      'receive',
      code,
      '--yes',
      '--dir',
      out1,
      '--json',
      '--config-dir',
      cfg.b,
    ]);
    procs.push(r);
    expect(await r.exit, r.stderr).toBe(0);
    expect(await s.exit, s.stderr).toBe(0);
    expect(r.lines.find((l) => l['type'] === 'connected')).toMatchObject({ path: 'direct' });
    expect(await sha(join(out1, 'video.bin'))).toBe(await sha(file));

    const l = ferryIn('b', [
      'receive',
      '--listen',
      '--yes',
      '--dir',
      out2,
      '--json',
      '--config-dir',
      cfg.b,
    ]);
    procs.push(l);
    await until(l, (x) => x['type'] === 'listening', 20_000);
    const t = ferryIn('a', ['send', file, '--to', 'machine-b', '--json', '--config-dir', cfg.a]);
    procs.push(t);
    expect(await t.exit, t.stderr).toBe(0);
    expect(t.lines.find((x) => x['type'] === 'connected')).toMatchObject({ path: 'direct' });
    await until(l, (x) => x['type'] === 'completed', 20_000);
    expect(await sha(join(out2, 'video.bin'))).toBe(await sha(file));
    l.proc.kill('SIGINT');
    await l.exit;
  }, 120_000);
});
