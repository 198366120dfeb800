import { ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  fingerprint,
  generateIdentity,
  publicKeyFromSecret,
  shortFingerprint,
  sign,
  verify,
} from '../../../src/engine/crypto/identity.js';

const msg = new TextEncoder().encode('ferry');

describe('identity', () => {
  it('generates 32-byte keys whose public key matches the seed', () => {
    const id = generateIdentity();
    expect(id.publicKey.length).toBe(32);
    expect(id.secretKey.length).toBe(32);
    expect(publicKeyFromSecret(id.secretKey)).toEqual(id.publicKey);
    // Cross-check with @noble/curves.
    expect(ed25519.getPublicKey(id.secretKey)).toEqual(id.publicKey);
  });

  it('signs and verifies, cross-checked against @noble/curves', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array(), (seed, m) => {
        const pk = publicKeyFromSecret(seed);
        const sig = sign(seed, m);
        expect(sig).toEqual(ed25519.sign(m, seed));
        expect(verify(pk, m, sig)).toBe(true);
        expect(ed25519.verify(sig, m, pk)).toBe(true);
      }),
      { numRuns: 30 },
    );
  });

  it('RFC 8032 test 1', () => {
    const seed = Buffer.from(
      '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
      'hex',
    );
    expect(Buffer.from(publicKeyFromSecret(seed)).toString('hex')).toBe(
      'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    );
    expect(Buffer.from(sign(seed, new Uint8Array(0))).toString('hex')).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
  });

  it('rejects tampered signatures and malformed input without throwing', () => {
    const id = generateIdentity();
    const sig = sign(id.secretKey, msg);
    for (let i = 0; i < sig.length; i += 7) {
      const bad = Uint8Array.from(sig);
      bad[i]! ^= 1;
      expect(verify(id.publicKey, msg, bad)).toBe(false);
    }
    expect(verify(id.publicKey, new TextEncoder().encode('ferrz'), sig)).toBe(false);
    expect(verify(id.publicKey, msg, sig.subarray(1))).toBe(false);
    expect(verify(new Uint8Array(31), msg, sig)).toBe(false);
    expect(verify(new Uint8Array(32).fill(0xff), msg, sig)).toBe(false);
  });

  it('throws TypeError for a wrong-length secret key', () => {
    expect(() => sign(new Uint8Array(31), msg)).toThrow(TypeError);
    expect(() => fingerprint(new Uint8Array(33))).toThrow(TypeError);
  });

  it('fingerprints are labelled SHA-256 hex; short form is 4 groups of 4', () => {
    const id = generateIdentity();
    const fp = fingerprint(id.publicKey);
    expect(fp).toMatch(/^[0-9a-f]{64}$/);
    expect(fp).not.toBe(Buffer.from(id.publicKey).toString('hex'));
    expect(shortFingerprint(id.publicKey)).toMatch(/^[A-Z2-7]{4}(-[A-Z2-7]{4}){3}$/);
    const other = generateIdentity();
    expect(fingerprint(other.publicKey)).not.toBe(fp);
    expect(shortFingerprint(other.publicKey)).not.toBe(shortFingerprint(id.publicKey));
  });

  it('does not mutate inputs', () => {
    const id = generateIdentity();
    const sk = Uint8Array.from(id.secretKey);
    const pk = Uint8Array.from(id.publicKey);
    const m = Uint8Array.from(msg);
    const sig = sign(id.secretKey, m);
    verify(id.publicKey, m, sig);
    fingerprint(id.publicKey);
    shortFingerprint(id.publicKey);
    expect(id.secretKey).toEqual(sk);
    expect(id.publicKey).toEqual(pk);
    expect(m).toEqual(msg);
  });
});
