/**
 * QUIC Link adapter over loopback: the shared compliance suite plus
 * QUIC-specific checks (peer keys, connect timeout, close delivery, a killed
 * peer, many dial/close cycles).
 *
 * Network safety: listeners bind 127.0.0.1 only, but the quinn binding's
 * dial socket always binds the wildcard address (0.0.0.0:0, no option to
 * change it). So these tests run only inside a network namespace that has
 * nothing but loopback, e.g.
 *
 *   unshare -rn sh -c 'ip link set lo up && npx vitest run test/engine/transport/quic-link.test.ts'
 *
 * or when FERRY_QUIC_TESTS=1 says the wildcard client socket is acceptable.
 */
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { generateIdentity, type Identity } from '../../../src/engine/crypto/identity.js';
import { ConnectionError, FerryError, HandshakeError } from '../../../src/engine/errors.js';
import type { Link } from '../../../src/engine/transport/link.js';
import {
  type DialQuicOptions,
  dialQuic,
  type ListenQuicOptions,
  listenQuic,
  type QuicListener,
} from '../../../src/engine/transport/quic-link.js';
import { describeLinkCompliance, firstDifference, withTimeout } from './link-compliance.js';

const onlyLoopback = Object.values(networkInterfaces()).every((addrs) =>
  (addrs ?? []).every((a) => a.internal),
);
const enabled = onlyLoopback || process.env['FERRY_QUIC_TESTS'] === '1';
if (!enabled) {
  console.warn(
    'quic-link tests skipped: the QUIC dial socket binds 0.0.0.0; run them in a loopback-only ' +
      "network namespace (unshare -rn sh -c 'ip link set lo up && npx vitest run …') or set FERRY_QUIC_TESTS=1",
  );
}

const STEP = 10_000;
const bounded = <T>(p: Promise<T>, what: string, ms = STEP): Promise<T> => withTimeout(p, ms, what);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** A listener that hands out accepted links by the dialer's public key. */
class TestListener {
  readonly identity = generateIdentity();
  readonly #waiting = new Map<string, (v: { link: Link; peer: Uint8Array }) => void>();
  readonly #arrived = new Map<string, { link: Link; peer: Uint8Array }>();
  listener!: QuicListener;

  static async start(opts: Partial<ListenQuicOptions> = {}): Promise<TestListener> {
    const t = new TestListener();
    t.listener = await listenQuic({
      identity: t.identity,
      host: '127.0.0.1',
      port: 0,
      ...opts,
      onLink: (link, peer) => {
        const key = hex(peer);
        const waiter = t.#waiting.get(key);
        if (waiter) {
          t.#waiting.delete(key);
          waiter({ link, peer });
        } else {
          t.#arrived.set(key, { link, peer });
        }
      },
    });
    return t;
  }

