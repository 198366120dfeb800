import { describe, expect, it } from 'vitest';
import { parseRate, throttleFor } from '../../src/cli/common.js';

describe('parseRate (--limit)', () => {
  it('reads bytes per second with binary suffixes and optional B, iB, /s', () => {
    expect(parseRate('2048')).toBe(2048);
    expect(parseRate('500k')).toBe(500 * 1024);
    expect(parseRate('2.5M')).toBe(Math.round(2.5 * 1024 * 1024));
    expect(parseRate('10MiB/s')).toBe(10 * 1024 * 1024);
    expect(parseRate('1 GB')).toBe(1024 ** 3);
    expect(parseRate('off')).toBeNull();
    expect(parseRate('0')).toBeNull();
  });

  it('refuses nonsense and uselessly small limits with a usage error', () => {
    expect(() => parseRate('fast')).toThrow(/--limit 'fast': expected a rate like 500k/);
    expect(() => parseRate('-5M')).toThrow(/expected a rate/);
    expect(() => parseRate('100')).toThrow(/at least 1k/);
  });

  it('throttleFor gives a bucket at that rate, or none', () => {
    expect(throttleFor(undefined)).toBeUndefined();
    expect(throttleFor('off')).toBeUndefined();
    expect(throttleFor('1M')?.rateBps).toBe(1024 * 1024);
  });
});
