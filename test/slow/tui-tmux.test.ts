/**
 * The whole app in a real terminal (issue 6): two instances with their own
 * config dirs run in tmux on loopback (mDNS bound to 127.0.0.1, a private
 * port); one sends a file to the other by keys only, the other accepts
 * after comparing the words, the file arrives verified. The screen text
 * (`tmux capture-pane`) is checked at each step, as a person would read it.
 *
 * Opt-in: FERRY_TUI_E2E=1 (needs tmux; about 30 s). Run it inside a
 * loopback-only namespace, as `npm test` does (FERRY_TUI_E2E=1 npm test --
 * test/slow/tui-tmux.test.ts).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { onlyLoopback } from '../e2e/cli-process.js';

const root = resolve(import.meta.dirname, '../..');
const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const wanted = process.env['FERRY_TUI_E2E'] === '1';
const reason = !wanted
  ? 'set FERRY_TUI_E2E=1 to run the tmux end-to-end test of the TUI'
  : !hasTmux
    ? 'tmux is not installed'
    : !onlyLoopback
      ? 'run it in a loopback-only namespace (npm test does): it starts mDNS'
      : '';
if (reason) console.log(`skipping tui-tmux: ${reason}`);

const socket = `ferry-e2e-${process.pid}`;
const tmux = (...args: string[]) =>
  execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
const screen = (s: string) => tmux('capture-pane', '-p', '-t', s);
const keys = (s: string, ...k: string[]) => tmux('send-keys', '-t', s, ...k);
const type = (s: string, text: string) => tmux('send-keys', '-t', s, '-l', text);

async function see(s: string, pattern: RegExp, ms = 20_000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    const text = screen(s);
    if (pattern.test(text)) return text;
    if (Date.now() > end) throw new Error(`screen ${s} never showed ${pattern}:\n${text}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * One clean frame: every panel title and the status line exactly once, the
 * Queue's column header right under its title (nothing left over from
 * dialogs or earlier frames, no line drift).
 */
