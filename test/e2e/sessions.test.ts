/**
 * Sessions survive restarts: a code session through a real relay process,
 * both sides killed with SIGKILL mid-way, then `ferry resume <id>` on each
 * side — no code — finishes the file from where it stopped. `ferry sessions`
 * shows the record before and after; `ferry cancel` removes a receive's
 * partial data.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FerryProcess, ferry, killWhenCheckpointed } from './cli-process.js';

const MiB = 1024 * 1024;
let dir: string;
let file: string;
let relay: FerryProcess;
let relayAddr: string;
const alive: FerryProcess[] = [];

function run(args: string[], env: Record<string, string> = {}): FerryProcess {
  // Relay path only: LAN discovery off.
  const p = ferry(['--no-mdns', ...args], {
    FERRY_RELAY: relayAddr,
    FERRY_CHECKPOINT_MS: '200',
    ...env,
  });
  alive.push(p);
  return p;
}

const sha = async (p: string) =>
  createHash('sha256')
    .update(await readFile(p))
    .digest('hex');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-sessions-'));
  file = join(dir, 'movie.bin');
  await writeFile(file, randomBytes(64 * MiB));
  relay = ferry(['relay', '--listen', '127.0.0.1:0', '--json', '--config-dir', join(dir, 'relay')]);
  alive.push(relay);
  const l = await relay.waitFor((x) => x['type'] === 'listening');
  relayAddr = `127.0.0.1:${l['tcp_port']}`;
}, 60_000);

afterAll(async () => {
  for (const p of alive) if (p.proc.exitCode === null) p.proc.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

async function sessions(cfg: string): Promise<Record<string, unknown>[]> {
  const p = run(['sessions', '--json', '--config-dir', cfg]);
  expect(await p.exit, p.stderr).toBe(0);
  return (p.lines.at(-1)!['sessions'] as Record<string, unknown>[]) ?? [];
}

/**
 * A sender and a receiver of `file` under a code of their own (config dirs
 * and output folder named after `tag`), both started; the receiver is running.
 */
async function pair(tag: string, nameplate: number) {
  const s = join(dir, `cfg-s${tag}`);
  const r = join(dir, `cfg-r${tag}`);
  const out = join(dir, `out${tag}`);
  await mkdir(out);
  const code = `${nameplate}-apple-river-stone`;
  const snd = run(['send', file, '--code', code, '--json', '--config-dir', s]);
  await snd.waitFor((x) => x['type'] === 'code');
  const rcv = run(['receive', code, '--yes', '--dir', out, '--json', '--config-dir', r]);
  return { s, r, out, snd, rcv };
}

