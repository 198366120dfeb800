/**
 * The relay over loopback with real TLS sockets: pairing, splicing with
 * backpressure and half-close, every refusal code, hostile clients next to a
 * healthy pair, churn without leaks, metrics and log hygiene.
 * Binds and connects to 127.0.0.1 only.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConnectionOptions, connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  encodeJoin,
  JOIN_MAGIC,
  joinRelay,
  parseStatusFrame,
  RelayRejectedError,
  type RelayRole,
  type RelayStatus,
} from '../../src/relay/protocol.js';
import type { RelayLogEvent } from '../../src/relay/rooms.js';
import { type RelayOptions, type RelayServer, startRelay } from '../../src/relay/server.js';

const HOST = '127.0.0.1';
const MiB = 1024 * 1024;
let pem: { key: string; cert: string };
const logs: RelayLogEvent[] = [];
const roomsUsed: string[] = [];
const servers: RelayServer[] = [];
const sockets = new Set<TLSSocket>();

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-relay-test-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ed25519',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=ferry-relay',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    pem = {
      key: readFileSync(join(dir, 'key.pem'), 'utf8'),
      cert: readFileSync(join(dir, 'cert.pem'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => s.close()));
});

async function relay(opts: Partial<RelayOptions> = {}): Promise<RelayServer> {
  const server = await startRelay({
    host: HOST,
    port: 0,
    tls: pem,
    joinsPerMinutePerIp: 1_000_000,
    log: (e) => logs.push(e),
    ...opts,
  });
  servers.push(server);
  return server;
}

function newRoom(): Uint8Array {
  const room = randomBytes(32);
  roomsUsed.push(room.toString('hex'));
  return room;
}

/** A TLS client to the relay, pinned to its certificate. */
function dial(port: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    // allowHalfOpen works on TLS sockets but @types/node 20 omits it from ConnectionOptions.
    const options: ConnectionOptions & { allowHalfOpen: boolean } = {
      host: HOST,
      port,
      ca: pem.cert,
      checkServerIdentity: () => undefined,
      allowHalfOpen: true,
    };
    const s = connect(options);
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {}); // Resets are expected in several tests; `close` is what we assert.
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

async function joined(
  port: number,
  room: Uint8Array,
  role: RelayRole,
  password?: string,
): Promise<{ socket: TLSSocket; paired: Promise<void> }> {
  const socket = await dial(port);
  const paired = joinRelay(socket, {
    room,
    role,
    signal: AbortSignal.timeout(10_000),
    ...(password === undefined ? {} : { password }),
  });
  paired.catch(() => {});
  return { socket, paired };
}

/** Join and wait until the relay reports `waiting`. */
async function waitingClient(port: number, room: Uint8Array, role: RelayRole) {
  const socket = await dial(port);
  let onWaiting!: () => void;
  const waiting = new Promise<void>((r) => {
    onWaiting = r;
  });
  const paired = joinRelay(socket, { room, role, onWaiting, signal: AbortSignal.timeout(10_000) });
  paired.catch(() => {});
  await waiting;
  return { socket, paired };
}

async function pair(port: number, room = newRoom()): Promise<[TLSSocket, TLSSocket]> {
  const a = await joined(port, room, 'sender');
  const b = await joined(port, room, 'receiver');
  await Promise.all([a.paired, b.paired]);
  return [a.socket, b.socket];
}

function closed(s: TLSSocket): Promise<void> {
  if (s.destroyed) return Promise.resolve();
  return new Promise((r) => s.once('close', () => r()));
}

/**
 * Resolves once the relay has ended or dropped its side (the client reads
 * and discards meanwhile), then closes the client's side too.
 */
async function relayHungUp(s: TLSSocket): Promise<void> {
  if (!s.destroyed && !s.readableEnded) {
    await new Promise<void>((r) => {
      s.once('end', r);
      s.once('close', r);
      s.resume();
    });
  }
  s.destroy();
}

/** Everything a socket receives until its peer ends. */
function readAll(s: TLSSocket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.once('end', () => resolve(Buffer.concat(parts)));
    s.once('close', () => resolve(Buffer.concat(parts)));
    s.once('error', reject);
  });
}

