/**
 * ink's text-measure cache stays bounded in the app (src/ui/ink-measure-cache.ts):
 * measured in a child process, because the hook must be registered before
 * ink loads and vitest loads modules its own way.
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { measureCacheHookSource } from '../../src/ui/ink-measure-cache.js';

const root = resolve(import.meta.dirname, '../..');
const child = (limit: number) =>
  JSON.parse(
    execFileSync(
      process.execPath,
      ['--import', 'tsx', 'test/ui/fixtures/measure-cache-child.ts', String(limit)],
      { cwd: root, encoding: 'utf8' },
    ),
  ) as { size: number; width: number };

describe('bounded ink measure cache', () => {
  it('keeps at most the limit of distinct texts, and still measures right', () => {
    const r = child(256);
    expect(r.size).toBeGreaterThan(0);
    expect(r.size).toBeLessThanOrEqual(256);
    expect(r.width).toBe(3);
  });

  it('rejects a nonsense limit', () => {
    expect(() => measureCacheHookSource(0)).toThrow(RangeError);
  });
});
