import { decode, encode } from 'cborg';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type HandshakeOptions,
  runHandshake,
  type SessionKeys,
} from '../../../src/engine/crypto/handshake.js';
import { generateIdentity } from '../../../src/engine/crypto/identity.js';
import { FerryError } from '../../../src/engine/errors.js';
import { FrameReader, FrameType, FrameWriter } from '../../../src/engine/protocol/frame.js';
import type { ByteStream } from '../../../src/engine/transport/link.js';

type Side = 'sender' | 'receiver';
/** Sees (and may replace) every write; `index` counts writes across both sides. */
type Intercept = (from: Side, index: number, bytes: Uint8Array) => Uint8Array;

/** One direction of the in-memory pipe. */
class Channel {
  readonly #items: (Uint8Array | null)[] = [];
  #waiter: { resolve: (v: Uint8Array | null) => void; reject: (e: Error) => void } | undefined;
  #error: Error | undefined;

  push(item: Uint8Array | null): void {
    if (this.#error) return;
    const w = this.#waiter;
    if (w) {
      this.#waiter = undefined;
      w.resolve(item);
    } else {
      this.#items.push(item);
    }
  }

  fail(err: Error): void {
    this.#error ??= err;
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.reject(err);
  }

  pull(): Promise<Uint8Array | null> {
    if (this.#error) return Promise.reject(this.#error);
    if (this.#items.length > 0) return Promise.resolve(this.#items.shift()!);
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }
}

/** A tiny in-memory duplex: two ByteStreams wired back to back. */
function duplex(intercept?: Intercept): { sender: ByteStream; receiver: ByteStream } {
  const toReceiver = new Channel();
  const toSender = new Channel();
  let index = 0;
  const end = (me: Side, inbox: Channel, outbox: Channel): ByteStream => {
    let closed = false;
    return {
      async write(bytes) {
        if (closed) throw new Error('write after closeWrite');
        const copy = Uint8Array.from(bytes);
        outbox.push(intercept ? intercept(me, index++, copy) : copy);
      },
      read: () => inbox.pull(),
      async closeWrite() {
        if (!closed) outbox.push(null);
        closed = true;
      },
      abort(reason) {
        const err = reason ?? new Error('aborted');
        inbox.fail(err);
        outbox.fail(err);
      },
    };
  };
  return {
    sender: end('sender', toSender, toReceiver),
    receiver: end('receiver', toReceiver, toSender),
  };
}

const alice = generateIdentity();
const bob = generateIdentity();
const te = new TextEncoder();

type Extra = Partial<Omit<HandshakeOptions, 'role' | 'reader' | 'writer'>>;

function start(role: Side, stream: ByteStream, extra: Extra): Promise<SessionKeys> {
  return runHandshake({
    role,
    reader: new FrameReader(stream),
    writer: new FrameWriter(stream),
    identity: role === 'sender' ? alice : bob,
    signal: AbortSignal.timeout(5000),
    ...extra,
  }).catch(async (err: unknown) => {
    // Like a real connection: a side that gives up closes its stream.
    await stream.closeWrite();
    throw err;
  });
}

async function pair(sender: Extra = {}, receiver: Extra = {}, intercept?: Intercept) {
  const streams = duplex(intercept);
  const [s, r] = await Promise.allSettled([
    start('sender', streams.sender, sender),
    start('receiver', streams.receiver, receiver),
  ]);
  return { s, r };
}

async function ok(sender: Extra = {}, receiver: Extra = {}) {
  const { s, r } = await pair(sender, receiver);
  if (s.status === 'rejected') throw s.reason;
  if (r.status === 'rejected') throw r.reason;
  return { s: s.value, r: r.value };
}

function codeOf(result: PromiseSettledResult<unknown>): string {
  if (result.status === 'fulfilled') return 'fulfilled';
  const err: unknown = result.reason;
  if (!(err instanceof FerryError))
    throw new Error(`not a FerryError: ${String(err)}`, { cause: err });
  return err.code;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function expectAgreement(s: SessionKeys, r: SessionKeys): void {
  expect(hex(s.sendData)).toBe(hex(r.recvData));
  expect(hex(s.recvData)).toBe(hex(r.sendData));
  expect(hex(s.sendControl)).toBe(hex(r.recvControl));
  expect(hex(s.recvControl)).toBe(hex(r.sendControl));
  expect(hex(s.transcriptHash)).toBe(hex(r.transcriptHash));
  expect(hex(s.resumeSecret)).toBe(hex(r.resumeSecret));
  expect(s.sas).toBe(r.sas);
  expect(s.version).toBe(r.version);
  expect(s.suite).toBe(r.suite);
  const keys = [s.sendData, s.recvData, s.sendControl, s.recvControl, s.resumeSecret];
  for (const k of keys) expect(k.length).toBe(32);
  expect(new Set(keys.map(hex)).size).toBe(keys.length);
}

describe('runHandshake', () => {
  it('agrees on keys, SAS and identities without a code', async () => {
    const { s, r } = await ok();
    expectAgreement(s, r);
    expect(s.role).toBe('sender');
    expect(r.role).toBe('receiver');
    expect(s.version).toBe(1);
    expect(s.usedCode).toBe(false);
    expect(s.sas).toMatch(/^[a-z]+-[a-z]+-[a-z]+$/);
    expect(s.peerIdentity).toEqual(bob.publicKey);
    expect(r.peerIdentity).toEqual(alice.publicKey);
    expect(s.peerFingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(s.suite).not.toMatch(/CPace/);
  });

  it('gives fresh keys every session', async () => {
    const a = await ok();
    const b = await ok();
    expect(hex(a.s.sendData)).not.toBe(hex(b.s.sendData));
    expect(a.s.sas === b.s.sas && hex(a.s.resumeSecret) === hex(b.s.resumeSecret)).toBe(false);
  });

  it('succeeds with the same code and context', async () => {
    const password = te.encode('apple-river-stone');
    const context = te.encode('room');
    const { s, r } = await ok({ password, context }, { password, context });
    expectAgreement(s, r);
    expect(s.usedCode).toBe(true);
    expect(r.usedCode).toBe(true);
    expect(s.suite).toMatch(/CPace/);
  });

  it('fails on both sides with WRONG_CODE for a different code', async () => {
    const { s, r } = await pair(
      { password: te.encode('apple-river-stone') },
      { password: te.encode('apple-river-stony') },
    );
    expect(codeOf(s)).toBe('WRONG_CODE');
    expect(codeOf(r)).toBe('WRONG_CODE');
    expect((s as PromiseRejectedResult).reason.message).toMatch(/code phrase did not match/);
  });

  it('fails when the contexts differ', async () => {
    const { s, r } = await pair({ context: te.encode('a') }, { context: te.encode('b') });
    expect(codeOf(s)).toBe('HANDSHAKE');
    expect(codeOf(r)).toBe('HANDSHAKE');
  });

  it('rejects a sender without a code when the receiver has one (no downgrade)', async () => {
    const { s, r } = await pair({}, { password: te.encode('apple-river-stone') });
    expect(codeOf(r)).toBe('HANDSHAKE');
    expect((r as PromiseRejectedResult).reason.message).toMatch(/downgrade/);
    expect(codeOf(s)).toBe('HANDSHAKE');
  });

  it('rejects a sender with a code when the receiver has none', async () => {
    const { s, r } = await pair({ password: te.encode('apple-river-stone') }, {});
    expect(codeOf(r)).toBe('HANDSHAKE');
    expect(codeOf(s)).toBe('HANDSHAKE');
  });

  it('rejects a man in the middle rewriting msg1 to identity mode', async () => {
    const password = te.encode('apple-river-stone');
    const strip: Intercept = (from, index, bytes) => {
      if (from !== 'sender' || index !== 0) return bytes;
      const { cpace: _ya, ...rest } = decode(bytes.subarray(5), { useMaps: false }) as {
        cpace?: Uint8Array;
        mode: string;
      };
      const body = encode({ ...rest, mode: 'identity' });
      const out = Buffer.alloc(5 + body.length);
      out.writeUInt32BE(body.length + 1, 0);
      out[4] = FrameType.Handshake;
      out.set(body, 5);
      return out;
    };
    const { s, r } = await pair({ password }, { password }, strip);
    expect(codeOf(r)).toBe('HANDSHAKE');
    expect(codeOf(s)).toBe('HANDSHAKE');
  });

  it('accepts the expected peer and rejects another with PEER_MISMATCH', async () => {
    await ok({ expectedPeer: bob.publicKey }, { expectedPeer: alice.publicKey });
    const mallory = generateIdentity();
    const bySender = await pair({ expectedPeer: mallory.publicKey }, {});
    expect(codeOf(bySender.s)).toBe('PEER_MISMATCH');
    expect(codeOf(bySender.r)).toBe('PEER_MISMATCH');
    const byReceiver = await pair({}, { expectedPeer: mallory.publicKey });
    expect(codeOf(byReceiver.r)).toBe('PEER_MISMATCH');
  });

  it('negotiates the highest common version', async () => {
    const { s, r } = await ok({ offerVersions: [1, 2] });
    expect(s.version).toBe(1);
    expect(r.version).toBe(1);
    expectAgreement(s, r);
  });

  it('fails with VERSION on both sides when no version is common', async () => {
    const { s, r } = await pair({ offerVersions: [2, 3] });
    expect(codeOf(r)).toBe('VERSION');
    expect(codeOf(s)).toBe('VERSION');
  });

  it('does not mutate identity, password, context or expectedPeer', async () => {
    const password = te.encode('apple-river-stone');
    const context = te.encode('room');
    const expectedPeer = Uint8Array.from(bob.publicKey);
    const before = [
      alice.publicKey,
      alice.secretKey,
      bob.publicKey,
      bob.secretKey,
      password,
      context,
      expectedPeer,
    ].map(hex);
    await ok({ password, context, expectedPeer }, { password, context });
    await pair({ password, context }, { password: te.encode('x'), context });
    const after = [
      alice.publicKey,
      alice.secretKey,
      bob.publicKey,
      bob.secretKey,
      password,
      context,
      expectedPeer,
    ].map(hex);
    expect(after).toEqual(before);
  });

  it('any single flipped byte in any handshake frame fails the handshake with a FerryError', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 3 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        fc.boolean(),
        async (frame, offset, mask, useCode) => {
          const flip: Intercept = (_from, index, bytes) => {
            if (index === frame) bytes[offset % bytes.length]! ^= mask;
            return bytes;
          };
          const extra: Extra = useCode ? { password: te.encode('apple-river-stone') } : {};
          const signal = AbortSignal.timeout(1500);
          const { s, r } = await pair({ ...extra, signal }, { ...extra, signal }, flip);
          const codes = [codeOf(s), codeOf(r)]; // throws on a non-Ferry error
          expect(codes.some((c) => c !== 'fulfilled')).toBe(true);
        },
      ),
      { numRuns: 120 },
    );
  });
});

describe('runHandshake against a hostile or broken peer', () => {
  async function receiverGets(frames: { type: FrameType; body: Uint8Array }[], extra: Extra = {}) {
    const { sender, receiver } = duplex();
    const w = new FrameWriter(sender);
    for (const f of frames) await w.write(f.type, f.body);
    await sender.closeWrite();
    const result = await Promise.allSettled([start('receiver', receiver, extra)]);
    const reply = await new FrameReader(sender).next();
    return { code: codeOf(result[0]), reply };
  }

  const validMsg1 = () => ({
    versions: [1],
    mode: 'identity',
    sid: new Uint8Array(16),
    mlkem: new Uint8Array(1568),
    x25519: new Uint8Array(32).fill(9),
  });

  it('answers malformed CBOR with HANDSHAKE and an alert', async () => {
    const { code, reply } = await receiverGets([
      { type: FrameType.Handshake, body: Uint8Array.of(0xff, 0x00, 0x13) },
    ]);
    expect(code).toBe('HANDSHAKE');
    expect(reply?.type).toBe(FrameType.Alert);
    const alert = decode(reply!.body) as { code: string; message: string };
    expect(alert.code).toBe('HANDSHAKE');
    expect(alert.message).toMatch(/CBOR/);
  });

  it.each([
    ['a string for versions', { versions: '1' }],
    ['a short key', { mlkem: new Uint8Array(10) }],
    ['an unknown mode', { mode: 'psk' }],
    ['an extra field', { extra: 1 }],
    ['a CPace share in identity mode', { cpace: new Uint8Array(32) }],
    ['a float version', { versions: [1.5] }],
  ])('rejects msg1 with %s as HANDSHAKE', async (_name, patch) => {
    const { code } = await receiverGets([
      { type: FrameType.Handshake, body: encode({ ...validMsg1(), ...patch }) },
    ]);
    expect(code).toBe('HANDSHAKE');
  });

  it('rejects a non-CBOR-map body and an invalid ML-KEM key as HANDSHAKE', async () => {
    expect((await receiverGets([{ type: FrameType.Handshake, body: encode([1, 2]) }])).code).toBe(
      'HANDSHAKE',
    );
    // All-0xff coefficients fail FIPS 203's modulus check.
    const bad = { ...validMsg1(), mlkem: new Uint8Array(1568).fill(0xff) };
    expect((await receiverGets([{ type: FrameType.Handshake, body: encode(bad) }])).code).toBe(
      'HANDSHAKE',
    );
  });

  it('rejects a small-order X25519 key', async () => {
    const { ml_kem1024 } = await import('@noble/post-quantum/ml-kem.js');
    const m1 = { ...validMsg1(), mlkem: ml_kem1024.keygen().publicKey, x25519: new Uint8Array(32) };
    const { code } = await receiverGets([{ type: FrameType.Handshake, body: encode(m1) }]);
    expect(code).toBe('HANDSHAKE');
  });

  it('rejects an unexpected frame type as HANDSHAKE', async () => {
    const { code } = await receiverGets([{ type: FrameType.Control, body: new Uint8Array(4) }]);
    expect(code).toBe('HANDSHAKE');
  });

  it('turns a peer alert into a HandshakeError with its code', async () => {
    const alert = encode({ code: 'VERSION', message: 'too old\u0007' });
    const { code } = await receiverGets([{ type: FrameType.Alert, body: alert }]);
    expect(code).toBe('VERSION');
    const odd = encode({ code: 'NO_SUCH', message: 'x' });
    expect((await receiverGets([{ type: FrameType.Alert, body: odd }])).code).toBe('HANDSHAKE');
    expect((await receiverGets([{ type: FrameType.Alert, body: Uint8Array.of(1) }])).code).toBe(
      'HANDSHAKE',
    );
  });

  it('reports a stream that ends as CONNECTION', async () => {
    expect((await receiverGets([])).code).toBe('CONNECTION');
    const { sender, receiver } = duplex();
    await receiver.closeWrite();
    await expect(start('sender', sender, {})).rejects.toMatchObject({ code: 'CONNECTION' });
  });

  it('reports a broken stream as CONNECTION', async () => {
    const { sender } = duplex();
    const p = start('sender', sender, {});
    sender.abort(new Error('reset'));
    await expect(p).rejects.toMatchObject({ code: 'CONNECTION' });
  });

  it('honours the abort signal: TIMEOUT and CANCELLED', async () => {
    const a = duplex();
    await expect(
      start('sender', a.sender, { signal: AbortSignal.timeout(30) }),
    ).rejects.toMatchObject({
      code: 'TIMEOUT',
    });
    const b = duplex();
    const ctl = new AbortController();
    const p = start('receiver', b.receiver, { signal: ctl.signal });
    ctl.abort();
    await expect(p).rejects.toMatchObject({ code: 'CANCELLED' });
  });

  it('throws TypeError for bad options', async () => {
    const { sender } = duplex();
    await expect(
      start('sender', sender, {
        identity: { publicKey: bob.publicKey, secretKey: alice.secretKey },
      }),
    ).rejects.toThrow(TypeError);
    await expect(start('sender', sender, { password: new Uint8Array(0) })).rejects.toThrow(
      TypeError,
    );
    await expect(start('sender', sender, { expectedPeer: new Uint8Array(3) })).rejects.toThrow(
      TypeError,
    );
  });
});
