/**
 * A hand-written malicious sender against the real receiver. It does a
 * genuine handshake and speaks the real, encrypted protocol, so every attack
 * here gets past authentication and reaches the receiver's own checks.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, symlink } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Direction, FrameSealer } from '../../../src/engine/crypto/aead.js';
import { runHandshake, type SessionKeys } from '../../../src/engine/crypto/handshake.js';
import { FerryError } from '../../../src/engine/errors.js';
import { FrameReader, FrameType, FrameWriter } from '../../../src/engine/protocol/frame.js';
import {
  type ControlMessage,
  DataFlag,
  encodeControl,
  type MessageOf,
  type OfferFile,
} from '../../../src/engine/protocol/messages.js';
import { type Incoming, SecureChannel } from '../../../src/engine/transfer/channel.js';
import { MemorySessionStore } from '../../../src/engine/transfer/memory-store.js';
import { ChunkHasher, merkleRoot } from '../../../src/engine/transfer/merkle.js';
import {
  type ReceiveOptions,
  type ReceiveTransfer,
  startReceive,
} from '../../../src/engine/transfer/receiver.js';
import { ChunkState } from '../../../src/engine/transfer/types.js';
import type { ByteStream } from '../../../src/engine/transport/link.js';
import { createMemoryStreamPair } from '../../../src/engine/transport/memory-link.js';
import { alice, bob, cleanup, listFiles, outcome, tempDir } from './harness.js';

const CHUNK = 64 * 1024;
/** Deadline of every single await in this file. */
const WAIT_MS = 5000;

let hasher: ChunkHasher;
beforeAll(async () => {
  hasher = await ChunkHasher.create();
});

/** Reject when `p` takes longer than `ms`. */
function within<T>(p: Promise<T>, ms = WAIT_MS, what = 'operation'): Promise<T> {
  const signal = AbortSignal.timeout(ms);
  return Promise.race([
    p,
    new Promise<never>((_, reject) =>
      signal.addEventListener('abort', () => reject(new Error(`${what} took over ${ms} ms`))),
    ),
  ]);
}

/** One hostile session: our raw channel (sender side) and a real receiver. */
interface Session {
  readonly ch: SecureChannel;
  readonly stream: ByteStream;
  readonly keys: SessionKeys;
  readonly receiver: ReceiveTransfer;
  readonly transferId: Uint8Array;
  /** The folder holding `target`; nothing may ever appear outside `target`. */
  readonly root: string;
  readonly target: string;
}

const sessions: Session[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const s of sessions.splice(0)) {
    s.receiver.cancel('test over');
    s.stream.abort();
    await within(s.receiver.settled, WAIT_MS, 'receiver cleanup');
  }
  await cleanup(...dirs.splice(0));
});

async function dir(): Promise<string> {
  const d = await tempDir('ferry-hostile-');
  dirs.push(d);
  return d;
}

