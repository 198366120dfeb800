import { afterEach, describe, expect, it } from 'vitest';
import type { FerryController } from '../../src/app/controller.js';
import { ENTER_SCREEN, LEAVE_SCREEN, runTui } from '../../src/ui/run-tui.js';
import { FakeController, job } from './fake-controller.js';
import { KEY, TestStdin, TestStdout } from './test-streams.js';
import { VtScreen } from './vt-screen.js';

function io() {
  const stdout = new TestStdout(80, 24);
  const stdin = new TestStdin();
  return {
    stdout,
    stdin,
    opts: {
      stdout: stdout as unknown as NodeJS.WriteStream,
      stdin: stdin as unknown as NodeJS.ReadStream,
      exitOnSignals: false,
    },
  };
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait until the screen shows `text` (real timers: ink renders at most 15 times a second). */
async function until(stdout: TestStdout, text: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (stdout.frames.join('').includes(text)) return;
    await wait(20);
  }
  throw new Error(`never showed: ${text}`);
}

function count(stdout: TestStdout, s: string): number {
  return stdout.frames.join('').split(s).length - 1;
}

afterEach(() => {
  process.exitCode = undefined;
});

describe('runTui', () => {
  it('enters the alternate screen, quits on q, closes the controller, gives the screen back', async () => {
    const c = new FakeController();
    const { stdout, stdin, opts } = io();
    const done = runTui(c, opts);
    expect(stdout.frames[0]).toBe(ENTER_SCREEN);
    await until(stdout, 'Queue');
    stdin.write('q');
    await done;
    expect(c.closed).toBe(true);
    expect(count(stdout, LEAVE_SCREEN)).toBe(1);
    expect(stdout.frames.join('').endsWith(LEAVE_SCREEN)).toBe(true);
  });

  it('asks on Ctrl+C while transfers run, quits on the second; the screen is restored', async () => {
    const c = new FakeController({ jobs: [job({ id: 'a' })] });
    const { stdout, stdin, opts } = io();
    const done = runTui(c, opts);
    await until(stdout, 'Queue');
    stdin.write(KEY.ctrlC);
    await until(stdout, 'Ctrl+C again quits');
    expect(c.closed).toBe(false);
    stdin.write(KEY.ctrlC);
    await done;
    expect(c.closed).toBe(true);
    expect(count(stdout, LEAVE_SCREEN)).toBe(1);
  });

  it('quits cleanly on SIGTERM (handlers removed afterwards) and sets the exit code', async () => {
    const c = new FakeController();
    const { stdout, opts } = io();
    const before = process.listenerCount('SIGTERM');
    const done = runTui(c, { ...opts, exitOnSignals: true });
    await until(stdout, 'Queue');
    expect(process.listenerCount('SIGTERM')).toBeGreaterThan(before);
    process.emit('SIGTERM', 'SIGTERM');
    await done;
    expect(c.closed).toBe(true);
    expect(count(stdout, LEAVE_SCREEN)).toBe(1);
    expect(process.exitCode).toBe(143);
    expect(process.listenerCount('SIGTERM')).toBe(before);
  });

  it('restores the terminal as an uncaught exception goes by', async () => {
    const c = new FakeController();
    const { stdout, stdin, opts } = io();
    const done = runTui(c, opts);
    await until(stdout, 'Queue');
    const emit = process.emit.bind(process) as (event: string, ...args: unknown[]) => boolean;
    emit('uncaughtExceptionMonitor', new Error('crash'), 'uncaughtException');
    expect(stdout.frames.at(-1)).toBe(LEAVE_SCREEN);
    stdin.write('q');
    await done;
    expect(count(stdout, LEAVE_SCREEN)).toBe(1);
    expect(process.listenerCount('uncaughtExceptionMonitor')).toBe(0);
  });

  it('rejects with a render error once the terminal is back and the controller closed', async () => {
    class Broken extends FakeController {
      override snapshot(): ReturnType<FerryController['snapshot']> {
        throw new Error('no snapshot');
      }
    }
    const broken = new Broken();
    const { stdout, opts } = io();
    await expect(runTui(broken, opts)).rejects.toThrow('no snapshot');
    expect(broken.closed).toBe(true);
    expect(stdout.frames.join('').endsWith(LEAVE_SCREEN)).toBe(true);
  });

  it('rethrows a failing close after restoring; a second Ctrl+C stops waiting for a stuck close', async () => {
    const failing = new FakeController();
    failing.failures.set('close', new Error('disk full'));
    const a = io();
    const first = runTui(failing, a.opts);
    await until(a.stdout, 'Queue');
    a.stdin.write('q');
    await expect(first).rejects.toThrow('disk full');
    expect(count(a.stdout, LEAVE_SCREEN)).toBe(1);

    const stuck = new FakeController();
    stuck.close = () => new Promise<void>(() => {});
    const b = io();
    const second = runTui(stuck, b.opts);
    await until(b.stdout, 'Queue');
    b.stdin.write('q');
    await until(b.stdout, 'Stopping transfers');
    b.stdin.write(KEY.ctrlC);
    await second;
    expect(count(b.stdout, LEAVE_SCREEN)).toBe(1);
  });

  it('leaves a true picture on a terminal after many frames (no shifted or doubled lines)', async () => {
    const jobs = (n: number) => [
      job({ id: 'a', label: 'alpha.bin', bytesDone: n * 1024 * 1024 }),
      job({ id: 'b', label: 'beta.bin', bytesDone: n * 2 * 1024 * 1024 }),
      job({ id: 'c', label: 'gamma.bin', state: 'queued' }),
    ];
    const c = new FakeController({ jobs: jobs(0) });
    const { stdout, stdin, opts } = io();
    const vt = new VtScreen(80, 24);
    const keep = stdout.write;
    stdout.write = (s: string) => {
      vt.write(s);
      return keep(s);
    };
    const done = runTui(c, opts);
    await until(stdout, 'Queue');
    for (let i = 1; i <= 6; i++) {
      c.set({ jobs: jobs(i) });
      await wait(150);
    }
    // The last update can take a poll (100 ms) and ink's frame throttle (66 ms) to show.
    await until(stdout, ' 12%');
    try {
      const screen = vt.lines();
      expect(screen[0]).toMatch(/^┏━ Queue \(3\) ━+┓$/);
      expect(screen[1]).toMatch(/^┃ +Name +Peer/);
      expect(screen[2]).toMatch(/^┃› ↑ {2}alpha\.bin +alice +█░+ +6%/);
      expect(screen[3]).toMatch(/^┃ {2}↑ {2}beta\.bin +alice +█░+ +12%/);
      expect(screen[4]).toMatch(/^┃ {2}↑ {2}gamma\.bin .*queued/);
      expect(screen.filter((l) => l.includes('beta.bin'))).toHaveLength(1);
      expect(screen[21]).toMatch(/^laptop cdcd-cdcd │ relay reachable/);
      expect(screen[23]).toBe('');
    } finally {
      stdin.write('qy');
    }
    await done;
  });
});