function expectCleanFrame(text: string, device: string): void {
  for (const title of ['Queue', 'Peers', 'Detail', 'Sessions']) {
    expect(text.match(new RegExp(`─ ${title}|━ ${title}`, 'g')), title).toHaveLength(1);
  }
  expect(text.match(new RegExp(`^${device} `, 'gm'))).toHaveLength(1);
  const lines = text.split('\n');
  expect(lines.length).toBeLessThanOrEqual(41);
  expect(lines[1], 'the line under the Queue title').toMatch(/Name +Peer|No transfers/);
}

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe.skipIf(Boolean(reason))('the TUI in tmux, by keys only', () => {
  it('alice sends a file to bob by keys; bob accepts after comparing the words; a second file survives kill -9 of bob', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-tui-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'holiday.bin');
    await writeFile(file, randomBytes(8 * 1024 * 1024 + 11));
    const inbox = join(dir, 'inbox');
    const env = `FERRY_MDNS_INTERFACE=127.0.0.1 FERRY_MDNS_PORT=${20_000 + (process.pid % 30_000)} FERRY_RELAY=`;
    const ferry = (cfg: string, args: string) =>
      `${env} node --import tsx ${join(root, 'src/cli.ts')} --config-dir ${join(dir, cfg)} ${args}`;
    execFileSync('sh', [
      '-c',
      `${ferry('a', 'id --name alice')} && ${ferry('b', 'id --name bob')}`,
    ]);
    execFileSync('sh', ['-c', ferry('b', `settings downloadDir ${inbox}`)]);
    execFileSync('mkdir', ['-p', inbox]);

    for (const [s, cfg] of [
      ['alice', 'a'],
      ['bob', 'b'],
    ] as const) {
      tmux('new-session', '-d', '-s', s, '-x', '120', '-y', '40', '-c', root, ferry(cfg, ''));
    }
    cleanups.push(async () => tmux('kill-server'));
    // A killed app leaves its pane for a restart (respawn-pane).
    tmux('set-option', '-t', 'bob', 'remain-on-exit', 'on');

    // Both screens come up with their panels and status line.
    await see('alice', /Queue[\s\S]*Peers[\s\S]*Detail[\s\S]*Sessions[\s\S]*alice/);
    await see('bob', /bob .*LAN on/);
    // Alice sees bob as a new device, goes to Peers and opens Send on him.
    await see('alice', /● bob +new/);
    keys('alice', 'Tab');
    keys('alice', 'Enter');
    await see('alice', /Send to bob/);
    type('alice', file);
    keys('alice', 'Enter');
    // First contact: alice is asked to compare words; bob gets the offer with the same words.
    const a = await see('alice', /Compare the words[\s\S]*Words: (\S+)/);
    const words = /Words: (\S+)/.exec(a)![1]!;
    const b = await see('bob', /Incoming files[\s\S]*NEW DEVICE/);
    expect(b).toContain(`Words: ${words}`);
    expect(b).toMatch(/holiday\.bin/);
    keys('bob', 'a');
    keys('alice', 'y');
    // Done on both sides, verified.
    await see('alice', /holiday\.bin.*100%.*done/, 60_000);
    await see('bob', /holiday\.bin.*done/, 60_000);
    const sha = async (p: string) =>
      createHash('sha256')
        .update(await readFile(p))
        .digest('hex');
    expect(await sha(join(inbox, 'holiday.bin'))).toBe(await sha(file));
    // Now known to each other.
    const last = await see('alice', /● bob +known/);
    // One clean frame: every panel title and the status line exactly once,
    // nothing left over from dialogs or earlier frames.
    expectCleanFrame(last, 'alice');

    // A bigger file, bob slowed down by keys (Settings), then bob killed -9
    // mid-way and started again: the transfer resumes by itself.
    const big = join(dir, 'video.bin');
    await writeFile(big, randomBytes(24 * 1024 * 1024 + 3));
    keys('bob', ',');
    await see('bob', /Settings[\s\S]*rateLimit/);
    keys('bob', 'j', 'j', 'j', 'j', 'j', 'j', 'Enter');
    await see('bob', /rateLimit = /);
    keys('bob', 'C-u');
    type('bob', '3M');
    keys('bob', 'Enter');
    await see('bob', /rateLimit +3 MiB\/s/);
    keys('bob', 'Escape');
    keys('alice', 's');
    await see('alice', /Path/);
    type('alice', big);
    keys('alice', 'Enter');
    await see('alice', /Send [\s\S]* to:/);
    keys('alice', 'Enter'); // bob, first in the list; known now: no word check
    await see('bob', /Incoming files[\s\S]*known device/);
    keys('bob', 'a');
    await see('bob', /video\.bin.* [2-9]\d%.*receiving/, 60_000);
    await new Promise((r) => setTimeout(r, 1500)); // a checkpoint interval
    expect(spawnSync('pkill', ['-9', '-f', `config-dir ${join(dir, 'b')}( |$)`]).status).toBe(0);
    const dead = Date.now() + 10_000;
    while (tmux('display', '-p', '-t', 'bob', '#{pane_dead}').trim() !== '1') {
      if (Date.now() > dead) {
        const info = tmux(
          'display',
          '-p',
          '-t',
          'bob',
          '#{pane_pid} #{pane_dead} #{pane_dead_status} #{pane_dead_signal}',
        );
        const ps = spawnSync('ps', ['-ef'], { encoding: 'utf8' }).stdout;
        throw new Error(`bob did not die of SIGKILL: ${info}\n${ps}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    execFileSync('sh', ['-c', ferry('b', 'settings rateLimit off')]);
    tmux('respawn-pane', '-k', '-t', 'bob', ferry('b', ''));
    await see('alice', /video\.bin.*100%.*done/, 90_000);
    await see('bob', /video\.bin.*100%.*done/, 30_000);
    expect(await sha(join(inbox, 'video.bin'))).toBe(await sha(big));
    // Its Detail on alice's side says the second session skipped what bob had.
    keys('alice', 'BTab'); // back from Peers to Queue
    keys('alice', 'j');
    expectCleanFrame(await see('alice', /video\.bin →[\s\S]*already there/), 'alice');
    expectCleanFrame(screen('bob'), 'bob');

    // Quit: no active transfers, so q leaves at once (the session ends with the app).
    keys('alice', 'q');
    const end = Date.now() + 10_000;
    while (spawnSync('tmux', ['-L', socket, 'has-session', '-t', 'alice']).status === 0) {
      if (Date.now() > end) throw new Error(`q did not quit:\n${screen('alice')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 240_000);
});
