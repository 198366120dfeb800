import { randomBytes } from 'node:crypto';
import { encode } from 'cborg';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/engine/errors.js';
import {
  encodeJoin,
  encodeStatus,
  JOIN_MAGIC,
  MAX_JOIN_BODY,
  parseJoinFrame,
  parseStatusFrame,
} from '../../src/relay/protocol.js';
import { addressKey, JoinRateLimiter } from '../../src/relay/rate-limit.js';

function frame(body: Uint8Array): Uint8Array {
  return new Uint8Array([...JOIN_MAGIC, body.length >> 8, body.length & 0xff, ...body]);
}

describe('join frame', () => {
  it('round-trips and reports the bytes it consumed', () => {
    const room = randomBytes(32);
    const bytes = encodeJoin({ room, role: 'receiver', password: 'pw', version: 1 });
    const withTail = new Uint8Array([...bytes, 1, 2, 3]);
    const parsed = parseJoinFrame(withTail);
    expect(parsed?.consumed).toBe(bytes.length);
    expect(parsed?.join).toEqual({
      room: new Uint8Array(room),
      role: 'receiver',
      password: 'pw',
      version: 1,
    });
    for (let i = 0; i < bytes.length; i++) expect(parseJoinFrame(bytes.subarray(0, i))).toBeNull();
  });

  it('refuses garbage as soon as the magic differs, and lengths over the cap', () => {
    expect(() => parseJoinFrame(new Uint8Array([0x47]))).toThrow(ProtocolError);
    expect(() => parseJoinFrame(new Uint8Array([...JOIN_MAGIC, 0xff, 0xff]))).toThrow(/length/);
    expect(() => parseJoinFrame(new Uint8Array([...JOIN_MAGIC, 0, 0]))).toThrow(/length/);
    expect(MAX_JOIN_BODY).toBeLessThanOrEqual(512);
  });

  it('refuses malformed bodies', () => {
    const room = new Uint8Array(32);
    const bad = [
      encode({ room: new Uint8Array(31), role: 'sender', version: 1 }),
      encode({ room, role: 'middle', version: 1 }),
      encode({ room, role: 'sender', version: 2 }),
      encode({ room, role: 'sender' }),
      encode({ room, role: 'sender', version: 1, password: 'x'.repeat(300) }),
      encode([1, 2, 3]),
      new Uint8Array([0xff]),
    ];
    for (const body of bad) expect(() => parseJoinFrame(frame(body))).toThrow(ProtocolError);
    expect(() => parseJoinFrame(frame(encode({ room, role: 'sender', version: 2 })))).toThrow(
      /version 2/,
    );
  });

  it('refuses to encode an invalid join', () => {
    expect(() => encodeJoin({ room: new Uint8Array(8), role: 'sender', version: 1 })).toThrow(
      RangeError,
    );
  });
});

describe('status frame', () => {
  it('round-trips each status and rejects junk', () => {
    for (const s of [
      { status: 'waiting' },
      { status: 'paired' },
      { status: 'error', code: 'BUSY', message: 'full' },
    ] as const) {
      const bytes = encodeStatus(s);
      expect(parseStatusFrame(bytes)).toEqual({ status: s, consumed: bytes.length });
      expect(parseStatusFrame(bytes.subarray(0, bytes.length - 1))).toBeNull();
    }
    const junk = encode({ status: 'hello' });
    expect(() => parseStatusFrame(new Uint8Array([0, junk.length, ...junk]))).toThrow(
      ProtocolError,
    );
    expect(() => parseStatusFrame(new Uint8Array([0xff, 0xff]))).toThrow(ProtocolError);
  });
});

describe('join rate limiter', () => {
  it('allows a burst, then refills evenly', () => {
    let now = 0;
    const limiter = new JoinRateLimiter(6, 100, () => now);
    for (let i = 0; i < 6; i++) expect(limiter.take('10.0.0.1')).toBe(true);
    expect(limiter.take('10.0.0.1')).toBe(false);
    expect(limiter.take('10.0.0.2')).toBe(true);
    now += 10_000;
    expect(limiter.take('10.0.0.1')).toBe(true);
    expect(limiter.take('10.0.0.1')).toBe(false);
    now += 120_000;
    limiter.take('10.0.0.3');
    expect(limiter.size).toBe(1);
  });

  it('groups IPv6 by /64 and unmaps IPv4', () => {
    expect(addressKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('2001:db8:0:1::5')).toBe('2001:db8:0:1::/64');
    expect(addressKey('2001:db8:0:1:aaaa::9')).toBe('2001:db8:0:1::/64');
    expect(addressKey('2001:0db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });
});

describe('prototype tricks in a join', () => {
  it('a __proto__ key is BAD input (ProtocolError), never a TypeError', async () => {
    const { encode } = await import('cborg');
    const { parseJoinFrame } = await import('../../src/relay/protocol.js');
    const { ProtocolError } = await import('../../src/engine/errors.js');
    const body = encode(
      new Map<string, unknown>([
        ['room', new Map<string, unknown>([['__proto__', new Uint8Array(32)]])],
        ['role', 'sender'],
        ['version', 1],
      ]),
    );
    const frame = new Uint8Array(6 + body.length);
    frame.set([0x46, 0x52, 0x59, 0x31, body.length >> 8, body.length & 0xff]);
    frame.set(body, 6);
    expect(() => parseJoinFrame(frame)).toThrow(ProtocolError);
  });
});
