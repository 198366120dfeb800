import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionError, FerryError, ProtocolError } from '../../../src/engine/errors.js';
import type { ByteStream, Link } from '../../../src/engine/transport/link.js';
import { createMemoryStreamPair } from '../../../src/engine/transport/memory-link.js';
import {
  createMuxLink,
  MUX_HEADER_BYTES,
  MuxFrameType,
  type MuxLink,
  type MuxLinkOptions,
} from '../../../src/engine/transport/mux-link.js';
import { describeLinkCompliance, withTimeout } from './link-compliance.js';

const INFO = { path: 'memory', transport: 'memory' } as const;

type Tuning = Omit<MuxLinkOptions, 'initiator' | 'info'>;

function muxPair(tuning: Tuning = {}, pipeHighWaterMark?: number): [MuxLink, MuxLink] {
  const [pa, pb] = createMemoryStreamPair(
    pipeHighWaterMark === undefined ? {} : { highWaterMark: pipeHighWaterMark },
  );
  return [
    createMuxLink(pa, { ...tuning, initiator: true, info: INFO }),
    createMuxLink(pb, { ...tuning, initiator: false, info: INFO }),
  ];
}

describeLinkCompliance('mux over memory pipe', () => muxPair());
describeLinkCompliance('mux over memory pipe, 64 KiB windows, small pipe buffer', () =>
  muxPair({ windowBytes: 64 * 1024 }, 16 * 1024),
);

const STEP = 5_000;
const bounded = <T>(p: Promise<T>, what = 'await'): Promise<T> => withTimeout(p, STEP, what);

function header(id: number, type: number, length: number): Uint8Array {
  const h = Buffer.alloc(MUX_HEADER_BYTES);
  h.writeUInt32BE(id, 0);
  h.writeUInt8(type, 4);
  h.writeUInt32BE(length, 5);
  return h;
}

function bytes(n: number, seed = 0): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

/** Settles within `ms`? */
async function settles(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<false>((r) => {
    timer = setTimeout(() => r(false), ms);
  });
  const done = p.then(
    () => true,
    () => true,
  );
  try {
    return await Promise.race([done, t]);
  } finally {
    clearTimeout(timer);
  }
}

async function readAll(s: ByteStream): Promise<number> {
  let n = 0;
  for (;;) {
    const p = await bounded(s.read(), 'read');
    if (p === null) return n;
    n += p.length;
  }
}

let open: Link[] = [];
afterEach(async () => {
  const links = open;
  open = [];
  await Promise.allSettled(links.map((l) => withTimeout(l.close(), STEP, 'close')));
});

function track<T extends Link[]>(...links: T): T {
  open.push(...links);
  return links;
}