/** Handshake as the sender against a real receiver writing to `<root>/inner/target`. */
async function connect(receive: Partial<ReceiveOptions> = {}, root?: string): Promise<Session> {
  const base = root ?? (await dir());
  const target = join(base, 'inner', 'target');
  await mkdir(target, { recursive: true });
  const [stream, theirs] = createMemoryStreamPair();
  const receiver = startReceive({
    stream: theirs,
    identity: bob,
    targetDir: target,
    store: new MemorySessionStore(),
    idleTimeoutMs: 2000,
    ...receive,
  });
  const reader = new FrameReader(stream);
  const writer = new FrameWriter(stream);
  const keys = await runHandshake({
    role: 'sender',
    reader,
    writer,
    identity: alice,
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const ch = new SecureChannel(reader, writer, keys, 'sender');
  const transferId = new Uint8Array(randomBytes(16));
  ch.setTransferId(transferId);
  const s: Session = { ch, stream, keys, receiver, transferId, root: base, target };
  sessions.push(s);
  return s;
}

function offer(
  s: Session,
  files: readonly { path: string; size: number }[],
  dirs?: string[],
): Promise<void> {
  const list: OfferFile[] = files.map((f) => ({ ...f, mtime: 0 }));
  return s.ch.sendControl({
    t: 'offer',
    transferId: s.transferId,
    chunkSize: CHUNK,
    files: list,
    ...(dirs ? { dirs } : {}),
  });
}

/** The next frame from the receiver, bounded. */
function next(s: Session): Promise<Incoming | null> {
  return within(s.ch.receive(), WAIT_MS, 'waiting for the receiver');
}

/** Read until a control message of kind `t`, skipping acks; anything else is a test failure. */
async function expectMsg<T extends ControlMessage['t']>(s: Session, t: T): Promise<MessageOf<T>> {
  for (;;) {
    const inc = await next(s);
    if (inc === null) throw new Error(`stream ended while waiting for '${t}'`);
    if (inc.kind !== 'control') throw new Error('the receiver sent a data frame');
    if (inc.msg.t === t) return inc.msg as MessageOf<T>;
    if (inc.msg.t === 'ack') continue;
    throw new Error(`expected '${t}', got ${JSON.stringify(inc.msg)}`);
  }
}

/** Offer and wait for the accept. */
async function offerAccepted(s: Session, files: readonly { path: string; size: number }[]) {
  await offer(s, files);
  return expectMsg(s, 'accept');
}

/** The receiver's final error code (it must fail). */
async function failure(s: Session): Promise<string> {
  const r = await within(outcome(s.receiver.done), WAIT_MS, 'receiver outcome');
  if (r.ok) throw new Error('the receiver completed, it should have failed');
  expect(r.error).toBeInstanceOf(FerryError);
  await within(s.receiver.settled, WAIT_MS, 'receiver settle');
  return r.error.code ?? 'none';
}

/** Every entry (files and folders) under `d`, relative. */
async function entries(d: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(d, { withFileTypes: true, recursive: true })) {
    out.push(relative(d, join(e.parentPath, e.name)));
  }
  return out.sort();
}

/** A file's chunks and their leaves. */
function chunked(data: Buffer): { chunks: Buffer[]; leaves: Uint8Array[] } {
  const chunks: Buffer[] = [];
  for (let off = 0; off < Math.max(data.length, 1); off += CHUNK) {
    chunks.push(data.subarray(off, off + CHUNK));
  }
  return { chunks, leaves: chunks.map((c) => hasher.leaf(c)) };
}

function rootOf(leaves: readonly Uint8Array[]): Uint8Array {
  return merkleRoot(hasher, Buffer.concat(leaves), leaves.length);
}

/** Send one chunk; `over` replaces header fields or the leaf to lie. */
function sendChunk(
  s: Session,
  file: number,
  chunk: number,
  count: number,
  data: Uint8Array,
  over: { leaf?: Uint8Array; flags?: number; length?: number } = {},
): Promise<void> {
  return s.ch.sendData(
    {
      file,
      chunk,
      flags: over.flags ?? (chunk === count - 1 ? DataFlag.Final : 0),
      length: over.length ?? data.length,
    },
    over.leaf ?? hasher.leaf(data),
    data,
  );
}

const SIZE = 2 * CHUNK + 1000;

describe('hostile names in the offer', () => {
  const names = [
    '../evil',
    '/etc/passwd',
    'a/../../b',
    'a\\b',
    'C:evil',
    'nul\u0000byte',
    'esc\u001b[31m',
    'a//b',
    '.',
    '..',
    'x/./y',
    'a'.repeat(300),
    '../../inner-sibling/x',
    'ok/../../../escape',
  ];
  it.each(
    names.flatMap((n) => [
      ['file', JSON.stringify(n), n],
      ['empty folder', JSON.stringify(n), n],
    ]),
  )('a %s named %s is refused, nothing written', async (kind, _, name) => {
    const s = await connect();
    if (kind === 'file') {
      await offer(s, [
        { path: 'fine.txt', size: 10 },
        { path: name, size: 10 },
      ]);
    } else {
      await offer(s, [{ path: 'fine.txt', size: 10 }], ['fine-dir', name]);
    }
    expect(['HOSTILE_NAME', 'PROTOCOL']).toContain(await failure(s));
    expect(await entries(s.root)).toEqual(['inner', 'inner/target']);
  });

  it('refuses to write through a symlink planted in the target', async () => {
    const s = await connect();
    const outside = await dir();
    await symlink(outside, join(s.target, 'sub'));
    await offer(s, [{ path: 'sub/x', size: 10 }]);
    expect(await failure(s)).toBe('HOSTILE_NAME');
    expect(await entries(outside)).toEqual([]);
    expect(await entries(s.root)).toEqual(['inner', 'inner/target', 'inner/target/sub']);
  });

  it.each([
    ['on the way to it', 'sub/inside'],
    ['as the folder itself', 'sub'],
  ])('refuses to create an empty folder through a symlink planted %s', async (_, folder) => {
    const s = await connect();
    const outside = await dir();
    await symlink(outside, join(s.target, 'sub'));
    await offer(s, [{ path: 'fine.txt', size: 10 }], [folder]);
    expect(await failure(s)).toBe('HOSTILE_NAME');
    expect(await entries(outside)).toEqual([]);
  });

  it('an empty folder named like an offered file is refused', async () => {
    const s = await connect();
    await offer(s, [{ path: 'a/b', size: 10 }], ['a/b']);
    expect(await failure(s)).toBe('HOSTILE_NAME');
    expect(await entries(s.root)).toEqual(['inner', 'inner/target']);
  });

  it('refuses the same path offered twice', async () => {
    const s = await connect();
    await offer(s, [
      { path: 'dup/a', size: 10 },
      { path: 'other', size: 10 },
      { path: 'dup/a', size: 20 },
    ]);
    expect(await failure(s)).toBe('HOSTILE_NAME');
    expect(await entries(s.root)).toEqual(['inner', 'inner/target']);
  });
});

describe('malformed traffic after the handshake', () => {
  it('a control message of the wrong shape (validly encrypted) → PROTOCOL', async () => {
    const s = await connect();
    const bad = { t: 'offer', transferId: 'not bytes', chunkSize: -1, files: 'all' };
    await s.ch.sendControl(bad as unknown as ControlMessage);
    expect(await failure(s)).toBe('PROTOCOL');
  });

  it('a malformed message mid-transfer → PROTOCOL, no file in place', async () => {
    const s = await connect();
    await offerAccepted(s, [{ path: 'f.bin', size: SIZE }]);
    await s.ch.sendControl({ t: 'file-end', file: 0 } as unknown as ControlMessage);
    expect(await failure(s)).toBe('PROTOCOL');
    expect(await listFiles(s.target)).toEqual([]); // no chunk arrived, so no part file either
  });

  it('a receiver-only message from the sender → PROTOCOL', async () => {
    const s = await connect();
    await offerAccepted(s, [{ path: 'f.bin', size: SIZE }]);
    await s.ch.sendControl({ t: 'ack', ranges: [0, 0, 1] });
    expect(await failure(s)).toBe('PROTOCOL');
  });

  it('data before the offer → PROTOCOL', async () => {
    const s = await connect();
    await sendChunk(s, 0, 0, 1, Buffer.from('early'));
    expect(await failure(s)).toBe('PROTOCOL');
  });

  it('random garbage on the stream → a FerryError, never a hang', async () => {
    for (const lead of [
      new Uint8Array(0), // pure noise
      new Uint8Array([0, 0, 0, 65, FrameType.Control]), // a plausible control frame of noise
      new Uint8Array([0, 0, 0, 65, FrameType.Data]), // a plausible data frame of noise
    ]) {
      for (const afterOffer of [false, true]) {
        const s = await connect({ idleTimeoutMs: 500 });
        if (afterOffer) await offerAccepted(s, [{ path: 'f.bin', size: SIZE }]);
        await s.stream.write(Buffer.concat([lead, randomBytes(64)]));
        expect(['PROTOCOL', 'INTEGRITY', 'CONNECTION', 'TIMEOUT']).toContain(await failure(s));
      }
    }
  });

  it('a sender that stalls inside a frame right after the handshake → TIMEOUT, not a hang', async () => {
    const s = await connect({ idleTimeoutMs: 500 });
    // Header of a 100-byte control frame, then only part of its body.
    await s.stream.write(
      Buffer.concat([Buffer.from([0, 0, 0, 100, FrameType.Control]), randomBytes(10)]),
    );
    expect(await failure(s)).toBe('TIMEOUT');
  });

  it('a sender that stalls mid-transfer → TIMEOUT, not a hang', async () => {
    const s = await connect({ idleTimeoutMs: 500 });
    await offerAccepted(s, [{ path: 'f.bin', size: SIZE }]);
    expect(await failure(s)).toBe('TIMEOUT');
    expect(await listFiles(s.target)).toEqual([]);
  });
});

describe('chunks that lie', () => {
  it('a chunk that does not match its leaf is nacked and marked failed; a correct re-send then verifies', async () => {
    const s = await connect();
    const data = randomBytes(SIZE);
    const { chunks, leaves } = chunked(data);
    await offerAccepted(s, [{ path: 'f.bin', size: SIZE }]);
    const wrong = Buffer.from(chunks[0]!);
    wrong[100] = wrong[100]! ^ 0xff;
    await sendChunk(s, 0, 0, 3, wrong, { leaf: leaves[0]! });
    const nack = await expectMsg(s, 'nack');
    expect(nack).toMatchObject({ file: 0, chunk: 0 });
    expect(s.receiver.snapshot().files[0]!.chunks[0]).toBe(ChunkState.Failed);

    for (let c = 0; c < 3; c++) await sendChunk(s, 0, c, 3, chunks[c]!);
    await s.ch.sendControl({ t: 'file-end', file: 0, root: rootOf(leaves) });
    expect(await expectMsg(s, 'file-verified')).toEqual({ t: 'file-verified', file: 0 });
    await expectMsg(s, 'complete');
    await within(s.receiver.done);
    expect((await readFile(join(s.target, 'f.bin'))).equals(data)).toBe(true);
  });

  it('a root mismatch: the receiver asks for leaves, names the odd chunk, refetches it, then verifies', async () => {
    const s = await connect();
    const data = randomBytes(SIZE);
    const { chunks, leaves } = chunked(data);
    await offerAccepted(s, [{ path: 'f.bin', size: SIZE }]);
    for (let c = 0; c < 3; c++) await sendChunk(s, 0, c, 3, chunks[c]!);

    // The sender "changed its mind" about chunk 1: its leaves and root describe other bytes.
    const replacement = randomBytes(CHUNK);
    const claimed = [leaves[0]!, hasher.leaf(replacement), leaves[2]!];
    await s.ch.sendControl({ t: 'file-end', file: 0, root: rootOf(claimed) });
    expect(await expectMsg(s, 'need-leaves')).toEqual({ t: 'need-leaves', file: 0 });
    expect(s.receiver.snapshot().files[0]!.root).toBe('mismatch');
    await s.ch.sendControl({ t: 'leaves', file: 0, start: 0, leaves: Buffer.concat(claimed) });
    expect(await expectMsg(s, 'refetch')).toEqual({ t: 'refetch', file: 0, chunks: [1] });
    const snap = s.receiver.snapshot().files[0]!;
    expect(snap.mismatched).toEqual([1]);
    expect(snap.chunks[1]).toBe(ChunkState.Failed);

    await sendChunk(s, 0, 1, 3, replacement);
    await s.ch.sendControl({ t: 'file-end', file: 0, root: rootOf(claimed) });
    await expectMsg(s, 'file-verified');
    await expectMsg(s, 'complete');
    await within(s.receiver.done);
    const expected = Buffer.concat([chunks[0]!, replacement, chunks[2]!]);
    expect((await readFile(join(s.target, 'f.bin'))).equals(expected)).toBe(true);
  });

  it('every leaf matches but the root does not → INTEGRITY, nothing renamed into place', async () => {
    const s = await connect();
    const { chunks, leaves } = chunked(randomBytes(SIZE));
    await offerAccepted(s, [{ path: 'f.bin', size: SIZE }]);
    for (let c = 0; c < 3; c++) await sendChunk(s, 0, c, 3, chunks[c]!);
    await s.ch.sendControl({ t: 'file-end', file: 0, root: randomBytes(32) });
    await expectMsg(s, 'need-leaves');
    await s.ch.sendControl({ t: 'leaves', file: 0, start: 0, leaves: Buffer.concat(leaves) });
    expect(await failure(s)).toBe('INTEGRITY');
    expect(await listFiles(s.target)).toEqual(['f.bin.part']);
  });

  it('leaves nobody asked for → PROTOCOL', async () => {
    const s = await connect();
    await offerAccepted(s, [{ path: 'f.bin', size: SIZE }]);
    await s.ch.sendControl({ t: 'leaves', file: 0, start: 0, leaves: randomBytes(96) });
    expect(await failure(s)).toBe('PROTOCOL');
  });

  const liars: [string, (s: Session, chunks: Buffer[]) => Promise<void>][] = [
    ['a chunk index beyond the file', (s, c) => sendChunk(s, 0, 3, 3, c[0]!)],
    ['a huge chunk index', (s, c) => sendChunk(s, 0, 0xffff_ffff, 3, c[0]!)],
    [
      'a declared length that is not the chunk length',
      (s, c) => sendChunk(s, 0, 0, 3, c[0]!, { length: CHUNK - 1 }),
    ],
    [
      'a payload shorter than the declared length',
      (s, c) => sendChunk(s, 0, 0, 3, c[0]!.subarray(1), { length: CHUNK }),
    ],
    [
      'a final flag on a middle chunk',
      (s, c) => sendChunk(s, 0, 1, 3, c[1]!, { flags: DataFlag.Final }),
    ],
    ['no final flag on the last chunk', (s, c) => sendChunk(s, 0, 2, 3, c[2]!, { flags: 0 })],
    ['a chunk for a file that was not accepted', (s, c) => sendChunk(s, 1, 0, 1, c[0]!)],
    ['a chunk for a file not in the offer', (s, c) => sendChunk(s, 7, 0, 1, c[0]!)],
    [
      'a file-end before every chunk arrived',
      (s) => s.ch.sendControl({ t: 'file-end', file: 0, root: randomBytes(32) }),
    ],
  ];
  it.each(liars)('%s → PROTOCOL, nothing renamed into place', async (_, lie) => {
    const s = await connect({ decide: () => ({ accept: true, files: [0] }) });
    const { chunks } = chunked(randomBytes(SIZE));
    await offerAccepted(s, [
      { path: 'f.bin', size: SIZE },
      { path: 'skipped.bin', size: 100 },
    ]);
    await lie(s, chunks);
    expect(await failure(s)).toBe('PROTOCOL');
    expect(await listFiles(s.target)).toEqual([]);
  });
});

describe('a sender that ignores the window', () => {
  it('floods every chunk without waiting for acks: the receiver stays bounded and completes', async () => {
    const s = await connect({ memoryBudget: 256 * 1024 });
    const size = 64 * CHUNK + 5;
    const data = randomBytes(size);
    const { chunks, leaves } = chunked(data);
    await offerAccepted(s, [{ path: 'flood.bin', size }]);
    for (let c = 0; c < chunks.length; c++) await sendChunk(s, 0, c, chunks.length, chunks[c]!);
    await s.ch.sendControl({ t: 'file-end', file: 0, root: rootOf(leaves) });
    await expectMsg(s, 'file-verified');
    await expectMsg(s, 'complete');
    const summary = await within(s.receiver.done);
    expect(summary.bytesTransferred).toBe(size);
    expect((await readFile(join(s.target, 'flood.bin'))).equals(data)).toBe(true);
  });
});

describe('offers that claim too much', () => {
  it('a file claiming 2^32 chunks: the user may look, accepting fails with NO_SPACE, nothing huge is allocated', async () => {
    const rssBefore = process.memoryUsage().rss;
    let seen = -1;
    const s = await connect({
      decide: () => {
        // What the app's UI does while the user decides: take a snapshot.
        seen = s.receiver.snapshot().files[0]!.chunks.length;
        return { accept: true };
      },
    });
    await offer(s, [{ path: 'huge.bin', size: (2 ** 32 - 1) * CHUNK }]);
    expect(await failure(s)).toBe('NO_SPACE');
    expect(seen).toBe(0); // no chunk map before the accept
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(512 * 2 ** 20);
    expect(await entries(s.target)).toEqual([]);
  });
});

describe('control messages in pieces', () => {
  const PART_AAD = new TextEncoder().encode('ferry/1 control part');
  /** Our own control sealer and writer (the session's channel must then stay unused). */
  const raw = (s: Session) => ({
    sealer: new FrameSealer(s.keys.sendControl, Direction.SenderToReceiver),
    writer: new FrameWriter(s.stream),
  });

  it('an offer larger than one frame arrives in pieces and is accepted whole', async () => {
    const s = await connect();
    // ~3.7 KB per path, 1200 paths: over the 4 MiB a frame may carry.
    const deep = Array.from({ length: 14 }, (_, i) => `${i}`.padStart(3, '0') + 'd'.repeat(247));
    const files = Array.from({ length: 1200 }, (_, i) => ({
      path: `${deep.join('/')}/${'f'.repeat(200)}${i}`,
      size: 10,
    }));
    const accept = await offerAccepted(s, files);
    expect(accept.files.map((f) => f.file)).toEqual(files.map((_, i) => i));
  });

  it('a data frame between the pieces of a message → PROTOCOL', async () => {
    const s = await connect();
    const { sealer, writer } = raw(s);
    await writer.write(FrameType.ControlPart, ...sealer.seal(PART_AAD, randomBytes(100)));
    await writer.write(FrameType.Data, randomBytes(64));
    expect(await failure(s)).toBe('PROTOCOL');
  });

  it('pieces past the 64 MiB a message may take → PROTOCOL', async () => {
    const s = await connect();
    const { sealer, writer } = raw(s);
    const piece = randomBytes(4_000_000);
    for (let i = 0; i < 17 && !s.receiver.isFinished; i++) {
      await writer.write(FrameType.ControlPart, ...sealer.seal(PART_AAD, piece));
    }
    expect(await failure(s)).toBe('PROTOCOL');
  });

  it('a piece passed off as a whole message fails authentication', async () => {
    const s = await connect();
    const { sealer, writer } = raw(s);
    const msg = encodeControl({ t: 'ping' });
    await writer.write(FrameType.Control, ...sealer.seal(PART_AAD, msg));
    expect(await failure(s)).toBe('INTEGRITY');
  });

  it('a stream that ends inside a message → an error, not an offer', async () => {
    const s = await connect();
    const { sealer, writer } = raw(s);
    await writer.write(FrameType.ControlPart, ...sealer.seal(PART_AAD, randomBytes(100)));
    await s.stream.closeWrite();
    expect(await failure(s)).toBe('PROTOCOL');
  });
});
