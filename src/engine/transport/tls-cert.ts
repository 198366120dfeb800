/**
 * Self-signed X.509 certificates for Ed25519 identity keys, for TCP+TLS links.
 *
 * The certificate is hand-rolled DER (RFC 5280, RFC 8410): version 3, a
 * random positive 128-bit serial, signature algorithm id-Ed25519
 * (1.3.101.112), issuer = subject = CN=ferry, valid from a day before
 * creation to 9999-12-31 (the RFC 5280 "no expiry" value), no extensions, and
 * the identity's public key. It is signed with the identity key itself.
 *
 * Trust does not come from the certificate: TLS only proves that the peer
 * holds the private key of the certificate's public key, and the caller
 * compares that key with the identity it expects (pinning). Names, dates and
 * chains are not checked.
 *
 * Caveats: the private key travels to node:tls as a PEM Buffer; wipe it with
 * `fill(0)` once the secure context exists. OpenSSL keeps its own copy.
 */
import { createPrivateKey, createPublicKey, randomBytes, sign, X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import type { Identity } from '../crypto/identity.js';
import { HandshakeError } from '../errors.js';

/** A self-signed certificate and its private key, ready for node:tls. */
export interface SelfSignedCert {
  /** The certificate, PEM. */
  readonly certPem: string;
  /** The certificate, DER. */
  readonly certDer: Uint8Array;
  /** PKCS#8 PEM of the identity's private key. Secret: wipe with fill(0) after use. */
  readonly keyPem: Buffer;
}

/** Options of {@link createSelfSignedCert}. */
export interface SelfSignedCertOptions {
  /** Subject and issuer common name (default `ferry`). */
  readonly commonName?: string;
  /** Creation time (default now); the certificate is valid from one day earlier. */
  readonly now?: Date;
}

const OID_ED25519 = Uint8Array.of(0x06, 0x03, 0x2b, 0x65, 0x70);
const OID_COMMON_NAME = Uint8Array.of(0x06, 0x03, 0x55, 0x04, 0x03);
const DAY_MS = 24 * 60 * 60 * 1000;

function derLength(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** One DER TLV with the given tag around the concatenated parts. */
function der(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(parts);
  return Buffer.concat([Uint8Array.of(tag), derLength(body.length), body]);
}

const seq = (...parts: Uint8Array[]): Uint8Array => der(0x30, ...parts);

function derTime(date: Date): Uint8Array {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  const year = date.getUTCFullYear();
  // RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
  if (year >= 1950 && year < 2050) return der(0x17, Buffer.from(`${digits.slice(2)}Z`, 'ascii'));
  return der(0x18, Buffer.from(`${digits}Z`, 'ascii'));
}

function name(commonName: string): Uint8Array {
  return seq(der(0x31, seq(OID_COMMON_NAME, der(0x0c, Buffer.from(commonName, 'utf8')))));
}

function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

/** Create a self-signed certificate for `identity` (see the module comment for its contents). */
export function createSelfSignedCert(
  identity: Identity,
  opts: SelfSignedCertOptions = {},
): SelfSignedCert {
  if (identity.publicKey.length !== 32 || identity.secretKey.length !== 32) {
    throw new TypeError('identity keys must be 32 bytes each');
  }
  const privateKey = createPrivateKey({
    key: {
      kty: 'OKP',
      crv: 'Ed25519',
      d: base64url(identity.secretKey),
      x: base64url(identity.publicKey),
    },
    format: 'jwk',
  });
  const derived = createPublicKey(privateKey).export({ format: 'jwk' }).x;
  if (derived !== base64url(identity.publicKey)) {
    throw new TypeError('identity.publicKey does not belong to identity.secretKey');
  }

  const now = opts.now ?? new Date();
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40; // positive, minimal encoding
  const algorithm = seq(OID_ED25519);
  const subject = name(opts.commonName ?? 'ferry');
  const tbs = seq(
    der(0xa0, der(0x02, Uint8Array.of(2))), // [0] version v3
    der(0x02, serial),
    algorithm,
    subject, // issuer
    seq(derTime(new Date(now.getTime() - DAY_MS)), der(0x18, Buffer.from('99991231235959Z'))),
    subject,
    seq(algorithm, der(0x03, Uint8Array.of(0), identity.publicKey)),
  );
  const signature = sign(null, tbs, privateKey);
  const certDer = seq(tbs, algorithm, der(0x03, Uint8Array.of(0), signature));
  const b64 = Buffer.from(certDer).toString('base64');
  const certPem = `-----BEGIN CERTIFICATE-----\n${b64.replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`;
  const keyPem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as Buffer | string;
  return {
    certPem,
    certDer,
    keyPem: typeof keyPem === 'string' ? Buffer.from(keyPem, 'ascii') : keyPem,
  };
}

/**
 * The raw 32-byte Ed25519 public key of a certificate (a peer's TLS
 * certificate or an X509Certificate). Throws a HandshakeError if the
 * certificate is missing, does not parse, or holds another kind of key.
 */
export function publicKeyFromCert(cert: PeerCertificate | X509Certificate): Uint8Array {
  let x509: X509Certificate;
  try {
    x509 = cert instanceof X509Certificate ? cert : new X509Certificate(cert.raw);
  } catch (e) {
    throw new HandshakeError('HANDSHAKE', 'peer certificate does not parse', { cause: e });
  }
  const key = x509.publicKey;
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new HandshakeError(
      'HANDSHAKE',
      `peer certificate holds a ${key.asymmetricKeyType ?? 'unknown'} key, not Ed25519`,
    );
  }
  const x = key.export({ format: 'jwk' }).x;
  const raw = x === undefined ? undefined : Buffer.from(x, 'base64url');
  if (raw === undefined || raw.length !== 32) {
    throw new HandshakeError('HANDSHAKE', 'peer certificate Ed25519 key has the wrong length');
  }
  return Uint8Array.from(raw);
}
