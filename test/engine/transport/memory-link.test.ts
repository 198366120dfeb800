import { describe, expect, it } from 'vitest';
import { ConnectionError } from '../../../src/engine/errors.js';
import type { ByteStream } from '../../../src/engine/transport/link.js';
import {
  createMemoryLinkPair,
  createMemoryStreamPair,
} from '../../../src/engine/transport/memory-link.js';
import { describeLinkCompliance, withTimeout } from './link-compliance.js';

describeLinkCompliance('memory', () => createMemoryLinkPair());
describeLinkCompliance('memory, 2 ms latency, 1 MiB buffers', () =>
  createMemoryLinkPair({
    highWaterMark: 1024 * 1024,
    faults: { aToB: { latencyMs: 2 }, bToA: { latencyMs: 2 } },
  }),
);

const STEP = 5_000;
const bounded = <T>(p: Promise<T>, what = 'await'): Promise<T> => withTimeout(p, STEP, what);

function bytes(n: number, seed = 0): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

/** Read until null or an error; report what came and how it ended. */
async function drain(s: ByteStream): Promise<{ data: Uint8Array; error: unknown }> {
  const pieces: Uint8Array[] = [];
  let error: unknown;
  try {
    for (;;) {
      const p = await bounded(s.read(), 'read');
      if (p === null) break;
      pieces.push(p);
    }
  } catch (e) {
    error = e;
  }
  const data = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of pieces) {
    data.set(p, at);
    at += p.length;
  }
  return { data, error };
}

/** Write `data` in pieces of `size`, swallowing the first rejection; returns it. */
async function writeAll(s: ByteStream, data: Uint8Array, size: number): Promise<unknown> {
  try {
    for (let at = 0; at < data.length; at += size) {
      await bounded(s.write(data.subarray(at, at + size)), 'write');
    }
    await bounded(s.closeWrite(), 'closeWrite');
    return undefined;
  } catch (e) {
    return e;
  }
}

describe('memory link', () => {
  it('delivers the written pieces as-is, without copying', async () => {
    const [a, b] = createMemoryStreamPair();
    const piece = bytes(100);
    await a.write(piece);
    expect(await b.read()).toBe(piece);
  });

  it('reports memory info', () => {
    const [a] = createMemoryLinkPair();
    expect(a.info).toEqual({ path: 'memory', transport: 'memory' });
  });

  it('rejects a second concurrent read', async () => {
    const [, b] = createMemoryStreamPair();
    const first = b.read();
    await expect(b.read()).rejects.toThrow(/already pending/);
    b.abort();
    await expect(first).rejects.toThrow();
  });

  it('abort rejects with the reason locally and a ConnectionError at the peer', async () => {
    const [a, b] = createMemoryStreamPair();
    const pending = b.read();
    const reason = new Error('user cancelled');
    a.abort(reason);
    await expect(pending).rejects.toBeInstanceOf(ConnectionError);
    await expect(a.read()).rejects.toBe(reason);
    await expect(a.write(bytes(1))).rejects.toBe(reason);
    await expect(b.write(bytes(1))).rejects.toBeInstanceOf(ConnectionError);
  });

  it('link close breaks streams with ConnectionError on both sides', async () => {
    const [la, lb] = createMemoryLinkPair();
    const [sa, sb] = await Promise.all([la.openStream(), lb.acceptStream()]);
    const pa = sa.read();
    const pb = sb!.read();
    await lb.close();
    await expect(pa).rejects.toBeInstanceOf(ConnectionError);
    await expect(pb).rejects.toBeInstanceOf(ConnectionError);
    await expect(la.openStream()).rejects.toBeInstanceOf(ConnectionError);
  });

  it('rejects invalid options with RangeError', () => {
    expect(() => createMemoryStreamPair({ highWaterMark: 0 })).toThrow(RangeError);
    expect(() => createMemoryStreamPair({ faults: { aToB: { cutAtByte: -1 } } })).toThrow(
      RangeError,
    );
    expect(() => createMemoryStreamPair({ faults: { aToB: { flipMask: 0 } } })).toThrow(RangeError);
  });
});

