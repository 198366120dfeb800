/**
 * Compliance suite for the `Link` port. Every adapter (memory, QUIC, TCP+TLS)
 * runs these same scenarios:
 *
 *   describeLinkCompliance('tcp', async () => [await dial(), await accept()]);
 *
 * Every await is bounded, so a broken adapter fails a test instead of hanging.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { ByteStream, Link } from '../../../src/engine/transport/link.js';

/** Tuning for adapters whose buffers differ; defaults suit all planned transports. */
export interface LinkComplianceOptions {
  /** Deadline of each single await, in ms (default 10 s). */
  readonly stepTimeoutMs?: number;
  /** A writer whose peer does not read must stall before this many bytes (default 32 MiB). */
  readonly maxBufferedBytes?: number;
}

const MiB = 1024 * 1024;

/** Reject with a clear message if `p` does not settle within `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  const signal = AbortSignal.timeout(ms);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new Error(`timed out after ${ms} ms: ${what}`));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Whether `p` settles within `ms` (without consuming a rejection as failure). */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      p.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** Index of the first differing byte (or of the length mismatch), -1 if equal. */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  const cmp = Buffer.from(a.buffer, a.byteOffset, n).compare(
    Buffer.from(b.buffer, b.byteOffset, n),
  );
  if (cmp !== 0) {
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  }
  return a.length === b.length ? -1 : n;
}

