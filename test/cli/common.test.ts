import { describe, expect, it } from 'vitest';
import { parseRate, throttleFor } from '../../src/cli/common.js';
import { TokenBucket } from '../../src/engine/queue/bandwidth.js';

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

  it('throttleFor: --limit wins, else the settings, else none', () => {
    const none = { rateLimit: null, perTransferRateLimit: null };
    expect(throttleFor(undefined)).toBeUndefined();
    expect(throttleFor(undefined, none)).toBeUndefined();
    expect(throttleFor('off', { rateLimit: 4096, perTransferRateLimit: null })).toBeUndefined();
    expect((throttleFor('1M', none) as TokenBucket).rateBps).toBe(1024 * 1024);
    expect(throttleFor(undefined, { rateLimit: 4096, perTransferRateLimit: null })).toBeInstanceOf(
      TokenBucket,
    );
    const both = throttleFor(undefined, { rateLimit: 8192, perTransferRateLimit: 4096 });
    expect(both).toBeDefined();
    expect(both).not.toBeInstanceOf(TokenBucket); // combined: per-transfer cap and global limit
  });
});
