/**
 * Framing: round trips over arbitrary piece boundaries, caps enforced on the
 * length field before any body byte is buffered, clean and unclean ends.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConnectionError, ProtocolError } from '../../../src/engine/errors.js';
import {
  FRAME_CAPS,
  FrameReader,
  FrameType,
  FrameWriter,
} from '../../../src/engine/protocol/frame.js';
import type { ByteStream } from '../../../src/engine/transport/link.js';

const TYPES = [FrameType.Handshake, FrameType.Control, FrameType.Data, FrameType.Alert] as const;

/** A stream that yields `pieces` in order, then either ends cleanly or never answers again. */
function scripted(
  pieces: readonly Uint8Array[],
  after: 'end' | 'hang' = 'end',
): { stream: ByteStream; reads: () => number } {
  let next = 0;
  let reads = 0;
  const stream: ByteStream = {
    async write() {
      throw new Error('read-only stream');
    },
    read() {
      reads++;
      const piece = pieces[next++];
      if (piece !== undefined) return Promise.resolve(piece);
      return after === 'end' ? Promise.resolve(null) : new Promise<never>(() => undefined);
    },
    async closeWrite() {},
    abort() {},
  };
  return { stream, reads: () => reads };
}

/** A stream that records every write. */
function collector(): { stream: ByteStream; written: Uint8Array[] } {
  const written: Uint8Array[] = [];
  const stream: ByteStream = {
    async write(bytes) {
      written.push(Buffer.from(bytes));
    },
    read: () => Promise.resolve(null),
    async closeWrite() {},
    abort() {},
  };
  return { stream, written };
}

function header(length: number, type: number): Uint8Array {
  const h = Buffer.alloc(5);
  h.writeUInt32BE(length, 0);
  h[4] = type;
  return h;
}

/** Split `bytes` at the given cut points (any values; reduced modulo the length). */
function split(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % bytes.length)))]
    .filter((c) => c > 0)
    .sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out;
}

/** Bound an await so a reader that wrongly waits for more bytes fails the test instead of hanging. */
function within<T>(p: Promise<T>, ms = 2000): Promise<T> {
  return Promise.race([
    p,
    new Promise<never>((_, reject) =>
      AbortSignal.timeout(ms).addEventListener('abort', () =>
        reject(new Error(`no answer within ${ms} ms`)),
      ),
    ),
  ]);
}

const frameArb = fc.record({
  type: fc.constantFrom(...TYPES),
  // Mostly small, sometimes above the 16 KiB single-write threshold of FrameWriter.
  parts: fc.array(
    fc.oneof(
      { weight: 5, arbitrary: fc.uint8Array({ maxLength: 300 }) },
      { weight: 1, arbitrary: fc.uint8Array({ minLength: 9000, maxLength: 9100 }) },
    ),
    { maxLength: 3 },
  ),
});

