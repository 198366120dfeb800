/**
 * The command line loads a command's modules only when that command runs:
 * `ferry --help` and option errors must not pay for the engine, the
 * transports, zod or conf (0.31 s and 80 MB before, 0.10 s and 46 MB after).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'ferry-imports-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Run `ferry <args>` from the sources; the modules it resolved, and its output. */
function imports(name: string, args: string[]) {
  const out = join(dir, `${name}.txt`);
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--import',
      './test/e2e/fixtures/record-imports.mjs',
      'src/cli.ts',
      ...args,
    ],
    { cwd: root, env: { ...process.env, RECORD_IMPORTS: out, NO_COLOR: '1' }, encoding: 'utf8' },
  );
  const urls = readFileSync(out, 'utf8').split('\n').filter(Boolean);
  return { urls, status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const HEAVY = [
  '/node_modules/conf/',
  '/node_modules/zod/',
  '/node_modules/@noble/post-quantum/',
  '/node_modules/ink/',
  '/src/engine/transfer/',
  '/src/engine/transport/',
];

describe('ferry start-up', () => {
  it('--help, a command --help and a usage error load no engine, transport, zod or conf', () => {
    for (const [name, args, status] of [
      ['help', ['--help'], 0],
      ['settings-help', ['settings', '--help'], 0],
      ['bad-option', ['send', '--no-such-option', 'x'], 2],
    ] as const) {
      const r = imports(name, [...args]);
      expect(r.status, `${name}: ${r.stderr}`).toBe(status);
      expect(r.urls.some((u) => u.endsWith('/src/cli.ts'))).toBe(true);
      for (const heavy of HEAVY) {
        expect(
          r.urls.filter((u) => u.includes(heavy)),
          `${name} loaded ${heavy}`,
        ).toEqual([]);
      }
      if (name === 'settings-help') expect(r.stdout).toMatch(/perTransferRateLimit +each transfer/);
    }
  });

  it('ferry caps the heap growth factor (docs/adr/0011) before anything else runs', () => {
    const out = join(dir, 'v8-flags.txt');
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--import',
        './test/e2e/fixtures/record-v8-flags.mjs',
        'src/cli.ts',
        '--help',
      ],
      { cwd: root, env: { ...process.env, RECORD_V8_FLAGS: out }, encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toContain('--heap-growing-percent=50');
  });

  it('a command loads its module when it runs', () => {
    const r = imports('id', ['id', '--config-dir', join(dir, 'cfg'), '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.urls.some((u) => u.includes('/src/cli/peers.ts'))).toBe(true);
    expect(r.urls.some((u) => u.includes('/node_modules/conf/'))).toBe(true);
  });
});
