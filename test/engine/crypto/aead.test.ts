/**
 * FrameSealer / FrameOpener (node:crypto AES-256-GCM), cross-checked against a
 * second implementation: @noble/ciphers `gcm` with the same key, nonce layout
 * (u32 direction || u64 counter, big-endian) and AAD.
 */
import { randomBytes } from 'node:crypto';
import { gcm } from '@noble/ciphers/aes.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AEAD_OVERHEAD,
  Direction,
  FrameOpener,
  FrameSealer,
} from '../../../src/engine/crypto/aead.js';
import { IntegrityError } from '../../../src/engine/errors.js';

function nonce(direction: Direction, counter: number): Uint8Array {
  const n = Buffer.alloc(12);
  n.writeUInt32BE(direction, 0);
  n.writeBigUInt64BE(BigInt(counter), 4);
  return n;
}

function concat(parts: readonly Uint8Array[]): Buffer {
  return Buffer.concat(parts);
}

/** Seal `count` frames and return them whole (ciphertext || tag). */
function sealFrames(key: Uint8Array, dir: Direction, aad: Uint8Array, count: number): Buffer[] {
  const sealer = new FrameSealer(key, dir);
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) out.push(concat(sealer.seal(aad, Buffer.from(`frame ${i}`))));
  return out;
}

function expectIntegrity(fn: () => unknown): void {
  expect(fn).toThrow(IntegrityError);
}

describe('FrameSealer against @noble/ciphers gcm', () => {
  it('matches noble for a sequence of frames with multi-part plaintexts, both directions', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.constantFrom(Direction.SenderToReceiver, Direction.ReceiverToSender),
        fc.array(
          fc.record({
            aad: fc.uint8Array({ maxLength: 40 }),
            parts: fc.array(fc.uint8Array({ maxLength: 100 }), { maxLength: 4 }),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        (key, dir, frames) => {
          const sealer = new FrameSealer(key, dir);
          const opener = new FrameOpener(key, dir);
          frames.forEach(({ aad, parts }, i) => {
            expect(sealer.counter).toBe(BigInt(i));
            const sealed = concat(sealer.seal(aad, ...parts));
            const plain = concat(parts);
            expect(sealed.length).toBe(plain.length + AEAD_OVERHEAD);
            const reference = gcm(key, nonce(dir, i), aad).encrypt(plain);
            expect(Buffer.from(reference).equals(sealed)).toBe(true);
            // Noble decrypts ours, and our opener decrypts noble's.
            expect(Buffer.from(gcm(key, nonce(dir, i), aad).decrypt(sealed)).equals(plain)).toBe(
              true,
            );
            expect(opener.open(aad, reference).equals(plain)).toBe(true);
          });
        },
      ),
      { numRuns: 50 },
    );
  });

  it('matches noble for a large multi-part frame (the data path: leaf || 1 MiB payload)', () => {
    const key = randomBytes(32);
    const aad = randomBytes(29);
    const leaf = randomBytes(32);
    const payload = randomBytes(1024 * 1024);
    const sealer = new FrameSealer(key, Direction.SenderToReceiver);
    sealer.seal(aad, Buffer.from('skip counter 0'));
    const sealed = concat(sealer.seal(aad, leaf, payload));
    const reference = gcm(key, nonce(Direction.SenderToReceiver, 1), aad).encrypt(
      concat([leaf, payload]),
    );
    expect(Buffer.from(reference).equals(sealed)).toBe(true);
  });

  it('rejects a key of the wrong length with a TypeError naming it', () => {
    expect(() => new FrameSealer(new Uint8Array(16), Direction.SenderToReceiver)).toThrow(/key/);
    expect(() => new FrameOpener(new Uint8Array(33), Direction.SenderToReceiver)).toThrow(
      TypeError,
    );
  });
});

