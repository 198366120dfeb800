/**
 * Control messages (CBOR + zod), the binary data header and chunk ranges.
 * Everything decoded here is untrusted: the only acceptable failure is a
 * ProtocolError.
 */
import { randomBytes } from 'node:crypto';
import { encode } from 'cborg';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../../src/engine/errors.js';
import {
  type ControlMessage,
  DATA_HEADER_BYTES,
  DataFlag,
  decodeControl,
  decodeDataHeader,
  encodeControl,
  encodeDataHeader,
  fromRanges,
  LEAVES_PER_PAGE,
  MAX_CHUNK_SIZE,
  MIN_CHUNK_SIZE,
  toRanges,
} from '../../../src/engine/protocol/messages.js';

const bytes = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

/** One valid example of every message kind. */
const EXAMPLES: readonly ControlMessage[] = [
  {
    t: 'offer',
    transferId: bytes(16),
    chunkSize: MIN_CHUNK_SIZE,
    files: [
      { path: 'a.txt', size: 0, mtime: 0 },
      { path: 'dir/b.bin', size: 2 ** 40, mtime: 1_700_000_000_123.5 },
    ],
  },
  { t: 'file-end', file: 3, root: bytes(32) },
  { t: 'leaves', file: 0, start: 7, leaves: bytes(64) },
  {
    t: 'accept',
    files: [
      { file: 0, have: [0, 3, 5, 6], leaves: bytes(4 * 32) },
      { file: 2, have: [], leaves: new Uint8Array(0) },
    ],
  },
  { t: 'decline', reason: 'no thanks' },
  { t: 'ack', ranges: [0, 0, 4, 1, 7, 8] },
  { t: 'nack', file: 1, chunk: 9, reason: 'leaf mismatch' },
  { t: 'file-verified', file: 0 },
  { t: 'need-leaves', file: 5 },
  { t: 'refetch', file: 0, chunks: [1, 4] },
  { t: 'complete' },
  { t: 'ping' },
  { t: 'pause' },
  { t: 'resume' },
  { t: 'cancel', reason: 'changed my mind' },
  { t: 'error', code: 'IO', message: 'disk on fire' },
];

/** Any exception other than ProtocolError fails the caller's test. */
function decodeOrProtocolError(body: Uint8Array): ControlMessage | ProtocolError {
  try {
    return decodeControl(body);
  } catch (e) {
    if (e instanceof ProtocolError) return e;
    throw e;
  }
}

function expectProtocolError(body: Uint8Array): void {
  expect(decodeOrProtocolError(body)).toBeInstanceOf(ProtocolError);
}

/** Encode anything cborg can encode, bypassing the ControlMessage type. */
const raw = (v: unknown): Uint8Array => encode(v);

