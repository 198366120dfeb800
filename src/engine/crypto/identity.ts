/**
 * Long-term Ed25519 identity keys (RFC 8032), fingerprints and signatures.
 *
 * Signing and verification use node:crypto (OpenSSL) for speed; the tests
 * cross-check against @noble/curves. Keys travel as raw bytes: a 32-byte
 * public key and a 32-byte secret seed.
 *
 * Caveats: OpenSSL keeps its own copy of the expanded secret inside a
 * KeyObject that JS cannot wipe; we wipe the DER buffer we build, and the
 * KeyObject is dropped right after use. Storing the seed (file mode 0600) is
 * the caller's job.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign as nodeSign,
  verify as nodeVerify,
} from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';

/** Length of an Ed25519 public key, secret seed and signature. */
export const IDENTITY_KEY_BYTES = 32;
/** Length of an Ed25519 signature. */
export const SIGNATURE_BYTES = 64;

// RFC 8410 DER prefixes for raw Ed25519 keys (OID 1.3.101.112).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const FINGERPRINT_LABEL = new TextEncoder().encode('ferry identity fingerprint v1\0');
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** A long-term identity: raw Ed25519 public key and 32-byte secret seed. */
export interface Identity {
  /** 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
  /** 32-byte secret seed (RFC 8032 private key). Keep secret; wipe when done. */
  secretKey: Uint8Array;
}

function checkLength(bytes: Uint8Array, length: number, name: string): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== length) {
    throw new TypeError(`${name} must be a Uint8Array of ${length} bytes`);
  }
}

function privateKeyObject(secretKey: Uint8Array): KeyObject {
  checkLength(secretKey, IDENTITY_KEY_BYTES, 'secretKey');
  const der = Buffer.concat([PKCS8_PREFIX, secretKey]);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  checkLength(publicKey, IDENTITY_KEY_BYTES, 'publicKey');
  return createPublicKey({
    key: Buffer.concat([SPKI_PREFIX, publicKey]),
    format: 'der',
    type: 'spki',
  });
}

function rawPublicKey(key: KeyObject): Uint8Array {
  const spki = key.export({ format: 'der', type: 'spki' });
  return Uint8Array.from(spki.subarray(SPKI_PREFIX.length));
}

/** Generate a fresh identity. */
export function generateIdentity(): Identity {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
  const secretKey = Uint8Array.from(pkcs8.subarray(PKCS8_PREFIX.length));
  pkcs8.fill(0);
  return { publicKey: rawPublicKey(publicKey), secretKey };
}

/** The public key belonging to a 32-byte secret seed. */
export function publicKeyFromSecret(secretKey: Uint8Array): Uint8Array {
  return rawPublicKey(createPublicKey(privateKeyObject(secretKey)));
}

/** Ed25519 signature (64 bytes) of `message` under `secretKey`. */
export function sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  return Uint8Array.from(nodeSign(null, message, privateKeyObject(secretKey)));
}

/**
 * Whether `signature` is a valid Ed25519 signature of `message` by
 * `publicKey`. Returns false (never throws) for malformed keys or signatures.
 */
export function verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== IDENTITY_KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false;
  try {
    return nodeVerify(null, message, publicKeyObject(publicKey), signature);
  } catch {
    return false;
  }
}

/** Full fingerprint: hex SHA-256 of a label and the public key (64 hex chars). */
export function fingerprint(publicKey: Uint8Array): string {
  checkLength(publicKey, IDENTITY_KEY_BYTES, 'publicKey');
  const h = new Uint8Array(FINGERPRINT_LABEL.length + publicKey.length);
  h.set(FINGERPRINT_LABEL, 0);
  h.set(publicKey, FINGERPRINT_LABEL.length);
  return Buffer.from(sha256(h)).toString('hex');
}

/**
 * Short human form of the fingerprint: its first 80 bits in RFC 4648 base32,
 * as four groups of four characters, e.g. `K4JQ-7ZPA-M2XD-QF3T`. For reading
 * aloud and eyeballing; pinning compares full keys, never this.
 */
export function shortFingerprint(publicKey: Uint8Array): string {
  const bytes = Buffer.from(fingerprint(publicKey), 'hex').subarray(0, 10);
  let bits = 0n;
  for (const b of bytes) bits = (bits << 8n) | BigInt(b);
  let out = '';
  for (let i = 15; i >= 0; i--) out += BASE32[Number((bits >> BigInt(i * 5)) & 31n)];
  return out.match(/.{4}/g)!.join('-');
}
