/**
 * The relay's rooms: join → pair → splice over any pair of node Duplex
 * streams. Front ends (the TLS listener in server.ts, QUIC later) hand each
 * accepted stream to `RelayRooms.accept` and know nothing of rooms.
 *
 * Goals:
 * - Parse only the capped join frame (protocol.ts); after `paired`, splice
 *   bytes both ways with backpressure, propagate half-close (end) and tear
 *   down the peer when one side breaks.
 * - A bad client affects only itself: every stream has an error handler,
 *   every refusal is a status frame then a close, every wait has a deadline.
 * - Logs carry no addresses and no room ids: a room appears as an HMAC tag
 *   under a per-process random key, a connection as a counter.
 *
 * Limits:
 * - Streams must allow half-open operation (`allowHalfOpen: true`), otherwise
 *   a client's end also ends the relay's writes to it.
 * - Bytes a waiting client sends after its join are held in memory up to
 *   `maxPrePairBytes` (its handshake fits easily); more refuses the client.
 * - Idle detection is per room (no bytes either way for `idleMs`), coarse by
 *   design: a timer re-armed lazily, not one per chunk.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { RelayMetrics } from './metrics.js';
import {
  encodeStatus,
  type JoinRequest,
  parseJoinFrame,
  RelayErrorCode,
  type RelayRole,
  type RelayStatus,
} from './protocol.js';
import { JoinRateLimiter } from './rate-limit.js';

/** A structured relay log event: no addresses, no room ids in clear. */
export interface RelayLogEvent {
  event: string;
  /** Keyed hash of the room id (8 hex chars), never the id itself. */
  room?: string;
  /** Per-process connection counter. */
  conn?: number;
  /** Relay error code or socket error code. */
  code?: string;
  [field: string]: string | number | boolean | undefined;
}

/** Limits and hooks of a RelayRooms. Every field has a default. */
export interface RelayRoomsOptions {
  /** Relay password clients must present; none means open. */
  password?: string;
  /** A room with one client expires after this long (default 10 min). */
  roomTtlMs?: number;
  /** A paired room with no bytes either way for this long is closed (default 10 min). */
  idleMs?: number;
  /** Most rooms (waiting + paired) at once (default 10 000). */
  maxRooms?: number;
  /** Most client streams at once, including ones being refused (default 20 000). */
  maxConnections?: number;
  /** Join attempts per client address per minute (default 60). */
  joinsPerMinutePerIp?: number;
  /** A stream must deliver its whole join frame within this long (default 10 s). */
  joinTimeoutMs?: number;
  /** Bytes held for a waiting client's peer (default 1 MiB). */
  maxPrePairBytes?: number;
  /** After a refusal, how long the client gets to read it before the stream is destroyed. */
  closeGraceMs?: number;
  /** Structured log sink (default: one JSON line per event on stderr). */
  log?: (event: RelayLogEvent) => void;
}

/** Counts reported by `stats()`. */
export interface RelayStats {
  connections: number;
  roomsWaiting: number;
  roomsPaired: number;
  bytesForwarded: number;
}

type Phase = 'joining' | 'waiting' | 'paired' | 'closing';

interface Conn {
  readonly id: number;
  readonly stream: Duplex;
  phase: Phase;
  head: Uint8Array;
  early: Uint8Array[];
  earlyBytes: number;
  blocked: boolean;
  role?: RelayRole;
  room?: Room;
  peer?: Conn;
  timer?: NodeJS.Timeout;
}

interface Room {
  readonly key: string;
  readonly tag: string;
  waiting: Conn | null;
  paired: [Conn, Conn] | null;
  timer?: NodeJS.Timeout;
  lastActivity: number;
  bytes: number;
}

const MINUTE = 60_000;