describe('mux link', () => {
  it('per-stream flow control: an unread stream does not block another', async () => {
    const window = 64 * 1024;
    const [a, b] = track(...muxPair({ windowBytes: window }));
    const [stuck, stuckPeer] = await Promise.all([a.openStream(), b.acceptStream()]);
    const [live, livePeer] = await Promise.all([a.openStream(), b.acceptStream()]);
    // Fill the stuck stream's window; its next write cannot complete.
    let stuckAccepted = 0;
    let blocked: Promise<void> | undefined;
    for (let i = 0; i < 64; i++) {
      const w = stuck.write(bytes(16 * 1024, i));
      if (!(await settles(w, 100))) {
        blocked = w;
        break;
      }
      stuckAccepted += 16 * 1024;
    }
    expect(blocked).toBeDefined();
    expect(stuckAccepted).toBeLessThanOrEqual(window + 16 * 1024);
    // Meanwhile 8 MiB flow freely on the other stream.
    const total = 8 * 1024 * 1024;
    const writer = (async () => {
      for (let at = 0; at < total; at += 64 * 1024) await bounded(live.write(bytes(64 * 1024)));
      await bounded(live.closeWrite());
    })();
    expect(await readAll(livePeer!)).toBe(total);
    await writer;
    // Reading the stuck stream releases its writer.
    const reading = readAll(stuckPeer!);
    await bounded(blocked!, 'blocked write after reading');
    await bounded(stuck.closeWrite());
    expect(await reading).toBe(stuckAccepted + 16 * 1024);
  });

  it('refuses inbound streams beyond the cap with a reset, and keeps working', async () => {
    const [a, b] = track(...muxPair({ maxStreams: 4 }));
    // a's own cap: the fifth openStream is refused locally.
    const streams = await Promise.all(Array.from({ length: 4 }, () => a.openStream()));
    await expect(a.openStream()).rejects.toBeInstanceOf(ConnectionError);
    const accepted = await Promise.all(streams.map(() => b.acceptStream()));
    expect(accepted.every((s) => s !== null)).toBe(true);
    // A peer with a larger cap opens more than b allows: the excess is reset.
    const [pa, pb] = createMemoryStreamPair();
    const big = createMuxLink(pa, { initiator: true, info: INFO, maxStreams: 100 });
    const small = createMuxLink(pb, { initiator: false, info: INFO, maxStreams: 2 });
    track(big, small);
    const opened = await Promise.all(Array.from({ length: 3 }, () => big.openStream()));
    const refused = opened[2]!;
    await expect(bounded(refused.read(), 'read on refused stream')).rejects.toThrow(/reset/);
    // Closing one accepted stream frees a slot.
    const first = (await small.acceptStream())!;
    const second = (await small.acceptStream())!;
    await opened[0]!.closeWrite();
    await first.closeWrite();
    expect(await bounded(first.read())).toBeNull();
    expect(await bounded(opened[0]!.read())).toBeNull();
    const more = await big.openStream();
    const moreAccepted = await bounded(small.acceptStream(), 'accept after a slot freed');
    await more.write(bytes(5));
    expect(await bounded(moreAccepted!.read())).toEqual(bytes(5));
    expect(second).not.toBeNull();
  });

  it('detects a silent peer with the idle timeout', async () => {
    const [pa, pb] = createMemoryStreamPair();
    const link = createMuxLink(pa, {
      initiator: true,
      info: INFO,
      idleTimeoutMs: 300,
      keepAliveMs: 100,
    });
    track(link);
    // The peer reads (so our PINGs go out) but never answers.
    const pings: number[] = [];
    void (async () => {
      for (;;) {
        const p = await pb.read().catch(() => null);
        if (p === null) return;
        if (p[4] === MuxFrameType.Ping) pings.push(p.length);
      }
    })();
    const started = performance.now();
    const err = await bounded(link.closed, 'idle failure');
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err?.message).toMatch(/idle timeout/);
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(pings.length).toBeGreaterThan(0);
  });

  it('keep-alive keeps an idle but live link up', async () => {
    const [a, b] = track(...muxPair({ idleTimeoutMs: 300, keepAliveMs: 50 }));
    await new Promise((r) => setTimeout(r, 900));
    const [s, r] = await Promise.all([a.openStream(), b.acceptStream()]);
    await s.write(bytes(3));
    expect(await bounded(r!.read())).toEqual(bytes(3));
  });

  it('close flushes what was written, and both sides end cleanly', async () => {
    const [a, b] = muxPair();
    const [s, r] = await Promise.all([a.openStream(), b.acceptStream()]);
    await s.write(bytes(100_000));
    await s.closeWrite();
    await bounded(a.close(), 'close');
    expect(await readAll(r!)).toBe(100_000);
    expect(await bounded(a.closed)).toBeNull();
    expect(await bounded(b.closed)).toBeNull();
    expect(await bounded(b.acceptStream())).toBeNull();
  });

  it('a pipe cut fails every stream with ConnectionError', async () => {
    const [pa, pb] = createMemoryStreamPair();
    const a = createMuxLink(pa, { initiator: true, info: INFO });
    const b = createMuxLink(pb, { initiator: false, info: INFO });
    const [s] = await Promise.all([a.openStream(), b.acceptStream()]);
    const pending = s.read();
    pb.abort(new Error('network gone'));
    await expect(bounded(pending)).rejects.toBeInstanceOf(ConnectionError);
    expect(await bounded(a.closed)).toBeInstanceOf(ConnectionError);
    expect(await bounded(a.acceptStream())).toBeNull();
  });
});