describe('resuming a code session after both sides restarted', () => {
  it('kill -9 of sender and receiver, then ferry resume <id> on both: verified, only the rest travels', async () => {
    const { s, r, out, snd, rcv } = await pair('', 4242);
    await killWhenCheckpointed(rcv, r, 8 * MiB);
    snd.proc.kill('SIGKILL');
    await snd.exit;

    const [rs] = await sessions(r);
    const [ss] = await sessions(s);
    expect(rs).toMatchObject({
      direction: 'receive',
      via: 'code',
      files: [{ path: 'movie.bin', size: 64 * MiB }],
    });
    expect(ss).toMatchObject({ direction: 'send', via: 'code', id: rs!['id'] });
    expect(['transferring', 'paused']).toContain(rs!['state']);
    const id = String(rs!['id']);

    const snd2 = run(['resume', id.slice(0, 8), '--json', '--config-dir', s]);
    const rcv2 = run(['resume', id.slice(0, 8), '--json', '--config-dir', r]);
    expect(await rcv2.exit, rcv2.stderr).toBe(0);
    expect(await snd2.exit, snd2.stderr).toBe(0);
    expect(snd2.lines.some((x) => x['type'] === 'code')).toBe(false); // no code involved
    const started = rcv2.lines.find((x) => x['type'] === 'started');
    expect(started!['resumed_bytes']).toBeGreaterThanOrEqual(8 * MiB);
    expect(rcv2.lines.at(-1)).toMatchObject({
      type: 'completed',
      bytes_skipped: started!['resumed_bytes'],
    });
    expect(await sha(join(out, 'movie.bin'))).toBe(await sha(file));
    expect((await sessions(r))[0]).toMatchObject({ id, state: 'done', bytes_done: 64 * MiB });
    expect((await sessions(s))[0]).toMatchObject({ id, state: 'done' });

    const again = run(['resume', id, '--config-dir', r]);
    expect(await again.exit).toBe(0);
    expect(again.stderr).toMatch(/already done/);
  }, 120_000);

  it('kill -9 of the receiver only: ferry resume <id> meets the original sender, which never stopped', async () => {
    const { r, out, snd, rcv } = await pair('4', 4545);
    await killWhenCheckpointed(rcv, r, 8 * MiB);
    await snd.waitFor((x) => x['type'] === 'waiting', 30_000); // it waits to resume
    const [rs] = await sessions(r);
    const rcv2 = run(['resume', String(rs!['id']).slice(0, 8), '--json', '--config-dir', r]);
    expect(await rcv2.exit, rcv2.stderr).toBe(0);
    expect(await snd.exit, snd.stderr).toBe(0);
    expect(
      Number(rcv2.lines.find((x) => x['type'] === 'started')!['resumed_bytes']),
    ).toBeGreaterThanOrEqual(8 * MiB);
    expect(await sha(join(out, 'movie.bin'))).toBe(await sha(file));
  }, 120_000);

  it('a receive the app recorded under its own id: ferry resume continues that record, no second one', async () => {
    const { r, out, snd, rcv } = await pair('5', 4646);
    await killWhenCheckpointed(rcv, r, 8 * MiB);
    await snd.waitFor((x) => x['type'] === 'waiting', 30_000);
    // Re-key the record as the app does for a receive by code: a job id of
    // its own, the transfer id beside it.
    const path = join(r, 'sessions.json');
    const doc = JSON.parse(await readFile(path, 'utf8')) as {
      sessions: Record<string, Record<string, unknown>>;
    };
    const [transferId, record] = Object.entries(doc.sessions)[0]!;
    const jobId = randomBytes(16).toString('hex');
    doc.sessions = { [jobId]: { ...record, id: jobId, transferId } };
    await writeFile(path, JSON.stringify(doc));

    const rcv2 = run(['resume', jobId.slice(0, 8), '--json', '--config-dir', r]);
    expect(await rcv2.exit, rcv2.stderr).toBe(0);
    expect(await snd.exit, snd.stderr).toBe(0);
    expect(await sha(join(out, 'movie.bin'))).toBe(await sha(file));
    const after = await sessions(r);
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ id: jobId, state: 'done', bytes_done: 64 * MiB });
  }, 120_000);

  it('kill -9 of the sender only: the receiver stops with an error; ferry resume on both finishes it', async () => {
    const { s, r, out, snd, rcv } = await pair('3', 4444);
    await rcv.waitFor((x) => x['type'] === 'progress' && Number(x['bytes']) >= 4 * MiB);
    snd.proc.kill('SIGKILL');
    expect(await rcv.exit).toBe(1);
    expect(rcv.lines.at(-1)).toMatchObject({ type: 'error' });
    const [rs] = await sessions(r);
    expect(rs).toMatchObject({ state: 'paused' }); // a network failure stays resumable
    const id = String(rs!['id']);
    const snd2 = run(['resume', id, '--json', '--config-dir', s]);
    const rcv2 = run(['resume', id, '--json', '--config-dir', r]);
    expect(await rcv2.exit, rcv2.stderr).toBe(0);
    expect(await snd2.exit, snd2.stderr).toBe(0);
    expect(await sha(join(out, 'movie.bin'))).toBe(await sha(file));
  }, 120_000);

  it('cancel removes a receive session’s partial file and checkpoint; unknown ids are usage errors', async () => {
    const { r, out, snd, rcv } = await pair('2', 4343);
    await killWhenCheckpointed(rcv, r, 4 * MiB);
    snd.proc.kill('SIGKILL');
    expect((await readdir(out)).some((f) => f.endsWith('.part'))).toBe(true);
    const [rs] = await sessions(r);
    const c = run(['cancel', String(rs!['id']).slice(0, 6), '--json', '--config-dir', r]);
    expect(await c.exit, c.stderr).toBe(0);
    expect(c.lines.at(-1)).toMatchObject({ type: 'session-cancelled', partial_files_removed: 1 });
    expect(await readdir(out)).toEqual([]);
    expect(await readdir(join(r, 'sessions'))).toEqual([]);
    expect((await sessions(r))[0]).toMatchObject({ state: 'cancelled' });
    // --clear forgets history (done, cancelled) and keeps what can still resume.
    const cleared = run(['sessions', '--clear', '--json', '--config-dir', r]);
    expect(await cleared.exit).toBe(0);
    expect(cleared.lines[0]).toMatchObject({ type: 'sessions-cleared', removed: 1 });
    expect(cleared.lines[1]).toMatchObject({ type: 'sessions', sessions: [] });
    const bad = run(['resume', 'zzzz', '--config-dir', r]);
    expect(await bad.exit).toBe(2);
    const none = run(['cancel', 'abcd', '--config-dir', r]);
    expect(await none.exit).toBe(2);
  }, 120_000);
});
