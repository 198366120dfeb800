import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity, type Identity } from '../../../src/engine/crypto/identity.js';
import { ConnectionError, type FerryError, HandshakeError } from '../../../src/engine/errors.js';
import type { Link } from '../../../src/engine/transport/link.js';
import {
  dialTcp,
  dialTlsPipe,
  listenTcp,
  listenTlsPipes,
  type TcpListener,
  type TlsPipe,
} from '../../../src/engine/transport/tcp-link.js';
import { describeLinkCompliance, withTimeout } from './link-compliance.js';

const HOST = '127.0.0.1';
const STEP = 5_000;
const bounded = <T>(p: Promise<T>, what = 'await'): Promise<T> => withTimeout(p, STEP, what);

const serverId: Identity = generateIdentity();
const clientId: Identity = generateIdentity();

/** Links accepted by the listener, in order, with the key the client proved. */
const accepted: { link: Link; key: Uint8Array | undefined }[] = [];
const waiters: ((v: { link: Link; key: Uint8Array | undefined }) => void)[] = [];
const listenerErrors: FerryError[] = [];
let listener: TcpListener;

function nextAccepted(): Promise<{ link: Link; key: Uint8Array | undefined }> {
  const ready = accepted.shift();
  if (ready) return Promise.resolve(ready);
  return new Promise((resolve) => waiters.push(resolve));
}

beforeAll(async () => {
  listener = await listenTcp({
    identity: serverId,
    host: HOST,
    onLink: (link, key) => {
      const waiter = waiters.shift();
      if (waiter) waiter({ link, key });
      else accepted.push({ link, key });
    },
    onError: (err) => listenerErrors.push(err),
  });
});

afterAll(async () => {
  await listener.close();
  await Promise.allSettled(accepted.map((a) => a.link.close()));
});

async function tcpPair(): Promise<[Link, Link]> {
  const [{ link }, server] = await Promise.all([
    dialTcp({
      identity: clientId,
      host: HOST,
      port: listener.port,
      expectedPeer: serverId.publicKey,
    }),
    nextAccepted(),
  ]);
  return [link, server.link];
}

describeLinkCompliance('tcp+tls', tcpPair);

/** A port on loopback with nothing listening. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, HOST, r));
  const address = s.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('tcp link', () => {
  it('reports both identities and direct/tcp info', async () => {
    const [dialed, server] = await Promise.all([
      dialTcp({ identity: clientId, host: HOST, port: listener.port }),
      nextAccepted(),
    ]);
    try {
      expect(dialed.peerPublicKey).toEqual(serverId.publicKey);
      expect(server.key).toEqual(clientId.publicKey);
      for (const l of [dialed.link, server.link]) {
        expect(l.info.path).toBe('direct');
        expect(l.info.transport).toBe('tcp');
        expect(l.info.rttMs).toBeGreaterThanOrEqual(0);
      }
    } finally {
      await Promise.all([dialed.link.close(), server.link.close()]);
    }
  });

  it('fails with PEER_MISMATCH when the listener is not the expected peer', async () => {
    const errorsBefore = listenerErrors.length;
    const err = await dialTcp({
      identity: clientId,
      host: HOST,
      port: listener.port,
      expectedPeer: generateIdentity().publicKey,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HandshakeError);
    expect((err as HandshakeError).code).toBe('PEER_MISMATCH');
    // The listener sees either a failed handshake or a link that goes down at once.
    for (let i = 0; i < 100 && listenerErrors.length === errorsBefore; i++) {
      const dropped = accepted.shift();
      if (dropped) {
        const closed = (dropped.link as unknown as { closed: Promise<unknown> }).closed;
        expect(await bounded(closed)).toBeInstanceOf(ConnectionError);
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  });

  it('connecting to a closed port fails quickly with ConnectionError', async () => {
    const port = await closedPort();
    const started = performance.now();
    const err = await dialTcp({ identity: clientId, host: HOST, port }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as Error).message).toMatch(/refused/);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('times out against a port that never completes the TLS handshake', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, HOST, r));
    const address = silent.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      const err = await dialTcp({ identity: clientId, host: HOST, port, timeoutMs: 300 }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConnectionError);
      expect((err as Error).message).toBe(`TCP connect to ${HOST}:${port} timed out after 0.3 s`);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  it('a cancelled dial rejects with CANCELLED', async () => {
    const ac = new AbortController();
    ac.abort();
    const err = await dialTcp({
      identity: clientId,
      host: HOST,
      port: listener.port,
      signal: ac.signal,
    }).catch((e: unknown) => e);
    expect((err as FerryError).code).toBe('CANCELLED');
  });

  it('survives a plain-TCP client sending garbage, and keeps serving', async () => {
    const errorsBefore = listenerErrors.length;
    const garbage = netConnect(listener.port, HOST);
    garbage.on('error', () => {});
    await new Promise<void>((r) => garbage.once('connect', () => r()));
    garbage.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(50)));
    await new Promise<void>((r) => garbage.once('close', () => r()));
    expect(listenerErrors.length).toBeGreaterThan(errorsBefore);
    // A TLS client without a certificate is dropped too.
    const anonymous = tlsConnect({
      host: HOST,
      port: listener.port,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.3',
    });
    anonymous.on('error', () => {});
    await new Promise<void>((r) => anonymous.once('close', () => r()));
    // Still serving.
    const [a, b] = await tcpPair();
    const [s, r] = await Promise.all([a.openStream(), b.acceptStream()]);
    await s.write(new TextEncoder().encode('ok'));
    expect(Buffer.from((await bounded(r!.read()))!).toString()).toBe('ok');
    await Promise.all([a.close(), b.close()]);
  });

  it('bare TLS pipe (socket-stream): half-close, then the other direction still works', async () => {
    let onPipe: (p: Omit<TlsPipe, 'peerPublicKey'>) => void = () => {};
    const serverPipe = new Promise<Omit<TlsPipe, 'peerPublicKey'>>((r) => {
      onPipe = r;
    });
    const l = await listenTlsPipes({ identity: serverId, onPipe: (p) => onPipe(p) });
    try {
      const client = await dialTlsPipe({ identity: clientId, host: HOST, port: l.port });
      const server = (await bounded(serverPipe)).pipe;
      await client.pipe.write(new TextEncoder().encode('question'));
      await client.pipe.closeWrite();
      let got = '';
      for (;;) {
        const p = await bounded(server.read());
        if (p === null) break;
        got += Buffer.from(p).toString();
      }
      expect(got).toBe('question');
      await server.write(new TextEncoder().encode('answer'));
      await server.closeWrite();
      let back = '';
      for (;;) {
        const p = await bounded(client.pipe.read());
        if (p === null) break;
        back += Buffer.from(p).toString();
      }
      expect(back).toBe('answer');
      client.pipe.abort();
      await expect(client.pipe.write(new Uint8Array(1))).rejects.toBeInstanceOf(ConnectionError);
    } finally {
      await l.close();
    }
  });
});