describe('mux link: malformed input', () => {
  /** A mux link (responder) whose peer is a raw pipe we write bytes into. */
  function victim(): { link: MuxLink; raw: ByteStream } {
    const [raw, pipe] = createMemoryStreamPair({ highWaterMark: 64 * 1024 * 1024 });
    const link = createMuxLink(pipe, { initiator: false, info: INFO, windowBytes: 64 * 1024 });
    // Drain what the link sends so it never stalls on us.
    void (async () => {
      for (;;) if ((await raw.read().catch(() => null)) === null) return;
    })();
    return { link, raw };
  }

  /** Write `input` in pieces, then end; stops quietly once the link has cut the pipe. */
  async function feed(raw: ByteStream, input: Uint8Array, piece: number): Promise<void> {
    try {
      for (let at = 0; at < input.length; at += piece)
        await raw.write(input.subarray(at, at + piece));
      await raw.closeWrite();
    } catch (e) {
      expect(e).toBeInstanceOf(ConnectionError);
    }
  }

  const cases: [string, Uint8Array[]][] = [
    ['unknown frame type', [header(0, 42, 0)]],
    ['DATA for a stream never opened', [header(1, MuxFrameType.Data, 4), bytes(4)]],
    ['DATA on stream 0', [header(0, MuxFrameType.Data, 4), bytes(4)]],
    ['oversized DATA', [header(1, MuxFrameType.Open, 0), header(1, MuxFrameType.Data, 1 << 20)]],
    ['empty DATA', [header(1, MuxFrameType.Open, 0), header(1, MuxFrameType.Data, 0)]],
    ['OPEN with our parity', [header(2, MuxFrameType.Open, 0)]],
    ['OPEN with a length', [header(1, MuxFrameType.Open, 5)]],
    ['OPEN reusing an id', [header(3, MuxFrameType.Open, 0), header(1, MuxFrameType.Open, 0)]],
    [
      'DATA beyond the window',
      [
        header(1, MuxFrameType.Open, 0),
        ...Array.from({ length: 2 }, () => [
          header(1, MuxFrameType.Data, 40_000),
          bytes(40_000),
        ]).flat(),
      ],
    ],
    [
      'DATA after FIN',
      [
        header(1, MuxFrameType.Open, 0),
        header(1, MuxFrameType.Fin, 0),
        header(1, MuxFrameType.Data, 1),
        bytes(1),
      ],
    ],
    [
      'WINDOW_UPDATE of 0',
      [header(1, MuxFrameType.Open, 0), header(1, MuxFrameType.WindowUpdate, 0)],
    ],
    [
      'WINDOW_UPDATE overflow',
      [header(1, MuxFrameType.Open, 0), header(1, MuxFrameType.WindowUpdate, 0xffff_ffff)],
    ],
    ['PING on a stream', [header(1, MuxFrameType.Ping, 0)]],
    ['GOAWAY on a stream', [header(1, MuxFrameType.GoAway, 0)]],
    ['GOAWAY protocol error', [header(0, MuxFrameType.GoAway, 1)]],
  ];

  for (const [name, frames] of cases) {
    it(`${name} → ProtocolError`, async () => {
      const { link, raw } = victim();
      // Split the input at odd places to exercise the parser's reassembly.
      const all = Buffer.concat(frames);
      await feed(raw, all, 7);
      const err = await bounded(link.closed, 'link failure');
      expect(err).toBeInstanceOf(ProtocolError);
      expect(await bounded(link.acceptStream())).toBeNull();
      await expect(link.openStream()).rejects.toBeInstanceOf(ProtocolError);
    });
  }

  it('a stream sees the ProtocolError that broke the link', async () => {
    const { link, raw } = victim();
    await raw.write(header(1, MuxFrameType.Open, 0));
    const s = (await bounded(link.acceptStream()))!;
    const pending = s.read();
    await raw.write(header(1, MuxFrameType.Data, 0));
    await expect(bounded(pending)).rejects.toBeInstanceOf(ProtocolError);
  });

  it('random bytes never crash it: the link fails with a FerryError', async () => {
    let protocolErrors = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 9, maxLength: 2_000 }),
        fc.integer({ min: 1, max: 64 }),
        async (input, piece) => {
          const { link, raw } = victim();
          await feed(raw, input, piece);
          const err = await bounded(link.closed, 'link failure');
          expect(err).toBeInstanceOf(FerryError);
          if (err instanceof ProtocolError) protocolErrors++;
          await bounded(link.close(), 'close after failure');
        },
      ),
      { numRuns: 300 },
    );
    // Random headers are almost never valid frames.
    expect(protocolErrors).toBeGreaterThan(290);
  });

  it('random bytes after a valid prefix, mid-conversation', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 9, maxLength: 500 }), async (garbage) => {
        const { link, raw } = victim();
        await raw.write(
          Buffer.concat([
            header(1, MuxFrameType.Open, 0),
            header(1, MuxFrameType.Data, 3),
            bytes(3),
          ]),
        );
        const s = (await bounded(link.acceptStream()))!;
        expect(Uint8Array.from((await bounded(s.read()))!)).toEqual(bytes(3));
        await feed(raw, garbage, garbage.length);
        const err = await bounded(link.closed, 'link failure');
        expect(err).toBeInstanceOf(FerryError);
        await expect(bounded(s.read())).rejects.toBeInstanceOf(FerryError);
      }),
      { numRuns: 100 },
    );
  });
});
