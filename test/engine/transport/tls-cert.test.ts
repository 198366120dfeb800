import { createPrivateKey, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateIdentity } from '../../../src/engine/crypto/identity.js';
import { HandshakeError } from '../../../src/engine/errors.js';
import { createSelfSignedCert, publicKeyFromCert } from '../../../src/engine/transport/tls-cert.js';

describe('self-signed Ed25519 certificates', () => {
  it('parse with node, carry the identity key, and verify under it', () => {
    const id = generateIdentity();
    const { certPem, certDer, keyPem } = createSelfSignedCert(id);
    const x509 = new X509Certificate(certPem);
    expect(Buffer.from(x509.raw)).toEqual(Buffer.from(certDer));
    expect(x509.subject).toBe('CN=ferry');
    expect(x509.issuer).toBe('CN=ferry');
    expect(x509.publicKey.asymmetricKeyType).toBe('ed25519');
    expect(publicKeyFromCert(x509)).toEqual(id.publicKey);
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(x509.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
    expect(new Date(x509.validFrom).getTime()).toBeLessThan(Date.now());
    expect(new Date(x509.validTo).getUTCFullYear()).toBe(9999);
    expect(BigInt(`0x${x509.serialNumber}`)).toBeGreaterThan(0n);
  });

  it('another key does not verify it', () => {
    const x509 = new X509Certificate(createSelfSignedCert(generateIdentity()).certPem);
    const other = new X509Certificate(createSelfSignedCert(generateIdentity()).certPem);
    expect(x509.verify(other.publicKey)).toBe(false);
  });

  it('each certificate has a fresh serial', () => {
    const id = generateIdentity();
    const a = new X509Certificate(createSelfSignedCert(id).certPem);
    const b = new X509Certificate(createSelfSignedCert(id).certPem);
    expect(a.serialNumber).not.toBe(b.serialNumber);
  });

  it('uses GeneralizedTime from 2050 and a custom name', () => {
    const id = generateIdentity();
    const { certPem } = createSelfSignedCert(id, {
      now: new Date('2060-06-01T00:00:00Z'),
      commonName: 'relay',
    });
    const x509 = new X509Certificate(certPem);
    expect(new Date(x509.validFrom).toISOString()).toBe('2060-05-31T00:00:00.000Z');
    expect(x509.subject).toBe('CN=relay');
  });

  it('rejects mismatched identity keys', () => {
    const a = generateIdentity();
    const b = generateIdentity();
    expect(() => createSelfSignedCert({ publicKey: b.publicKey, secretKey: a.secretKey })).toThrow(
      TypeError,
    );
  });

  it('publicKeyFromCert turns an unparsable certificate into a HandshakeError', () => {
    expect(() => publicKeyFromCert({ raw: Buffer.from('not a cert') } as never)).toThrow(
      HandshakeError,
    );
  });
});