describe('memory link faults', () => {
  it('latency delays delivery and keeps order', async () => {
    const latencyMs = 40;
    const [a, b] = createMemoryStreamPair({ faults: { aToB: { latencyMs } } });
    const started = performance.now();
    const pieces = Array.from({ length: 100 }, (_, i) => bytes(10, i));
    for (const p of pieces) await a.write(p);
    await a.closeWrite();
    // All 100 writes were accepted without waiting for delivery (a delay line,
    // not one piece per latency period).
    expect(performance.now() - started).toBeLessThan(latencyMs);
    const first = await bounded(b.read());
    const firstAt = performance.now() - started;
    expect(firstAt).toBeGreaterThanOrEqual(latencyMs - 1);
    const got = [first];
    for (;;) {
      const p = await bounded(b.read());
      if (p === null) break;
      got.push(p);
    }
    expect(got).toEqual(pieces);
    // Delivery of the whole batch took about one latency, not 100.
    expect(performance.now() - started).toBeLessThan(latencyMs * 20);
  });

  it('latency applies per direction', async () => {
    const [a, b] = createMemoryStreamPair({ faults: { aToB: { latencyMs: 50 } } });
    const started = performance.now();
    await b.write(bytes(1));
    await bounded(a.read());
    expect(performance.now() - started).toBeLessThan(40);
  });

  it('cut at byte N: the reader gets exactly N bytes, then both ends reject', async () => {
    for (const latencyMs of [0, 3]) {
      const cutAtByte = 10_000;
      const [a, b] = createMemoryStreamPair({ faults: { aToB: { cutAtByte, latencyMs } } });
      const data = bytes(50_000);
      const [writeError, received] = await Promise.all([writeAll(a, data, 3_000), drain(b)]);
      expect(received.data).toEqual(data.subarray(0, cutAtByte));
      expect(received.error).toBeInstanceOf(ConnectionError);
      expect(writeError).toBeInstanceOf(ConnectionError);
      // The other direction is broken too.
      await expect(a.read()).rejects.toBeInstanceOf(ConnectionError);
      await expect(b.write(bytes(1))).rejects.toBeInstanceOf(ConnectionError);
    }
  });

  it('cut: bytes that already arrived stay readable, in-flight bytes of the other direction are lost', async () => {
    const [a, b] = createMemoryStreamPair({ faults: { aToB: { cutAtByte: 5 } } });
    await b.write(bytes(7)); // arrives at a, not yet read
    await expect(a.write(bytes(5))).rejects.toBeInstanceOf(ConnectionError);
    expect(await a.read()).toEqual(bytes(7));
    await expect(a.read()).rejects.toBeInstanceOf(ConnectionError);
    expect(await b.read()).toEqual(bytes(5));
    await expect(b.read()).rejects.toBeInstanceOf(ConnectionError);
  });

  it('truncate at byte N: a clean end after exactly N bytes', async () => {
    for (const latencyMs of [0, 3]) {
      const truncateAtByte = 12_345;
      const [a, b] = createMemoryStreamPair({ faults: { aToB: { truncateAtByte, latencyMs } } });
      const data = bytes(40_000);
      const [writeError, received] = await Promise.all([writeAll(a, data, 4_096), drain(b)]);
      expect(writeError).toBeUndefined();
      expect(received.error).toBeUndefined();
      expect(received.data).toEqual(data.subarray(0, truncateAtByte));
      // The reverse direction still works.
      await b.write(bytes(3));
      expect(await bounded(a.read())).toEqual(bytes(3));
    }
  });

  it('flip byte at N: exactly that byte differs, the writer buffer is untouched', async () => {
    const flips = [0, 4_095, 4_096, 20_000];
    const [a, b] = createMemoryStreamPair({ faults: { aToB: { flipByteAt: flips } } });
    const data = bytes(30_000);
    const original = data.slice();
    const [, received] = await Promise.all([writeAll(a, data, 4_096), drain(b)]);
    expect(data).toEqual(original);
    const differing: number[] = [];
    for (let i = 0; i < data.length; i++) {
      if (received.data[i] !== data[i]) {
        differing.push(i);
        expect(received.data[i]).toBe(data[i]! ^ 0x01);
      }
    }
    expect(differing).toEqual(flips);
  });

  it('flip with a custom mask, and onBytes sees every piece', async () => {
    const seen: number[] = [];
    const [a, b] = createMemoryStreamPair({
      faults: {
        aToB: { flipByteAt: 2, flipMask: 0xff, onBytes: (p, at) => seen.push(at, p.length) },
      },
    });
    const data = bytes(8);
    const second = data.subarray(4);
    await a.write(data.subarray(0, 4));
    await a.write(second);
    const got = [await b.read(), await b.read()];
    expect(got[0]![2]).toBe(data[2]! ^ 0xff);
    // A piece without a flipped byte is passed through, not copied.
    expect(got[1]).toBe(second);
    expect(seen).toEqual([0, 4, 4, 4]);
  });

  it('backpressure: write does not resolve while the buffer is full and nobody reads', async () => {
    const highWaterMark = 64 * 1024;
    const [a, b] = createMemoryStreamPair({ highWaterMark });
    const piece = 16 * 1024;
    // Below the mark: resolves at once.
    for (let i = 0; i < 3; i++) await bounded(a.write(bytes(piece)), 'write below mark');
    // This one reaches the mark: accepted but not resolved.
    let resolved = false;
    const full = a.write(bytes(piece)).then(() => {
      resolved = true;
    });
    // A further write queues behind it and is not even accepted yet.
    let laterResolved = false;
    const later = a.write(bytes(piece, 7)).then(() => {
      laterResolved = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(resolved).toBe(false);
    expect(laterResolved).toBe(false);
    // Reading one piece brings the buffer below the mark.
    await b.read();
    await bounded(full, 'write released by read');
    expect(resolved).toBe(true);
    // Drain everything; the queued write lands in order.
    const pieces: Uint8Array[] = [];
    for (let i = 0; i < 4; i++) pieces.push((await bounded(b.read()))!);
    await bounded(later, 'queued write');
    expect(pieces[3]).toEqual(bytes(piece, 7));
  });

  it('faults can target the Nth stream only', async () => {
    const [la, lb] = createMemoryLinkPair({
      faults: (i) => (i === 1 ? { aToB: { truncateAtByte: 2 } } : undefined),
    });
    const results: Uint8Array[] = [];
    for (let i = 0; i < 3; i++) {
      const [s, r] = await Promise.all([la.openStream(), lb.acceptStream()]);
      const run = writeAll(s, bytes(10), 10);
      const got = await drain(r!);
      await run;
      results.push(got.data);
    }
    expect(results.map((r) => r.length)).toEqual([10, 2, 10]);
  });

  it('faults follow link direction, not who opened the stream', async () => {
    const [la, lb] = createMemoryLinkPair({ faults: { aToB: { truncateAtByte: 3 } } });
    // Opened by b: b→a is unaffected, a→b is truncated.
    const [fromB, atA] = await Promise.all([lb.openStream(), la.acceptStream()]);
    const [w1, r1] = await Promise.all([writeAll(fromB, bytes(10), 5), drain(atA!)]);
    expect(w1).toBeUndefined();
    expect(r1.data.length).toBe(10);
    const [w2, r2] = await Promise.all([writeAll(atA!, bytes(10), 5), drain(fromB)]);
    expect(w2).toBeUndefined();
    expect(r2.data.length).toBe(3);
  });
});