/** The default log sink: one JSON line per event on stderr. */
export function logToStderr(event: RelayLogEvent): void {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Pairs clients by room and splices their streams. */
export class RelayRooms {
  /** This relay's Prometheus metrics. */
  readonly metrics: RelayMetrics;
  readonly #passwordDigest: Buffer | null;
  readonly #roomTtlMs: number;
  readonly #idleMs: number;
  readonly #maxRooms: number;
  readonly #maxConnections: number;
  readonly #joinTimeoutMs: number;
  readonly #maxPrePairBytes: number;
  readonly #closeGraceMs: number;
  readonly #log: (event: RelayLogEvent) => void;
  readonly #limiter: JoinRateLimiter;
  readonly #tagKey = randomBytes(32);
  readonly #conns = new Set<Conn>();
  readonly #rooms = new Map<string, Room>();
  #nextId = 1;
  #pairedRooms = 0;
  #bytesForwarded = 0;
  #closed = false;

  constructor(opts: RelayRoomsOptions = {}) {
    this.#passwordDigest = opts.password === undefined ? null : digest(opts.password);
    this.#roomTtlMs = opts.roomTtlMs ?? 10 * MINUTE;
    this.#idleMs = opts.idleMs ?? 10 * MINUTE;
    this.#maxRooms = opts.maxRooms ?? 10_000;
    this.#maxConnections = opts.maxConnections ?? 20_000;
    this.#joinTimeoutMs = opts.joinTimeoutMs ?? 10_000;
    this.#maxPrePairBytes = opts.maxPrePairBytes ?? 1024 * 1024;
    this.#closeGraceMs = opts.closeGraceMs ?? 2_000;
    this.#log = opts.log ?? logToStderr;
    this.#limiter = new JoinRateLimiter(opts.joinsPerMinutePerIp ?? 60);
    this.metrics = new RelayMetrics(() => this.stats());
  }

  /** Current counts. */
  stats(): RelayStats {
    return {
      connections: this.#conns.size,
      roomsWaiting: this.#rooms.size - this.#pairedRooms,
      roomsPaired: this.#pairedRooms,
      bytesForwarded: this.#bytesForwarded,
    };
  }

  /**
   * Take over one accepted client stream. `remoteAddress` is used only for the
   * rate limit, never logged. The stream is destroyed when done with.
   */
  accept(stream: Duplex, remoteAddress: string): void {
    const conn: Conn = {
      id: this.#nextId++,
      stream,
      phase: 'joining',
      head: new Uint8Array(0),
      early: [],
      earlyBytes: 0,
      blocked: false,
    };
    stream.on('error', (err: Error & { code?: unknown }) => this.#onError(conn, err));
    if (this.#closed) {
      stream.destroy();
      return;
    }
    const atCap = this.#conns.size >= this.#maxConnections;
    this.#conns.add(conn);
    stream.on('close', () => this.#onClose(conn));
    stream.on('end', () => this.#onEnd(conn));
    stream.on('data', (chunk: Uint8Array) => this.#onData(conn, chunk));
    if (atCap) {
      this.#refuse(conn, RelayErrorCode.Busy, 'the relay is at its connection limit');
      return;
    }
    if (!this.#limiter.take(remoteAddress)) {
      this.#refuse(conn, RelayErrorCode.RateLimited, 'too many joins; try again in a minute');
      return;
    }
    conn.timer = setTimeout(() => {
      this.#refuse(conn, RelayErrorCode.BadJoin, `no join frame within ${this.#joinTimeoutMs} ms`);
    }, this.#joinTimeoutMs);
  }

  /** Destroy every stream and forget every room. Later `accept` calls destroy at once. */
  close(): void {
    this.#closed = true;
    for (const conn of this.#conns) conn.stream.destroy();
    for (const room of this.#rooms.values()) clearTimeout(room.timer);
  }

  #tag(key: string): string {
    return createHmac('sha256', this.#tagKey).update(key).digest('hex').slice(0, 8);
  }

  #onData(conn: Conn, chunk: Uint8Array): void {
    switch (conn.phase) {
      case 'joining':
        this.#onJoinBytes(conn, chunk);
        return;
      case 'waiting':
        conn.earlyBytes += chunk.length;
        if (conn.earlyBytes > this.#maxPrePairBytes) {
          this.#refuse(
            conn,
            RelayErrorCode.BadJoin,
            `more than ${this.#maxPrePairBytes} bytes sent before the peer joined`,
          );
          return;
        }
        conn.early.push(chunk);
        return;
      case 'paired':
        if (conn.peer) this.#forward(conn, conn.peer, chunk);
        return;
      case 'closing':
        // Drained and dropped so the client can read our refusal and close.
        return;
    }
  }

  #onJoinBytes(conn: Conn, chunk: Uint8Array): void {
    const buf = conn.head.length === 0 ? chunk : Buffer.concat([conn.head, chunk]);
    let parsed: ReturnType<typeof parseJoinFrame>;
    try {
      parsed = parseJoinFrame(buf);
    } catch (err) {
      this.#refuse(conn, RelayErrorCode.BadJoin, (err as Error).message);
      return;
    }
    if (parsed === null) {
      // parseJoinFrame already refused lengths over the cap, so this stays small.
      conn.head = buf;
      return;
    }
    clearTimeout(conn.timer);
    conn.head = new Uint8Array(0);
    this.#onJoin(conn, parsed.join, buf.subarray(parsed.consumed));
  }

  #onJoin(conn: Conn, join: JoinRequest, rest: Uint8Array): void {
    if (this.#passwordDigest !== null) {
      const given = digest(join.password ?? '');
      // Digests have equal length, so the compare is constant-time in the password too.
      if (join.password === undefined || !timingSafeEqual(given, this.#passwordDigest)) {
        this.#refuse(conn, RelayErrorCode.BadPassword, 'wrong or missing relay password');
        return;
      }
    }
    const key = Buffer.from(join.room).toString('hex');
    const room = this.#rooms.get(key);
    conn.role = join.role;
    if (rest.length > 0) {
      conn.early.push(rest);
      conn.earlyBytes += rest.length;
    }
    if (room === undefined) {
      if (this.#rooms.size >= this.#maxRooms) {
        this.#refuse(conn, RelayErrorCode.Busy, 'the relay is at its room limit');
        return;
      }
      const created: Room = {
        key,
        tag: this.#tag(key),
        waiting: conn,
        paired: null,
        lastActivity: Date.now(),
        bytes: 0,
      };
      created.timer = setTimeout(() => this.#expire(created), this.#roomTtlMs);
      this.#rooms.set(key, created);
      conn.room = created;
      conn.phase = 'waiting';
      this.metrics.joins.inc();
      this.#send(conn, { status: 'waiting' });
      this.#log({
        event: 'join',
        conn: conn.id,
        room: created.tag,
        role: join.role,
        state: 'waiting',
      });
      return;
    }
    if (room.paired !== null) {
      this.#refuse(
        conn,
        RelayErrorCode.RoomFull,
        'the room already has a sender and a receiver',
        room,
      );
      return;
    }
    const first = room.waiting;
    if (first === null) return;
    if (first.role === join.role) {
      this.#refuse(conn, RelayErrorCode.SameRole, `the room already has a ${join.role}`, room);
      return;
    }
    this.metrics.joins.inc();
    this.#log({ event: 'join', conn: conn.id, room: room.tag, role: join.role, state: 'paired' });
    this.#pair(room, first, conn);
  }

  #pair(room: Room, a: Conn, b: Conn): void {
    clearTimeout(room.timer);
    room.waiting = null;
    room.paired = [a, b];
    this.#pairedRooms++;
    for (const [self, peer] of [
      [a, b],
      [b, a],
    ] as const) {
      self.phase = 'paired';
      self.room = room;
      self.peer = peer;
      this.#send(self, { status: 'paired' });
    }
    for (const [self, peer] of [
      [a, b],
      [b, a],
    ] as const) {
      const early = self.early;
      self.early = [];
      for (const chunk of early) this.#forward(self, peer, chunk);
    }
    this.#log({ event: 'paired', room: room.tag });
    room.lastActivity = Date.now();
    this.#armIdle(room, this.#idleMs);
  }

  #forward(from: Conn, to: Conn, chunk: Uint8Array): void {
    const room = from.room;
    if (room) {
      room.lastActivity = Date.now();
      room.bytes += chunk.length;
    }
    this.#bytesForwarded += chunk.length;
    this.metrics.bytesForwarded.inc(chunk.length);
    if (!to.stream.write(chunk) && !from.blocked) {
      from.blocked = true;
      from.stream.pause();
      to.stream.once('drain', () => {
        from.blocked = false;
        from.stream.resume();
      });
    }
  }

  #armIdle(room: Room, ms: number): void {
    room.timer = setTimeout(() => {
      const quiet = Date.now() - room.lastActivity;
      if (quiet < this.#idleMs) {
        this.#armIdle(room, this.#idleMs - quiet);
        return;
      }
      this.#log({ event: 'idle', room: room.tag });
      for (const c of room.paired ?? []) c.stream.destroy();
    }, ms);
    room.timer.unref();
  }

  #expire(room: Room): void {
    const conn = room.waiting;
    if (conn === null) return;
    this.#refuse(conn, RelayErrorCode.Expired, 'no peer joined the room in time', room);
  }

  #send(conn: Conn, status: RelayStatus): void {
    conn.stream.write(encodeStatus(status));
  }

  /** Send an error frame, end our side, and destroy after a grace period. */
  #refuse(conn: Conn, code: RelayErrorCode, message: string, room?: Room): void {
    if (conn.phase === 'closing') return;
    if (conn.phase === 'paired') {
      conn.stream.destroy();
      return;
    }
    const wasWaiting = conn.phase === 'waiting';
    this.#leaveWaiting(conn);
    conn.phase = 'closing';
    conn.early = [];
    clearTimeout(conn.timer);
    this.metrics.joinsRejected.inc({ reason: code });
    this.#log({
      event: 'refused',
      conn: conn.id,
      code,
      room: (room ?? (wasWaiting ? conn.room : undefined))?.tag,
    });
    if (!conn.stream.writableEnded) {
      this.#send(conn, { status: 'error', code, message });
      conn.stream.end();
    }
    conn.timer = setTimeout(() => conn.stream.destroy(), this.#closeGraceMs);
    conn.timer.unref();
  }

  #leaveWaiting(conn: Conn): void {
    const room = conn.room;
    if (conn.phase !== 'waiting' || room === undefined || room.waiting !== conn) return;
    clearTimeout(room.timer);
    room.waiting = null;
    this.#rooms.delete(room.key);
  }

  #onEnd(conn: Conn): void {
    if (conn.phase === 'paired') {
      conn.peer?.stream.end();
    } else if (conn.phase === 'waiting' || conn.phase === 'joining') {
      // An end before pairing cannot be told apart from a client that quit
      // (Ctrl-C sends the same FIN), so it frees the room at once rather than
      // blocking the nameplate with SAME_ROLE until the room expires.
      this.#log({ event: 'left', conn: conn.id, room: conn.room?.tag });
      this.#leaveWaiting(conn);
      conn.phase = 'closing';
      clearTimeout(conn.timer);
      conn.stream.destroy();
    }
  }

  #onError(conn: Conn, err: Error & { code?: unknown }): void {
    // The code only: socket error messages can carry addresses.
    const code = typeof err.code === 'string' ? err.code : err.name;
    this.#log({ event: 'stream_error', conn: conn.id, code });
    conn.stream.destroy();
  }

  #onClose(conn: Conn): void {
    if (!this.#conns.delete(conn)) return;
    clearTimeout(conn.timer);
    if (conn.phase === 'waiting') {
      this.#log({ event: 'left', conn: conn.id, room: conn.room?.tag });
      this.#leaveWaiting(conn);
      return;
    }
    const room = conn.room;
    const peer = conn.peer;
    if (conn.phase !== 'paired' || room === undefined || peer === undefined) return;
    conn.phase = 'closing';
    // A clean close has both directions ended; otherwise the peer cannot finish either.
    if (!(conn.stream.readableEnded && peer.stream.readableEnded)) peer.stream.destroy();
    if (peer.phase === 'closing' && !this.#conns.has(peer)) {
      clearTimeout(room.timer);
      this.#pairedRooms--;
      this.#rooms.delete(room.key);
      this.#log({ event: 'closed', room: room.tag, bytes: room.bytes });
    }
  }
}