function concat(pieces: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Register the Link compliance tests under `describe(name)`. `makePair`
 * returns two connected links; the suite closes both after each test.
 */
export function describeLinkCompliance(
  name: string,
  makePair: () => Promise<[Link, Link]> | [Link, Link],
  options: LinkComplianceOptions = {},
): void {
  const step = options.stepTimeoutMs ?? 10_000;
  const maxBuffered = options.maxBufferedBytes ?? 32 * MiB;

  const bounded = <T>(p: Promise<T>, what: string): Promise<T> => withTimeout(p, step, what);

  /** Read until end of stream; returns all bytes. */
  const readAll = async (s: ByteStream, what = 'read'): Promise<Uint8Array> => {
    const pieces: Uint8Array[] = [];
    for (;;) {
      const piece = await bounded(s.read(), what);
      if (piece === null) return concat(pieces);
      pieces.push(piece.slice());
    }
  };

  /** Read exactly `n` bytes (fails on an early end). */
  const readExactly = async (s: ByteStream, n: number): Promise<Uint8Array> => {
    const pieces: Uint8Array[] = [];
    let got = 0;
    while (got < n) {
      const piece = await bounded(s.read(), `read ${n - got} more bytes`);
      if (piece === null) throw new Error(`stream ended after ${got} of ${n} bytes`);
      pieces.push(piece.slice());
      got += piece.length;
    }
    expect(got).toBe(n);
    return concat(pieces);
  };

  /** Open a stream on `from`, accept it on `to`, and prove it carries bytes. */
  const connect = async (from: Link, to: Link): Promise<[ByteStream, ByteStream]> => {
    const [opened, accepted] = await Promise.all([
      bounded(from.openStream(), 'openStream'),
      bounded(to.acceptStream(), 'acceptStream'),
    ]);
    if (accepted === null) throw new Error('acceptStream returned null on an open link');
    return [opened, accepted];
  };

  describe(`Link compliance: ${name}`, () => {
    let links: Link[] = [];

    const pair = async (): Promise<[Link, Link]> => {
      const p = await bounded(Promise.resolve(makePair()), 'makePair');
      links.push(...p);
      return p;
    };

    afterEach(async () => {
      const closing = links;
      links = [];
      await Promise.allSettled(closing.map((l) => withTimeout(l.close(), step, 'close')));
    });

    it('reports its info', async () => {
      const [a, b] = await pair();
      for (const link of [a, b]) {
        expect(['direct', 'relay', 'memory']).toContain(link.info.path);
        expect(['quic', 'tcp', 'memory']).toContain(link.info.transport);
      }
    });

    it('opens and accepts a stream in both directions', async () => {
      const [a, b] = await pair();
      const [s1, r1] = await connect(a, b);
      await bounded(s1.write(utf8('hello')), 'write');
      expect(await readExactly(r1, 5)).toEqual(utf8('hello'));

      const [s2, r2] = await connect(b, a);
      await bounded(s2.write(utf8('back')), 'write');
      expect(await readExactly(r2, 4)).toEqual(utf8('back'));
    });

    it('echoes a conversation in order', async () => {
      const [a, b] = await pair();
      const [client, server] = await connect(a, b);
      const echo = (async () => {
        for (;;) {
          const piece = await bounded(server.read(), 'server read');
          if (piece === null) break;
          await bounded(server.write(piece.slice()), 'server write');
        }
        await bounded(server.closeWrite(), 'server closeWrite');
      })();
      const messages = Array.from({ length: 50 }, (_, i) => utf8(`message ${i};`));
      for (const m of messages) {
        await bounded(client.write(m), 'client write');
      }
      await bounded(client.closeWrite(), 'client closeWrite');
      expect(await readAll(client, 'client read')).toEqual(concat(messages));
      await bounded(echo, 'echo loop');
    });

    it('carries 20 concurrent streams without mixing them', async () => {
      const [a, b] = await pair();
      const count = 20;
      const server = (async () => {
        const handlers: Promise<void>[] = [];
        for (let i = 0; i < count; i++) {
          const s = await bounded(b.acceptStream(), `accept #${i}`);
          if (s === null) throw new Error('acceptStream returned null');
          handlers.push(
            (async () => {
              const got = await readAll(s, 'server read');
              // Echo back reversed so a stream answered with another's bytes is caught.
              await bounded(s.write(got.slice().reverse()), 'server write');
              await bounded(s.closeWrite(), 'server closeWrite');
            })(),
          );
        }
        await Promise.all(handlers);
      })();
      const clients = Array.from({ length: count }, async (_, i) => {
        const s = await bounded(a.openStream(), `open #${i}`);
        const payload = new Uint8Array(10_000 + i * 997);
        randomFillSync(payload);
        for (let at = 0; at < payload.length; at += 4096) {
          await bounded(s.write(payload.subarray(at, at + 4096)), 'client write');
        }
        await bounded(s.closeWrite(), 'client closeWrite');
        const back = await readAll(s, 'client read');
        expect(firstDifference(back, payload.slice().reverse())).toBe(-1);
      });
      await Promise.all([...clients, server]);
    });

    it('moves 32 MiB in pieces intact (hash check)', async () => {
      const [a, b] = await pair();
      const [tx, rx] = await connect(a, b);
      const total = 32 * MiB;
      const pieceSize = 64 * 1024;
      const sent = createHash('sha256');
      const received = createHash('sha256');
      const writer = (async () => {
        for (let at = 0; at < total; at += pieceSize) {
          // A fresh buffer per write: the writer must not mutate what it wrote.
          const piece = randomFillSync(new Uint8Array(pieceSize));
          sent.update(piece);
          await bounded(tx.write(piece), 'write');
        }
        await bounded(tx.closeWrite(), 'closeWrite');
      })();
      let got = 0;
      for (;;) {
        const piece = await bounded(rx.read(), 'read');
        if (piece === null) break;
        received.update(piece);
        got += piece.length;
      }
      await bounded(writer, 'writer');
      expect(got).toBe(total);
      expect(received.digest('hex')).toBe(sent.digest('hex'));
    });

    it('applies backpressure: a writer stalls while the peer does not read', async () => {
      const [a, b] = await pair();
      const [tx, rx] = await connect(a, b);
      const pieceSize = 256 * 1024;
      let accepted = 0;
      let stalled = false;
      const sent = createHash('sha256');
      while (accepted < 2 * maxBuffered) {
        const piece = randomFillSync(new Uint8Array(pieceSize));
        sent.update(piece);
        const w = tx.write(piece);
        if (!(await settlesWithin(w, 300))) {
          stalled = true;
          // Reading drains the buffer and must release the stalled write.
          const reading = (async () => {
            const received = createHash('sha256');
            let got = 0;
            for (;;) {
              const p = await bounded(rx.read(), 'read');
              if (p === null) break;
              received.update(p);
              got += p.length;
            }
            return { got, digest: received.digest('hex') };
          })();
          await bounded(w, 'stalled write after the reader started');
          accepted += pieceSize;
          await bounded(tx.closeWrite(), 'closeWrite');
          const { got, digest } = await bounded(reading, 'reader');
          expect(got).toBe(accepted);
          expect(digest).toBe(sent.digest('hex'));
          break;
        }
        await w;
        accepted += pieceSize;
      }
      expect(stalled).toBe(true);
      expect(accepted).toBeLessThanOrEqual(maxBuffered + pieceSize);
    });

    it('half-closes: closeWrite ends one direction, the other keeps working', async () => {
      const [a, b] = await pair();
      const [s, r] = await connect(a, b);
      await bounded(s.write(utf8('question')), 'write');
      await bounded(s.closeWrite(), 'closeWrite');
      // The peer drains what was sent before the end, then sees null.
      expect(await readAll(r)).toEqual(utf8('question'));
      expect(await bounded(r.read(), 'read after end')).toBeNull();
      // The other direction is still open.
      await bounded(r.write(utf8('answer')), 'reverse write');
      await bounded(r.write(utf8('!')), 'reverse write');
      await bounded(r.closeWrite(), 'reverse closeWrite');
      expect(await readAll(s)).toEqual(utf8('answer!'));
    });

    it('abort breaks both ends of a stream', async () => {
      const [a, b] = await pair();
      const [s, r] = await connect(a, b);
      await bounded(s.write(utf8('x')), 'write');
      await readExactly(r, 1);
      const pending = r.read();
      s.abort(new Error('test abort'));
      // The peer's pending read ends (rejects, or null on transports that
      // cannot tell a reset from an end) within the deadline.
      const outcome = await bounded(
        pending.then(
          (v) => ({ ok: true as const, v }),
          (e: unknown) => ({ ok: false as const, e }),
        ),
        'peer read after abort',
      );
      if (outcome.ok) expect(outcome.v).toBeNull();
      // The aborting side rejects later calls.
      await expect(bounded(s.read(), 'read after abort')).rejects.toThrow();
      await expect(bounded(s.write(utf8('y')), 'write after abort')).rejects.toThrow();
      // Other streams of the link are unaffected.
      const [s2, r2] = await connect(a, b);
      await bounded(s2.write(utf8('still here')), 'write');
      expect(await readExactly(r2, 10)).toEqual(utf8('still here'));
    });

    it('when one side closes the link, the other side notices', async () => {
      const [a, b] = await pair();
      const [s, r] = await connect(a, b);
      // Observe the read's outcome at once: on a real network the peer's read
      // fails before the local close() resolves.
      const pendingRead = r.read().then(
        (v) => ({ ok: true as const, v }),
        (e: unknown) => ({ ok: false as const, e }),
      );
      const pendingAccept = b.acceptStream();
      await bounded(a.close(), 'close');
      const outcome = await bounded(pendingRead, "peer's pending read after close");
      if (outcome.ok) expect(outcome.v).toBeNull();
      expect(await bounded(pendingAccept, "peer's pending acceptStream after close")).toBeNull();
      // The closing side's stream is dead too.
      await expect(bounded(s.write(utf8('late')), 'write after close')).rejects.toThrow();
    });

    it('acceptStream resolves null after close, and openStream fails', async () => {
      const [a, b] = await pair();
      const pendingAccept = a.acceptStream();
      await bounded(a.close(), 'close');
      expect(await bounded(pendingAccept, 'pending acceptStream')).toBeNull();
      expect(await bounded(a.acceptStream(), 'acceptStream after close')).toBeNull();
      await expect(bounded(a.openStream(), 'openStream after close')).rejects.toThrow();
      // close is idempotent.
      await bounded(a.close(), 'second close');
      await bounded(b.close(), 'peer close');
    });
  });
}