  /** The link accepted from the dialer with `peer` as its key. */
  accepted(peer: Uint8Array): Promise<{ link: Link; peer: Uint8Array }> {
    const key = hex(peer);
    const ready = this.#arrived.get(key);
    if (ready) {
      this.#arrived.delete(key);
      return Promise.resolve(ready);
    }
    return new Promise((resolve) => this.#waiting.set(key, resolve));
  }

  dial(identity: Identity, opts: Partial<DialQuicOptions> = {}) {
    return dialQuic({ identity, host: '127.0.0.1', port: this.listener.port, ...opts });
  }

  /** Dial with a fresh identity; returns [dialer side, listener side]. */
  async pair(opts: Partial<DialQuicOptions> = {}): Promise<[Link, Link]> {
    const identity = generateIdentity();
    const accepted = this.accepted(identity.publicKey);
    const { link } = await this.dial(identity, opts);
    const other = await bounded(accepted, 'listener side of the link');
    return [link, other.link];
  }
}

/** Number of sockets this process holds open (Linux). */
function socketCount(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:')) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

describe.runIf(enabled)('QUIC link', () => {
  const listeners: TestListener[] = [];
  const started = async (opts: Partial<ListenQuicOptions> = {}): Promise<TestListener> => {
    const t = await TestListener.start(opts);
    listeners.push(t);
    return t;
  };
  let shared: Promise<TestListener> | undefined;

  afterAll(async () => {
    await Promise.allSettled(
      listeners.map((t) => withTimeout(t.listener.close(), STEP, 'listener close')),
    );
  });

  describeLinkCompliance('quic', async () => {
    shared ??= started();
    return (await shared).pair();
  });

  it('reports the authenticated peer key on both sides, and direct/quic info', async () => {
    const t = await started();
    const me = generateIdentity();
    const accepted = t.accepted(me.publicKey);
    const dialed = await t.dial(me);
    const other = await bounded(accepted, 'accepted');
    try {
      expect(dialed.peerPublicKey).toEqual(t.identity.publicKey);
      expect(other.peer).toEqual(me.publicKey);
      expect(dialed.link.info).toMatchObject({ path: 'direct', transport: 'quic' });
      expect(typeof dialed.link.info.rttMs).toBe('number');
    } finally {
      await Promise.all([dialed.link.close(), other.link.close()]);
    }
  });

  it('accepts expectedPeer when it matches, rejects with PEER_MISMATCH otherwise', async () => {
    const t = await started();
    const ok = await t.dial(generateIdentity(), { expectedPeer: t.identity.publicKey });
    await ok.link.close();
    const wrong = generateIdentity().publicKey;
    const err = await t.dial(generateIdentity(), { expectedPeer: wrong }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HandshakeError);
    expect((err as HandshakeError).code).toBe('PEER_MISMATCH');
  });

  it('dialling a closed port fails with ConnectionError within the connect timeout', async () => {
    const t = await TestListener.start();
    const port = t.listener.port;
    await t.listener.close();
    const t0 = performance.now();
    const err = await dialQuic({
      identity: generateIdentity(),
      host: '127.0.0.1',
      port,
      timeoutMs: 800,
    }).catch((e: unknown) => e);
    const elapsed = performance.now() - t0;
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as Error).message).toMatch(
      /QUIC connect to 127\.0\.0\.1:\d+ timed out after 0\.8 s/,
    );
    expect(elapsed).toBeGreaterThanOrEqual(700);
    expect(elapsed).toBeLessThan(2_000);
  });

  it('an aborted signal cancels the dial', async () => {
    const t = await TestListener.start();
    const port = t.listener.port;
    await t.listener.close();
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const err = await dialQuic({
      identity: generateIdentity(),
      host: '127.0.0.1',
      port,
      signal: ac.signal,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).code).toBe('CANCELLED');
  });

  it('rejects a host that is not an IP address', async () => {
    await expect(
      dialQuic({ identity: generateIdentity(), host: 'localhost', port: 1 }),
    ).rejects.toThrow(TypeError);
  });

  it('bytes written before closeWrite reach the reader even if the writer closes the link at once', async () => {
    const t = await started();
    const [writer, reader] = await t.pair();
    const [tx, rx] = await Promise.all([writer.openStream(), reader.acceptStream()]);
    if (rx === null) throw new Error('no stream');
    const total = 12 * 1024 * 1024;
    const data = randomFillSync(new Uint8Array(total));
    // Write everything, half-close, close the link, without waiting for the reader.
    const sending = (async () => {
      for (let at = 0; at < total; at += 256 * 1024) {
        await tx.write(data.subarray(at, at + 256 * 1024));
      }
      void tx.closeWrite();
      await writer.close();
    })();
    // A slow reader: the close must wait for it.
    const pieces: Uint8Array[] = [];
    let got = 0;
    for (;;) {
      const piece = await bounded(rx.read(), 'read');
      if (piece === null) break;
      pieces.push(piece);
      got += piece.length;
      if (pieces.length % 16 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    expect(got).toBe(total);
    expect(firstDifference(Buffer.concat(pieces), data)).toBe(-1);
    await bounded(sending, 'writer close');
    // The reader's side learns that the link is gone.
    expect(await bounded(reader.acceptStream(), 'accept after peer close')).toBeNull();
    await reader.close();
  });

  it('a killed peer process surfaces as a rejected read within the idle timeout', async () => {
    const t = await started({ maxIdleTimeoutMs: 1_500 });
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        fileURLToPath(new URL('./quic-dial-child.ts', import.meta.url)),
        String(t.listener.port),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      child.stdout.setEncoding('utf8');
      const peerHex = await bounded(
        new Promise<string>((resolve, reject) => {
          let out = '';
          child.stdout.on('data', (s: string) => {
            out += s;
            const line = out.split('\n')[0];
            if (out.includes('\n') && line) resolve(line.trim());
          });
          child.on('exit', (code) => reject(new Error(`child exited early (${code})`)));
        }),
        'child ready',
        20_000,
      );
      // The child dialled us, sent 'hi' and now just waits; find its link.
      const { link } = await bounded(t.accepted(Buffer.from(peerHex, 'hex')), 'child link');
      const stream = await bounded(link.acceptStream(), 'child stream');
      if (stream === null) throw new Error('no stream from child');
      expect(await bounded(stream.read(), 'first bytes')).toEqual(new TextEncoder().encode('hi'));
      const read = stream.read();
      const t0 = performance.now();
      child.kill('SIGKILL');
      await expect(bounded(read, 'read after kill', 5_000)).rejects.toBeInstanceOf(ConnectionError);
      expect(performance.now() - t0).toBeLessThan(4_000);
      await link.close();
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('works over IPv6 loopback (::1)', async () => {
    const t = await started({ host: '::1' });
    expect(t.listener.host).toBe('::1');
    const me = generateIdentity();
    const accepted = t.accepted(me.publicKey);
    const { link } = await dialQuic({ identity: me, host: '::1', port: t.listener.port });
    const other = (await bounded(accepted, 'accepted')).link;
    const [s, r] = await Promise.all([other.openStream(), link.acceptStream()]);
    await s.write(Uint8Array.of(6));
    expect(await bounded(r!.read(), 'read')).toEqual(Uint8Array.of(6));
    await Promise.all([link.close(), other.close()]);
  });

  it('closing the listener breaks its links promptly', async () => {
    const t = await TestListener.start();
    const [dialer, accepted] = await t.pair();
    const [s, r] = await Promise.all([accepted.openStream(), dialer.acceptStream()]);
    await s.write(Uint8Array.of(1));
    expect(await bounded(r!.read(), 'read')).toEqual(Uint8Array.of(1));
    const pending = r!.read();
    const t0 = performance.now();
    await bounded(t.listener.close(), 'listener close');
    await expect(bounded(pending, 'read after listener close')).rejects.toBeInstanceOf(
      ConnectionError,
    );
    expect(performance.now() - t0).toBeLessThan(3_000);
    expect(await bounded(dialer.acceptStream(), 'accept')).toBeNull();
    await dialer.close();
  });

  it('survives 30 sequential dial/close cycles without leaking sockets or stalling', async () => {
    const t = await started();
    const identity = generateIdentity();
    const cycle = async (i: number): Promise<void> => {
      const accepted = t.accepted(identity.publicKey);
      const { link } = await t.dial(identity, { timeoutMs: 2_000 });
      const other = (await bounded(accepted, `accept #${i}`)).link;
      const [s, r] = await Promise.all([link.openStream(), other.acceptStream()]);
      if (r === null) throw new Error('no stream');
      await s.write(Uint8Array.of(i));
      await s.closeWrite();
      expect(await bounded(r.read(), 'read')).toEqual(Uint8Array.of(i));
      expect(await bounded(r.read(), 'end')).toBeNull();
      await bounded(Promise.all([link.close(), other.close()]), `close #${i}`);
    };
    await cycle(0);
    const sockets = socketCount();
    const t0 = performance.now();
    for (let i = 1; i < 30; i++) await cycle(i);
    expect(performance.now() - t0).toBeLessThan(20_000);
    expect(socketCount()).toBeLessThanOrEqual(sockets + 2);
  });
});