describe('control messages', () => {
  it('every message kind round-trips', () => {
    const kinds = new Set(EXAMPLES.map((m) => m.t));
    expect(kinds.size).toBe(EXAMPLES.length);
    for (const msg of EXAMPLES) expect(decodeControl(encodeControl(msg))).toEqual(msg);
  });

  it('unknown fields are dropped, not passed on', () => {
    expect(decodeControl(raw({ t: 'pause', extra: 1 }))).toEqual({ t: 'pause' });
  });

  it('malformed CBOR is a ProtocolError', () => {
    const good = encodeControl({ t: 'cancel', reason: 'x' });
    expectProtocolError(new Uint8Array(0));
    expectProtocolError(good.subarray(0, good.length - 1)); // truncated
    expectProtocolError(Buffer.concat([good, Buffer.from([0x00])])); // trailing bytes
    expectProtocolError(new Uint8Array([0xff])); // lone break
    expectProtocolError(new Uint8Array([0x1c])); // reserved additional info
    expectProtocolError(new Uint8Array([0xa1, 0x01, 0x02])); // non-string map key
  });

  it('a map with a duplicate key is a ProtocolError', () => {
    // {"t": "pause", "t": "pause"}, written by hand (encoders refuse to).
    const t = [0x61, 0x74];
    const pause = [0x65, ...Buffer.from('pause')];
    expectProtocolError(new Uint8Array([0xa2, ...t, ...pause, ...t, ...pause]));
    // {"t": "cancel", "reason": "a", "reason": "b"}
    const reason = [0x66, ...Buffer.from('reason')];
    expectProtocolError(
      new Uint8Array([
        0xa3,
        ...t,
        0x66,
        ...Buffer.from('cancel'),
        ...reason,
        0x61,
        0x61,
        ...reason,
        0x61,
        0x62,
      ]),
    );
  });

  it('wrong types, negative and non-integer numbers are ProtocolErrors', () => {
    const bad: unknown[] = [
      null,
      42,
      'pause',
      [{ t: 'pause' }],
      {},
      { t: 7 },
      { t: 'file-verified', file: -1 },
      { t: 'file-verified', file: 1.5 },
      { t: 'file-verified', file: '1' },
      { t: 'file-verified', file: 2n ** 64n - 1n },
      // An integer past 2^53 travels as a CBOR float: still refused.
      { t: 'file-verified', file: 2 ** 60 },
      { t: 'ack', ranges: [0, 0, 2 ** 60] },
      { t: 'file-end', file: 0, root: bytes(31) },
      { t: 'file-end', file: 0, root: 'x'.repeat(32) },
      { t: 'leaves', file: 0, start: 0, leaves: bytes(33) },
      { t: 'ack', ranges: [0, -1, 2] },
      { t: 'ack', ranges: [0, 0.5, 2] },
      { t: 'ack', ranges: 'none' },
      { t: 'nack', file: 0, chunk: 0 },
      { t: 'refetch', file: 0, chunks: [] },
      { t: 'cancel', reason: 'x'.repeat(1025) },
      { t: 'error', code: 'X'.repeat(65), message: '' },
      { t: 'offer', transferId: bytes(15), chunkSize: MIN_CHUNK_SIZE, files: [] },
      {
        t: 'offer',
        transferId: bytes(16),
        chunkSize: MIN_CHUNK_SIZE - 1,
        files: [{ path: 'a', size: 1, mtime: 0 }],
      },
      {
        t: 'offer',
        transferId: bytes(16),
        chunkSize: MAX_CHUNK_SIZE + 1,
        files: [{ path: 'a', size: 1, mtime: 0 }],
      },
      { t: 'offer', transferId: bytes(16), chunkSize: MIN_CHUNK_SIZE, files: [] },
      {
        t: 'offer',
        transferId: bytes(16),
        chunkSize: MIN_CHUNK_SIZE,
        files: [{ path: '', size: 1, mtime: 0 }],
      },
      {
        t: 'offer',
        transferId: bytes(16),
        chunkSize: MIN_CHUNK_SIZE,
        files: [{ path: 'a', size: -5, mtime: 0 }],
      },
      {
        t: 'offer',
        transferId: bytes(16),
        chunkSize: MIN_CHUNK_SIZE,
        files: [{ path: 'a', size: 1, mtime: Number.POSITIVE_INFINITY }],
      },
      {
        t: 'offer',
        transferId: bytes(16),
        chunkSize: MIN_CHUNK_SIZE,
        files: [{ path: 'a'.repeat(4097), size: 1, mtime: 0 }],
      },
      { t: 'accept', files: [{ file: 0, have: [0, 1], leaves: bytes(31) }] },
      ...[['x'.repeat(4097)], [''], [7], 'dir'].map((dirs) => ({
        t: 'offer',
        transferId: bytes(16),
        chunkSize: MIN_CHUNK_SIZE,
        files: [{ path: 'a', size: 1, mtime: 0 }],
        dirs,
      })),
    ];
    for (const v of bad) expectProtocolError(raw(v));
  });

  it('oversized arrays are ProtocolErrors', () => {
    expectProtocolError(raw({ t: 'ack', ranges: new Array(3 * 4096 + 1).fill(0) }));
    expectProtocolError(
      raw({ t: 'refetch', file: 0, chunks: new Array(LEAVES_PER_PAGE + 1).fill(0) }),
    );
    expectProtocolError(
      raw({ t: 'leaves', file: 0, start: 0, leaves: new Uint8Array((LEAVES_PER_PAGE + 1) * 32) }),
    );
    // The largest legal sizes still pass.
    expect(decodeControl(raw({ t: 'ack', ranges: new Array(3 * 4096).fill(0) })).t).toBe('ack');
    expect(
      decodeControl(
        raw({ t: 'leaves', file: 0, start: 0, leaves: new Uint8Array(LEAVES_PER_PAGE * 32) }),
      ).t,
    ).toBe('leaves');
  });

  it('an unknown tag is a ProtocolError', () => {
    for (const t of ['hello', 'OFFER', '', 'offer ', '__proto__', 'constructor']) {
      expectProtocolError(raw({ t }));
    }
  });

  it('random bytes: a valid message or a ProtocolError, never another exception', () => {
    // Start some inputs with a map header so the decoder gets past the first byte.
    const body = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc
        .tuple(fc.integer({ min: 0xa0, max: 0xbf }), fc.uint8Array({ maxLength: 200 }))
        .map(([h, rest]) => new Uint8Array([h, ...rest])),
      // A valid message with one byte changed.
      fc
        .tuple(fc.constantFrom(...EXAMPLES), fc.nat(), fc.integer({ min: 1, max: 255 }))
        .map(([m, at, mask]) => {
          const b = Buffer.from(encodeControl(m));
          const i = at % b.length;
          b[i] = b[i]! ^ mask;
          return new Uint8Array(b);
        }),
    );
    fc.assert(
      fc.property(body, (b) => {
        const r = decodeOrProtocolError(b);
        if (!(r instanceof ProtocolError)) expect(decodeControl(encodeControl(r))).toEqual(r);
      }),
      { numRuns: 2000 },
    );
  });

  it('random CBOR objects: a valid message or a ProtocolError, never another exception', () => {
    const fieldNames = [
      't',
      'transferId',
      'chunkSize',
      'files',
      'file',
      'root',
      'start',
      'leaves',
      'have',
      'reason',
      'ranges',
      'chunk',
      'chunks',
      'code',
      'message',
      'path',
      'size',
      'mtime',
      '__proto__',
    ];
    const { value } = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.constantFrom(...EXAMPLES.map((m) => m.t)),
        fc.string({ maxLength: 10 }),
        fc.integer(),
        fc.nat({ max: 100 }),
        fc.double(),
        fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n - 1n }),
        fc.boolean(),
        fc.constant(null),
        fc.constant(undefined),
        fc.uint8Array({ maxLength: 70 }),
        fc.constantFrom(bytes(16), bytes(32)),
        fc.array(tie('value'), { maxLength: 4 }),
        fc.dictionary(fc.constantFrom(...fieldNames), tie('value'), { maxKeys: 5 }),
      ),
    }));
    const message = fc.record(
      { t: fc.constantFrom(...EXAMPLES.map((m) => m.t), 'bogus') },
      { requiredKeys: [] },
    );
    const candidate = fc
      .tuple(message, fc.dictionary(fc.constantFrom(...fieldNames), value, { maxKeys: 6 }))
      .map(([m, rest]) => ({ ...rest, ...m }));
    fc.assert(
      fc.property(fc.oneof(candidate, value), (v) => {
        const r = decodeOrProtocolError(raw(v));
        if (!(r instanceof ProtocolError)) expect(decodeControl(encodeControl(r))).toEqual(r);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('data header', () => {
  const u32 = fc.integer({ min: 0, max: 0xffff_ffff });

  it('round-trips every field and every known flag combination', () => {
    fc.assert(
      fc.property(u32, u32, fc.integer({ min: 0, max: 3 }), u32, (file, chunk, flags, length) => {
        const h = { file, chunk, flags, length };
        const enc = encodeDataHeader(h);
        expect(enc.length).toBe(DATA_HEADER_BYTES);
        expect(decodeDataHeader(enc)).toEqual(h);
        // Trailing bytes (the sealed payload) are not part of the header.
        expect(decodeDataHeader(Buffer.concat([enc, Buffer.from([9, 9, 9])]))).toEqual(h);
      }),
    );
  });

  it('decodes from a view at a non-zero offset', () => {
    const h = { file: 1, chunk: 2, flags: DataFlag.Final | DataFlag.Compressed, length: 3 };
    const big = Buffer.concat([Buffer.from([0xee, 0xee, 0xee]), encodeDataHeader(h)]);
    expect(decodeDataHeader(big.subarray(3))).toEqual(h);
  });

  it('refuses unknown flags and short input', () => {
    fc.assert(
      fc.property(fc.integer({ min: 4, max: 255 }), (flags) => {
        const enc = encodeDataHeader({ file: 0, chunk: 0, flags: 0, length: 0 });
        enc[8] = flags;
        expect(() => decodeDataHeader(enc)).toThrow(ProtocolError);
      }),
    );
    for (let n = 0; n < DATA_HEADER_BYTES; n++) {
      expect(() => decodeDataHeader(new Uint8Array(n))).toThrow(ProtocolError);
    }
  });
});

describe('chunk ranges', () => {
  const sortedSet = fc
    .uniqueArray(fc.nat({ max: 500 }), { maxLength: 200 })
    .map((a) => a.sort((x, y) => x - y));

  it('fromRanges(toRanges(s)) = s, with maximal, strictly separated ranges', () => {
    fc.assert(
      fc.property(sortedSet, (s) => {
        const pairs = toRanges(s);
        expect(pairs.length % 2).toBe(0);
        for (let k = 0; k < pairs.length; k += 2) {
          expect(pairs[k + 1]!).toBeGreaterThan(pairs[k]!);
          // Adjacent runs would have been merged.
          if (k > 0) expect(pairs[k]!).toBeGreaterThan(pairs[k - 1]!);
        }
        expect(fromRanges(pairs, 501)).toEqual(s);
        if (s.length > 0) {
          const top = s[s.length - 1]!;
          expect(fromRanges(pairs, top + 1)).toEqual(s);
          expect(() => fromRanges(pairs, top)).toThrow(ProtocolError);
        }
      }),
    );
  });

  it('toRanges of nothing is nothing, of a run is one pair', () => {
    expect(toRanges([])).toEqual([]);
    expect(toRanges([4, 5, 6, 7])).toEqual([4, 8]);
    expect(toRanges([0, 2, 3, 9])).toEqual([0, 1, 2, 4, 9, 10]);
  });

  it('fromRanges accepts touching ranges', () => {
    expect(fromRanges([0, 2, 2, 3], 3)).toEqual([0, 1, 2]);
  });

  it('fromRanges refuses odd, overlapping, unsorted, empty and out-of-limit ranges', () => {
    const bad: number[][] = [
      [0],
      [0, 2, 5],
      [0, 3, 2, 4], // overlaps
      [5, 6, 1, 2], // out of order
      [3, 3], // empty
      [4, 2], // reversed
      [0, 11], // beyond the limit
      [10, 11],
    ];
    for (const pairs of bad) expect(() => fromRanges(pairs, 10)).toThrow(ProtocolError);
  });

  it('fromRanges refuses any range past the limit (property)', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 100 }),
        fc.nat({ max: 100 }),
        fc.nat({ max: 100 }),
        (s, len, limit) => {
          const e = s + len + 1;
          const pairs = [s, e];
          if (e > limit) expect(() => fromRanges(pairs, limit)).toThrow(ProtocolError);
          else expect(fromRanges(pairs, limit)).toHaveLength(e - s);
        },
      ),
    );
  });
});

describe('hardening', () => {
  it('refuses a __proto__ map key and negative or fractional ranges', async () => {
    const { encode } = await import('cborg');
    const { decodeControl, fromRanges } = await import('../../../src/engine/protocol/messages.js');
    // A map whose only key is '__proto__' holding a valid-looking message.
    const evil = encode(new Map<string, unknown>([['__proto__', { t: 'pause' }]]));
    expect(() => decodeControl(evil)).toThrow(/__proto__|malformed/);
    expect(() => fromRanges([-1, 0], 10)).toThrow(/bad range/);
    expect(() => fromRanges([0.5, 2], 10)).toThrow(/bad range/);
  });
});

describe('hardening against prototype tricks', () => {
  it('a nested __proto__ holding bytes is a ProtocolError (fast-check found it)', async () => {
    const { encode } = await import('cborg');
    const { decodeControl } = await import('../../../src/engine/protocol/messages.js');
    const evil = encode(
      new Map<string, unknown>([
        ['t', 'decline'],
        ['reason', new Map<string, unknown>([['__proto__', new Uint8Array(16)]])],
      ]),
    );
    expect(() => decodeControl(evil)).toThrow(ProtocolError);
  });
});