/** The code a refused join got; also checks the relay hangs up afterwards. */
async function refusal(client: { socket: TLSSocket; paired: Promise<void> }): Promise<string> {
  const err = await client.paired.then(
    () => new Error('joined unexpectedly'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RelayRejectedError);
  await relayHungUp(client.socket);
  return (err as RelayRejectedError).relayCode;
}

/** Raw bytes in, the relay's single status frame out, then the connection closes. */
async function rawRefusal(port: number, bytes: Uint8Array | null): Promise<RelayStatus> {
  const s = await dial(port);
  const got = readAll(s);
  if (bytes !== null) s.write(bytes);
  const all = await got;
  await relayHungUp(s);
  const frame = parseStatusFrame(all);
  if (frame === null) throw new Error(`no status frame in ${all.length} bytes`);
  return frame.status;
}

async function writeAll(s: TLSSocket, data: Buffer, piece = 64 * 1024): Promise<void> {
  for (let off = 0; off < data.length; off += piece) {
    if (!s.write(data.subarray(off, off + piece))) {
      await new Promise<void>((resolve, reject) => {
        const onClose = () => reject(new Error('closed while writing'));
        s.once('close', onClose);
        s.once('drain', () => {
          s.off('close', onClose);
          resolve();
        });
      });
    }
  }
  s.end();
}

async function until(cond: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('relay', () => {
  let main: RelayServer;
  beforeAll(async () => {
    main = await relay({ joinTimeoutMs: 400, metrics: { host: HOST, port: 0 } });
  });

  it('splices 32 MiB each way at once, intact, with half-close at the end', async () => {
    const [a, b] = await pair(main.port);
    const toB = randomBytes(32 * MiB);
    const toA = randomBytes(32 * MiB);
    const gotA = readAll(a);
    const gotB = readAll(b);
    await Promise.all([writeAll(a, toB), writeAll(b, toA)]);
    const [fromB, fromA] = await Promise.all([gotA, gotB]);
    expect(fromA.length).toBe(toB.length);
    expect(sha(fromA)).toBe(sha(toB));
    expect(sha(fromB)).toBe(sha(toA));
    await Promise.all([closed(a), closed(b)]);
  });

  it('holds a fast writer back while its peer does not read (backpressure)', async () => {
    const [a, b] = await pair(main.port);
    const data = randomBytes(48 * MiB);
    let accepted = 0;
    const writing = (async () => {
      for (let off = 0; off < data.length; off += 64 * 1024) {
        const piece = data.subarray(off, off + 64 * 1024);
        accepted += piece.length;
        if (!a.write(piece)) await new Promise((r) => a.once('drain', r));
      }
      a.end();
    })();
    await new Promise((r) => setTimeout(r, 500));
    // Kernel and TLS buffers on three hops hold a few MiB; the rest must wait.
    expect(accepted).toBeLessThan(32 * MiB);
    const got = await readAll(b);
    await writing;
    expect(sha(got)).toBe(sha(data));
    b.end();
    await Promise.all([closed(a), closed(b)]);
  });

  it('delivers bytes the first client sent before pairing', async () => {
    const room = newRoom();
    const a = await waitingClient(main.port, room, 'receiver');
    a.socket.write('early bird ');
    a.socket.write('and more');
    await new Promise((r) => setTimeout(r, 50));
    const b = await joined(main.port, room, 'sender');
    await Promise.all([a.paired, b.paired]);
    const got = readAll(b.socket);
    a.socket.end();
    expect((await got).toString()).toBe('early bird and more');
    const back = readAll(a.socket);
    b.socket.end('reply');
    expect((await back).toString()).toBe('reply');
  });

  it('frees the room when the waiting client hangs up', async () => {
    const room = newRoom();
    const a = await waitingClient(main.port, room, 'sender');
    a.socket.end();
    await relayHungUp(a.socket);
    await until(() => main.stats().roomsWaiting === 0);
    const [x, y] = await pair(main.port, room);
    x.destroy();
    await relayHungUp(y);
  });

  it('propagates half-close both ways', async () => {
    const [a, b] = await pair(main.port);
    const gotB = readAll(b);
    a.end('from a');
    expect((await gotB).toString()).toBe('from a');
    expect(b.destroyed).toBe(false);
    const gotA = readAll(a);
    b.write('still ');
    b.end('talking');
    expect((await gotA).toString()).toBe('still talking');
    await Promise.all([closed(a), closed(b)]);
  });

  it('closes the peer when one client is destroyed', async () => {
    const [a, b] = await pair(main.port);
    a.write('x');
    await new Promise((r) => setTimeout(r, 20));
    a.destroy();
    await relayHungUp(b);
    await until(() => main.stats().connections === 0);
  });

  it('refuses a second client with the same role (SAME_ROLE) and a third (ROOM_FULL)', async () => {
    const room = newRoom();
    const first = await waitingClient(main.port, room, 'sender');
    const twin = await joined(main.port, room, 'sender');
    expect(await refusal(twin)).toBe('SAME_ROLE');
    const second = await joined(main.port, room, 'receiver');
    await Promise.all([first.paired, second.paired]);
    const third = await joined(main.port, room, 'receiver');
    expect(await refusal(third)).toBe('ROOM_FULL');
    first.socket.destroy();
    second.socket.destroy();
  });

  it('refuses garbage, oversized joins and silent clients while a healthy pair keeps working', async () => {
    const [a, b] = await pair(main.port);
    let echoed = 0;
    b.on('data', (d: Buffer) => {
      echoed += d.length;
      b.write(d);
    });
    b.once('end', () => b.end());
    const ping = (async () => {
      const got = readAll(a);
      for (let i = 0; i < 40; i++) {
        a.write(randomBytes(16 * 1024));
        await new Promise((r) => setTimeout(r, 10));
      }
      a.end();
      return got;
    })();

    const garbage = await rawRefusal(main.port, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(garbage).toMatchObject({ status: 'error', code: 'BAD_JOIN' });
    const header = new Uint8Array([...JOIN_MAGIC, 0xff, 0xff]);
    const oversized = await rawRefusal(main.port, Buffer.concat([header, randomBytes(600)]));
    expect(oversized).toMatchObject({ status: 'error', code: 'BAD_JOIN' });
    const badCbor = await rawRefusal(main.port, new Uint8Array([...JOIN_MAGIC, 0, 3, 0xff, 0, 1]));
    expect(badCbor).toMatchObject({ status: 'error', code: 'BAD_JOIN' });
    // A valid frame split across writes still works; a truncated one times out.
    const silent = await rawRefusal(main.port, null);
    expect(silent).toMatchObject({ status: 'error', code: 'BAD_JOIN' });
    expect((silent as { message: string }).message).toMatch(/no join frame/);
    const partial = encodeJoin({ room: newRoom(), role: 'sender', version: 1 }).subarray(0, 10);
    expect(await rawRefusal(main.port, partial)).toMatchObject({ code: 'BAD_JOIN' });

    const back = await ping;
    expect(back.length).toBe(40 * 16 * 1024);
    expect(echoed).toBe(40 * 16 * 1024);
  });

  it('accepts a join frame that arrives byte by byte', async () => {
    const room = newRoom();
    const a = await waitingClient(main.port, room, 'sender');
    const s = await dial(main.port);
    const got = readAll(s);
    for (const byte of encodeJoin({ room, role: 'receiver', version: 1 })) {
      s.write(new Uint8Array([byte]));
      await new Promise((r) => setTimeout(r, 1));
    }
    await a.paired;
    a.socket.end('hi');
    s.end();
    const all = await got;
    const frame = parseStatusFrame(all);
    expect(frame?.status).toEqual({ status: 'paired' });
    expect(all.subarray(frame?.consumed).toString()).toBe('hi');
  });

  it('churns 200 clients with bounded concurrency and returns to zero without leaking', async () => {
    const before = process.memoryUsage().rss;
    const pairs = 100;
    let next = 0;
    const worker = async () => {
      while (next < pairs) {
        const i = next++;
        if (i % 5 === 1) {
          // A client that gives up while waiting.
          const w = await waitingClient(main.port, newRoom(), 'sender');
          w.socket.destroy();
        }
        const [a, b] = await pair(main.port);
        const got = readAll(b);
        a.end(randomBytes(4096));
        b.end();
        expect((await got).length).toBe(4096);
        // Every fourth pair leaves abruptly instead.
        if (i % 4 === 0) a.destroy();
        await Promise.all([closed(a), closed(b)]);
      }
    };
    await Promise.all(Array.from({ length: 10 }, worker));
    await until(() => main.stats().connections === 0);
    expect(main.stats()).toMatchObject({ connections: 0, roomsWaiting: 0, roomsPaired: 0 });
    const growth = process.memoryUsage().rss - before;
    expect(growth).toBeLessThan(50 * MiB);
  });

  it('serves Prometheus metrics', async () => {
    const res = await fetch(`http://${HOST}:${main.metricsPort}/metrics`, {
      signal: AbortSignal.timeout(5_000),
    });
    expect(res.status).toBe(200);
    const text = await res.text();
    for (const name of [
      'ferry_relay_rooms_waiting',
      'ferry_relay_rooms_paired',
      'ferry_relay_connections',
      'ferry_relay_bytes_forwarded_total',
      'ferry_relay_joins_total',
      'ferry_relay_joins_rejected_total{reason="BAD_JOIN"}',
    ]) {
      expect(text).toContain(name);
    }
    const notFound = await fetch(`http://${HOST}:${main.metricsPort}/`, {
      signal: AbortSignal.timeout(5_000),
    });
    expect(notFound.status).toBe(404);
    await notFound.text();
  });
});

describe('relay limits', () => {
  it('checks the relay password', async () => {
    const server = await relay({ password: 'correct horse' });
    const room = newRoom();
    const wrong = await joined(server.port, room, 'sender', 'wrong horse');
    expect(await refusal(wrong)).toBe('BAD_PASSWORD');
    const none = await joined(server.port, room, 'sender');
    expect(await refusal(none)).toBe('BAD_PASSWORD');
    const a = await joined(server.port, room, 'sender', 'correct horse');
    const b = await joined(server.port, room, 'receiver', 'correct horse');
    await Promise.all([a.paired, b.paired]);
    a.socket.destroy();
    await relayHungUp(b.socket);
  });

  it('rate-limits joins per address', async () => {
    const server = await relay({ joinsPerMinutePerIp: 3 });
    for (let i = 0; i < 3; i++) {
      const c = await waitingClient(server.port, newRoom(), 'sender');
      c.socket.destroy();
    }
    const over = await joined(server.port, newRoom(), 'sender');
    expect(await refusal(over)).toBe('RATE_LIMITED');
  });

  it('expires waiting rooms', async () => {
    const server = await relay({ roomTtlMs: 150 });
    const room = newRoom();
    const a = await waitingClient(server.port, room, 'sender');
    expect(await refusal(a)).toBe('EXPIRED');
    expect(server.stats().roomsWaiting).toBe(0);
    // The room is free again.
    const [x, y] = await pair(server.port, room);
    x.destroy();
    await relayHungUp(y);
  });

  it('closes a paired room that stays idle', async () => {
    const server = await relay({ idleMs: 150 });
    const [a, b] = await pair(server.port);
    await Promise.all([relayHungUp(a), relayHungUp(b)]);
    await until(() => server.stats().connections === 0);
    expect(logs.some((e) => e.event === 'idle')).toBe(true);
  });

  it('says BUSY at the room and connection caps', async () => {
    const rooms = await relay({ maxRooms: 1 });
    const a = await waitingClient(rooms.port, newRoom(), 'sender');
    const b = await joined(rooms.port, newRoom(), 'sender');
    expect(await refusal(b)).toBe('BUSY');
    a.socket.destroy();

    const conns = await relay({ maxConnections: 2 });
    const c1 = await waitingClient(conns.port, newRoom(), 'sender');
    const c2 = await waitingClient(conns.port, newRoom(), 'sender');
    const c3 = await joined(conns.port, newRoom(), 'sender');
    expect(await refusal(c3)).toBe('BUSY');
    c1.socket.destroy();
    c2.socket.destroy();
  });

  it('refuses a client that floods bytes before its peer arrives', async () => {
    const server = await relay({ maxPrePairBytes: 64 * 1024 });
    const a = await waitingClient(server.port, newRoom(), 'sender');
    const got = readAll(a.socket);
    a.socket.write(randomBytes(256 * 1024));
    await relayHungUp(a.socket);
    const frame = parseStatusFrame(await got);
    expect(frame?.status).toMatchObject({ status: 'error', code: 'BAD_JOIN' });
    expect(server.stats().roomsWaiting).toBe(0);
  });

  it('logs no addresses and no room ids', () => {
    expect(logs.length).toBeGreaterThan(100);
    const text = logs.map((e) => JSON.stringify(e)).join('\n');
    expect(text).not.toContain(HOST);
    for (const room of roomsUsed) expect(text).not.toContain(room.slice(0, 16));
    expect(logs.some((e) => e.event === 'paired' && typeof e.room === 'string')).toBe(true);
  });
});
