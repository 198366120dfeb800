/**
 * CompressionPolicy (when compressing pays) and decompressChunk (which must
 * refuse anything that does not inflate to exactly the declared length).
 */
import { randomBytes } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IntegrityError } from '../../../src/engine/errors.js';
import {
  byteEntropy,
  CompressionPolicy,
  decompressChunk,
} from '../../../src/engine/transfer/compression.js';

const CHUNK = 64 * 1024;
const MiB = 1024 * 1024;

function text(bytes: number): Buffer {
  const line = 'ferry moves files between machines, end to end encrypted.\n';
  return Buffer.from(line.repeat(Math.ceil(bytes / line.length)).slice(0, bytes));
}

describe('CompressionPolicy', () => {
  it('sends random chunks raw, as the same bytes', async () => {
    const policy = new CompressionPolicy(true);
    for (let i = 0; i < 40; i++) {
      const chunk = randomBytes(CHUNK);
      const [payload, compressed] = await policy.encode(0, chunk);
      expect(compressed).toBe(false);
      expect(payload).toBe(chunk);
    }
  });

  it('compresses text chunks, and they inflate back to the original', async () => {
    const policy = new CompressionPolicy(true);
    for (let i = 0; i < 5; i++) {
      const chunk = text(CHUNK);
      const [payload, compressed] = await policy.encode(0, chunk);
      expect(compressed).toBe(true);
      expect(payload.length).toBeLessThan(chunk.length / 4);
      expect((await decompressChunk(payload, chunk.length)).equals(chunk)).toBe(true);
    }
  });

  it('a disabled policy never compresses', async () => {
    const policy = new CompressionPolicy(false);
    for (const chunk of [text(CHUNK), Buffer.alloc(CHUNK), text(2000)]) {
      const [payload, compressed] = await policy.encode(0, chunk);
      expect(compressed).toBe(false);
      expect(payload).toBe(chunk);
    }
  });

  it('judges a small file by its bytes: text and source compress, random and packed data do not', async () => {
    const policy = new CompressionPolicy(true);
    const source = Buffer.from(
      'export function add(a: number, b: number): number {\n  return a + b;\n}\n'.repeat(60),
    );
    const cases: [Buffer, boolean][] = [
      [text(4096), true],
      [source, true],
      [Buffer.alloc(8192), true],
      [randomBytes(4096), false],
      [deflateRawSync(text(64 * 1024), { level: 9 }).subarray(0, 4096), false],
      [randomBytes(32 * 1024), false],
    ];
    for (const [i, [chunk, pays]] of cases.entries()) {
      const [payload, compressed] = await policy.encode(100 + i, chunk);
      expect(compressed, `case ${i}`).toBe(pays);
      if (compressed)
        expect((await decompressChunk(payload, chunk.length)).equals(chunk)).toBe(true);
      else expect(payload).toBe(chunk);
    }
    expect(byteEntropy(randomBytes(65536))).toBeGreaterThan(7.9);
    expect(byteEntropy(Buffer.alloc(100))).toBe(0);
  });

  it('leaves tiny chunks alone', async () => {
    const chunk = text(1023);
    expect(await new CompressionPolicy(true).encode(0, chunk)).toEqual([chunk, false]);
  });

  it('keeps state per file', async () => {
    const policy = new CompressionPolicy(true);
    expect((await policy.encode(0, randomBytes(CHUNK)))[1]).toBe(false);
    expect((await policy.encode(1, text(CHUNK)))[1]).toBe(true);
  });

  it('after a random chunk, probes again only every 32nd chunk', async () => {
    const policy = new CompressionPolicy(true);
    expect((await policy.encode(0, randomBytes(CHUNK)))[1]).toBe(false);
    const results: boolean[] = [];
    for (let i = 0; i < 32; i++) results.push((await policy.encode(0, text(CHUNK)))[1]);
    expect(results.slice(0, 31).every((c) => !c)).toBe(true);
    expect(results[31]).toBe(true);
  });

  it('stops compressing when a file turns incompressible mid-way', async () => {
    const policy = new CompressionPolicy(true);
    expect((await policy.encode(0, text(CHUNK)))[1]).toBe(true);
    // While compressing there is no probe: the whole chunk is deflated, and it does not pay.
    const mixed = randomBytes(CHUNK);
    const [payload, compressed] = await policy.encode(0, mixed);
    expect(compressed).toBe(false);
    expect(payload).toBe(mixed);
    // Back to probing: the next text chunk is not even tried.
    expect((await policy.encode(0, text(CHUNK)))[1]).toBe(false);
  });
});

describe('decompressChunk', () => {
  it('round-trips any deflated chunk of the declared length (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 5000 }), async (data) => {
        const out = await decompressChunk(deflateRawSync(data), data.length);
        expect(out.equals(Buffer.from(data))).toBe(true);
      }),
      { numRuns: 50 },
    );
  });

  it('refuses a decompression bomb: 8 MiB of zeros declared as 1 MiB', async () => {
    const bomb = deflateRawSync(Buffer.alloc(8 * MiB));
    expect(bomb.length).toBeLessThan(16 * 1024);
    await expect(decompressChunk(bomb, MiB)).rejects.toThrow(IntegrityError);
  });

  it('refuses a payload that inflates to less than declared', async () => {
    await expect(decompressChunk(deflateRawSync(text(1000)), 1001)).rejects.toThrow(IntegrityError);
  });

  it('refuses garbage and truncated streams', async () => {
    const good = deflateRawSync(text(CHUNK));
    const cases = [
      new Uint8Array([0xff, 0xff, 0xff, 0xff]),
      new Uint8Array([0x07]), // reserved block type
      good.subarray(0, good.length >> 1),
    ];
    for (const c of cases) await expect(decompressChunk(c, CHUNK)).rejects.toThrow(IntegrityError);
  });

  it('random bytes never inflate to anything but an IntegrityError or the exact length', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.nat({ max: 4096 }), async (b, n) => {
        try {
          expect((await decompressChunk(b, n)).length).toBe(n);
        } catch (e) {
          expect(e).toBeInstanceOf(IntegrityError);
        }
      }),
      { numRuns: 200 },
    );
  });
});
