/**
 * A reader that goes away (`ferry --help | head`, a script that stops
 * reading `--json`) must not crash ferry with an EPIPE stack trace: output
 * is dropped, and a running command stops as on Ctrl+C.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ferry } from './cli-process.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-pipe-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Start ferry with its stdout already closed: its first write fails with EPIPE. */
function withStdoutClosed(args: string[]) {
  const p = ferry(args);
  p.proc.stdout!.destroy();
  return p;
}

describe('broken pipe on stdout', () => {
  it('--help exits 0 without a stack trace', async () => {
    const p = withStdoutClosed(['--help']);
    expect(await p.exit).toBe(0);
    expect(p.stderr).toBe('');
  });

  it('a waiting send stops in order (exit 130), not with a crash', async () => {
    const file = join(dir, 'a.txt');
    await writeFile(file, 'hello');
    // Listens on loopback for a direct receiver; its first JSON line (the
    // code) hits the closed pipe.
    const p = withStdoutClosed([
      '--no-mdns',
      '--config-dir',
      join(dir, 'cfg'),
      'send',
      file,
      '--direct',
      '127.0.0.1:0',
      '--json',
    ]);
    expect(await p.exit).toBe(130);
    expect(p.stderr).not.toMatch(/EPIPE|Unhandled|at /);
  });
});