describe('FrameOpener rejects', () => {
  const key = randomBytes(32);
  const aad = Buffer.from('ferry/1 control');
  const dir = Direction.SenderToReceiver;

  it('any flipped byte of ciphertext or tag (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 64 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (plain, at, mask) => {
          const sealed = concat(new FrameSealer(key, dir).seal(aad, plain));
          const bad = Buffer.from(sealed);
          const i = at % bad.length;
          bad[i] = bad[i]! ^ mask;
          const opener = new FrameOpener(key, dir);
          expectIntegrity(() => opener.open(aad, bad));
          // A failed open does not advance the counter: the genuine frame still opens.
          expect(opener.open(aad, sealed).equals(Buffer.from(plain))).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('a flipped tag byte (last byte)', () => {
    const sealed = concat(new FrameSealer(key, dir).seal(aad, Buffer.from('hello')));
    sealed[sealed.length - 1] = sealed[sealed.length - 1]! ^ 0x80;
    expectIntegrity(() => new FrameOpener(key, dir).open(aad, sealed));
  });

  it('a wrong AAD', () => {
    const sealed = concat(new FrameSealer(key, dir).seal(aad, Buffer.from('hello')));
    expectIntegrity(() => new FrameOpener(key, dir).open(Buffer.from('ferry/1 contrul'), sealed));
    expectIntegrity(() => new FrameOpener(key, dir).open(new Uint8Array(0), sealed));
  });

  it('a replayed frame (the counter moved on)', () => {
    const [f0, f1] = sealFrames(key, dir, aad, 2);
    const opener = new FrameOpener(key, dir);
    opener.open(aad, f0!);
    expectIntegrity(() => opener.open(aad, f0!));
    expect(opener.open(aad, f1!).toString()).toBe('frame 1');
  });

  it('reordered frames', () => {
    const [f0, f1, f2] = sealFrames(key, dir, aad, 3);
    const opener = new FrameOpener(key, dir);
    expectIntegrity(() => opener.open(aad, f1!));
    expectIntegrity(() => opener.open(aad, f2!));
    expect(opener.open(aad, f0!).toString()).toBe('frame 0');
    expectIntegrity(() => opener.open(aad, f2!));
  });

  it('a frame sealed for the other direction, even under the same key', () => {
    const [theirs] = sealFrames(key, Direction.ReceiverToSender, aad, 1);
    expectIntegrity(() => new FrameOpener(key, Direction.SenderToReceiver).open(aad, theirs!));
  });

  it('a frame sealed under another key', () => {
    const [other] = sealFrames(randomBytes(32), dir, aad, 1);
    expectIntegrity(() => new FrameOpener(key, dir).open(aad, other!));
  });

  it('input shorter than the tag, and a lone tag of an empty plaintext only when genuine', () => {
    const opener = new FrameOpener(key, dir);
    for (const n of [0, 1, 15]) expectIntegrity(() => opener.open(aad, new Uint8Array(n)));
    expectIntegrity(() => opener.open(aad, new Uint8Array(16)));
    const empty = concat(new FrameSealer(key, dir).seal(aad));
    expect(empty.length).toBe(16);
    expect(new FrameOpener(key, dir).open(aad, empty).length).toBe(0);
  });
});

describe('buffers', () => {
  it('seal and open do not mutate their inputs', () => {
    const key = randomBytes(32);
    const keyCopy = Buffer.from(key);
    const aad = randomBytes(20);
    const aadCopy = Buffer.from(aad);
    const parts = [randomBytes(100), randomBytes(5000)];
    const partsCopy = parts.map((p) => Buffer.from(p));
    const sealer = new FrameSealer(key, Direction.SenderToReceiver);
    const sealed = concat(sealer.seal(aad, ...parts));
    const sealedCopy = Buffer.from(sealed);
    const opened = new FrameOpener(key, Direction.SenderToReceiver).open(aad, sealed);
    expect(opened.equals(concat(partsCopy))).toBe(true);
    expect(key.equals(keyCopy)).toBe(true);
    expect(aad.equals(aadCopy)).toBe(true);
    parts.forEach((p, i) => {
      expect(p.equals(partsCopy[i]!)).toBe(true);
    });
    expect(sealed.equals(sealedCopy)).toBe(true);
    // A failed open leaves its input alone too.
    const bad = Buffer.from(sealed);
    bad[0] = bad[0]! ^ 1;
    const badCopy = Buffer.from(bad);
    expectIntegrity(() => new FrameOpener(key, Direction.SenderToReceiver).open(aad, bad));
    expect(bad.equals(badCopy)).toBe(true);
  });

  it('keeps its own copy of the key: wiping the caller buffer changes nothing', () => {
    const key = randomBytes(32);
    const expected = gcm(key, nonce(Direction.SenderToReceiver, 0), new Uint8Array(0)).encrypt(
      Buffer.from('x'),
    );
    const sealer = new FrameSealer(key, Direction.SenderToReceiver);
    key.fill(0);
    expect(
      Buffer.from(expected).equals(concat(sealer.seal(new Uint8Array(0), Buffer.from('x')))),
    ).toBe(true);
  });

  it('dispose wipes the key: later seals use the zero key, not the original', () => {
    const key = randomBytes(32);
    const aad = new Uint8Array(0);
    const plain = Buffer.from('after dispose');
    const sealer = new FrameSealer(key, Direction.SenderToReceiver);
    sealer.dispose();
    const after = concat(sealer.seal(aad, plain));
    const withOriginal = gcm(key, nonce(Direction.SenderToReceiver, 0), aad).encrypt(plain);
    const withZeros = gcm(new Uint8Array(32), nonce(Direction.SenderToReceiver, 0), aad).encrypt(
      plain,
    );
    expect(Buffer.from(withOriginal).equals(after)).toBe(false);
    expect(Buffer.from(withZeros).equals(after)).toBe(true);

    const opener = new FrameOpener(key, Direction.SenderToReceiver);
    const genuine = concat(new FrameSealer(key, Direction.SenderToReceiver).seal(aad, plain));
    opener.dispose();
    expectIntegrity(() => opener.open(aad, genuine));
  });
});
