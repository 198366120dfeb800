/**
 * Opt-in (FERRY_SLOW=1): 1 GiB through the in-memory link, in a child process
 * running the compiled engine, so RSS is the engine's and not vitest's.
 * Checks the output hash and that peak RSS stays under 150 MB.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const enabled = process.env['FERRY_SLOW'] === '1';
if (!enabled) {
  console.log('skipping the 1 GiB engine test: set FERRY_SLOW=1 to run it (~1 min)');
}

describe.skipIf(!enabled)('1 GiB through the engine (slow)', () => {
  it(
    'arrives intact with peak RSS under 150 MB',
    () => {
      execFileSync(process.execPath, [
        'node_modules/typescript/bin/tsc',
        '-p',
        'tsconfig.bench.json',
      ]);
      const out = execFileSync(
        process.execPath,
        [
          '--expose-gc',
          '.bench-dist/bench/run.js',
          'engine',
          '--size',
          '1GiB',
          '--json',
          '--verify',
        ],
        { encoding: 'utf8', timeout: 10 * 60_000 },
      );
      const last = JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, unknown>;
      console.log(out);
      expect(last['bytes']).toBe(2 ** 30);
      expect(last['sha256_equal']).toBe(true);
      expect(last['peak_rss_mb']).toBeLessThan(150);
    },
    15 * 60_000,
  );
});