describe('FrameReader and FrameWriter', () => {
  it('round-trip any frames split into arbitrary pieces, then end cleanly with null', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc
          .array(frameArb, { maxLength: 8 })
          .filter((fs) =>
            fs.every((f) => f.parts.reduce((n, p) => n + p.length, 1) <= FRAME_CAPS[f.type]),
          ),
        fc.array(fc.nat(), { maxLength: 40 }),
        async (frames, cuts) => {
          const out = collector();
          const writer = new FrameWriter(out.stream);
          for (const f of frames) await writer.write(f.type, ...f.parts);
          const wire = Buffer.concat(out.written);
          expect(writer.bytesWritten).toBe(wire.length);

          const { stream } = scripted(split(wire, cuts));
          const reader = new FrameReader(stream);
          for (const f of frames) {
            const got = await within(reader.next());
            expect(got?.type).toBe(f.type);
            expect(Buffer.from(got!.body).equals(Buffer.concat(f.parts))).toBe(true);
          }
          expect(await within(reader.next())).toBeNull();
          expect(reader.bytesRead).toBe(wire.length);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('a frame at exactly its cap passes; one byte more is refused', async () => {
    const out = collector();
    const writer = new FrameWriter(out.stream);
    const cap = FRAME_CAPS[FrameType.Alert];
    await writer.write(FrameType.Alert, new Uint8Array(cap - 1));
    const { stream } = scripted([Buffer.concat(out.written)]);
    const got = await within(new FrameReader(stream).next());
    expect(got?.body.length).toBe(cap - 1);
  });

  it('the writer refuses a frame over the cap of its type and writes nothing', async () => {
    for (const type of TYPES) {
      const out = collector();
      const writer = new FrameWriter(out.stream);
      const cap = FRAME_CAPS[type];
      // Split in two parts: the cap applies to their sum.
      const half = Math.ceil(cap / 2);
      await expect(
        writer.write(type, new Uint8Array(half), new Uint8Array(cap - half)),
      ).rejects.toThrow(RangeError);
      expect(out.written).toEqual([]);
      expect(writer.bytesWritten).toBe(0);
    }
  });

  it('an oversized length is refused from the header alone, before any body is read', async () => {
    for (const type of TYPES) {
      for (const length of [FRAME_CAPS[type] + 1, 0xffff_ffff]) {
        // The stream yields the header and then never answers: a reader that
        // tried to buffer the body would hang here.
        const s = scripted([header(length, type)], 'hang');
        const reader = new FrameReader(s.stream);
        await expect(within(reader.next())).rejects.toThrow(ProtocolError);
        expect(s.reads()).toBe(1);
      }
    }
  });

  it('an empty-body frame is read even when nothing follows it', async () => {
    // Regression: #take(0) with no piece buffered threw a TypeError.
    const reader = new FrameReader(scripted([header(1, FrameType.Control)]).stream);
    const got = await within(reader.next());
    expect(got?.type).toBe(FrameType.Control);
    expect(got?.body.length).toBe(0);
    expect(await within(reader.next())).toBeNull();
  });

  it('a zero length (no type byte counted) is a ProtocolError', async () => {
    const s = scripted([header(0, FrameType.Control)], 'hang');
    await expect(within(new FrameReader(s.stream).next())).rejects.toThrow(ProtocolError);
  });

  it('an unknown frame type is a ProtocolError', async () => {
    for (const type of [0, 6, 0x7f, 0xff]) {
      const s = scripted([header(10, type), new Uint8Array(9)], 'hang');
      await expect(within(new FrameReader(s.stream).next())).rejects.toThrow(ProtocolError);
      expect(s.reads()).toBe(1);
    }
  });

  it('a stream ending mid-header or mid-body is a ConnectionError', async () => {
    const whole = Buffer.concat([header(11, FrameType.Control), new Uint8Array(10).fill(7)]);
    for (const cut of [1, 4, 5, 6, 14]) {
      const pieces = split(whole.subarray(0, cut), [2]);
      const reader = new FrameReader(scripted(pieces).stream);
      await expect(within(reader.next())).rejects.toThrow(ConnectionError);
    }
    // After one whole frame, a partial second one is still an unclean end.
    const reader = new FrameReader(scripted([whole, whole.subarray(0, 3)]).stream);
    expect((await within(reader.next()))?.body.length).toBe(10);
    await expect(within(reader.next())).rejects.toThrow(ConnectionError);
  });

  it('a clean end between frames is null, and empty pieces are skipped', async () => {
    expect(await within(new FrameReader(scripted([]).stream).next())).toBeNull();
    const frame = Buffer.concat([header(3, FrameType.Handshake), Buffer.from([1, 2])]);
    const reader = new FrameReader(
      scripted([new Uint8Array(0), frame.subarray(0, 2), new Uint8Array(0), frame.subarray(2)])
        .stream,
    );
    let activity = 0;
    reader.onActivity = () => activity++;
    expect([...((await within(reader.next()))?.body ?? [])]).toEqual([1, 2]);
    expect(await within(reader.next())).toBeNull();
    expect(activity).toBe(2);
  });
});
