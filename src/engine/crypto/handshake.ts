/**
 * The ferry handshake: hybrid ML-KEM-1024 + X25519 key agreement, optionally
 * bound to a code phrase with CPace, authenticated by Ed25519 identities and
 * finished by key confirmation in both directions.
 *
 * Specs used: FIPS 203 (ML-KEM-1024, @noble/post-quantum), RFC 7748 (X25519,
 * node:crypto), draft-irtf-cfrg-cpace (./cpace.ts), RFC 5869 (HKDF-SHA-256),
 * RFC 8032 (Ed25519, ./identity.ts), AES-256-GCM (node:crypto). The hybrid
 * combiner is ours (DESIGN.md "Cryptography"); the presets of
 * @noble/post-quantum/hybrid.js are deliberately not used.
 *
 * Wire format (every message is one frame on one stream; CBOR maps with the
 * exact field names below, byte strings of exact lengths):
 *
 *   msg1  sender → receiver, FrameType.Handshake, CBOR
 *         { versions: uint[1..16], mode: 'code'|'identity', sid: bytes16,
 *           mlkem: bytes1568 (ML-KEM-1024 encapsulation key),
 *           x25519: bytes32, cpace?: bytes32 (Ya; present iff mode = 'code') }
 *   msg2  receiver → sender, FrameType.Handshake, CBOR
 *         { version: uint (highest common), mlkem: bytes1568 (ciphertext),
 *           x25519: bytes32, cpace?: bytes32 (Yb; present iff mode = 'code') }
 *   msg3  receiver → sender, FrameType.Handshake: AES-256-GCM under hs_r2s,
 *         nonce 0, AAD = transcriptHash, of CBOR
 *         { identity: bytes32, signature: bytes64, confirm: bytes32 }
 *   msg4  sender → receiver, same shape under hs_s2r.
 *   Alert either way, FrameType.Alert, plaintext CBOR { code, message }: sent
 *         by the side that fails, so the peer can tell the user why.
 *
 * Key schedule:
 *   transcript     = lp("ferry handshake v1") || lp(context) || lp("sender")
 *                    || lp(msg1) || lp("receiver") || lp(msg2)  (lp = u32be len)
 *   transcriptHash = SHA-256(transcript)
 *   ikm            = ss_mlkem (32) || ss_x25519 (32) || isk_cpace (64)
 *   prk            = HKDF-Extract(SHA-256, salt = transcriptHash, ikm)
 *   each key       = HKDF-Expand(prk, "ferry v1 " || label, length)
 *   labels: data s2r, data r2s, control s2r, control r2s, hs s2r, hs r2s,
 *           confirm s2r, confirm r2s, sas (5 bytes → 3 words), resume.
 * isk_cpace is the full 64-byte CPace ISK_IR; without a code it is 64 zero
 * bytes (the mode is in the transcript, so the two cases cannot collide).
 * CPace uses CI = lv_cat("ferry v1", "sender", "receiver", context),
 * sid = msg1.sid, ADa = "sender", ADb = "receiver".
 *
 * Confirmation (msg3, msg4): signature = Ed25519(identity secret,
 * "ferry v1 <role> signature" || transcriptHash || own identity key);
 * confirm = HMAC-SHA-256(confirm key of that direction,
 * "ferry v1 <role> confirm" || transcriptHash || own identity key).
 * Signing over the transcript hash binds the identity to this session's
 * ephemeral keys; encrypting under transcript-derived keys (SIGMA-I style)
 * hides identities from passive observers and stops identity misbinding.
 *
 * Errors: a GCM or confirm failure means the two sides derived different
 * keys: WRONG_CODE when a code was used (a mistyped code is by far the likely
 * cause, though tampering looks the same), HANDSHAKE otherwise. Malformed
 * frames or fields: HANDSHAKE. No common version: VERSION. Identity other
 * than `expectedPeer`: PEER_MISMATCH. End of stream: ConnectionError. Abort:
 * TIMEOUT or CANCELLED.
 *
 * Caveats:
 * - Alerts are unauthenticated; an active attacker can forge one, but it can
 *   equally just cut the stream, so this only affects the message shown.
 * - The receiver reveals its identity (msg3) before it has authenticated the
 *   sender; in identity mode an active attacker posing as a sender learns it.
 * - msg4 is the last message: if it is tampered with, the receiver fails while
 *   the sender has already returned; the sender notices when the receiver's
 *   first encrypted control message never arrives or fails.
 * - The X25519 private key lives in an OpenSSL KeyObject and ML-KEM/CPace
 *   intermediates pass through bigints; neither can be wiped from JS. All
 *   byte buffers holding secrets are wiped on every path.
 */
import {
  createCipheriv,
  createDecipheriv,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { expand, extract } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import { wordlist } from '@scure/bip39/wordlists/english.js';
import { decode, encode } from 'cborg';
import { z } from 'zod/v3';
import { ConnectionError, ErrorCode, FerryError, HandshakeError } from '../errors.js';
import { parseUntrusted } from '../protocol/cbor.js';
import type { FrameReader, FrameWriter } from '../protocol/frame.js';
import { FrameType } from '../protocol/frame.js';
import { type CpaceParty, cpaceInit, lvCat } from './cpace.js';
import { fingerprint, publicKeyFromSecret, shortFingerprint, sign, verify } from './identity.js';

/** Protocol versions this build implements, ascending. */
export const SUPPORTED_VERSIONS: readonly number[] = [1];

/** Which side of the handshake we are; the sender always speaks first. */
export type HandshakeRole = 'sender' | 'receiver';

/** Inputs of `runHandshake`. None of the byte arrays is mutated or retained. */
export interface HandshakeOptions {
  /** 'sender' is the initiator and writes first. */
  role: HandshakeRole;
  /** Frames from the peer. */
  reader: FrameReader;
  /** Frames to the peer. */
  writer: FrameWriter;
  /** Our long-term Ed25519 identity. */
  identity: { publicKey: Uint8Array; secretKey: Uint8Array };
  /** CPace password (PRS) from the code words; absent = no code (identity mode). */
  password?: Uint8Array;
  /** Context both sides must share (e.g. relay room id); goes into CPace CI and transcript. */
  context?: Uint8Array;
  /** Pinned peer Ed25519 key; a different peer fails with PEER_MISMATCH. */
  expectedPeer?: Uint8Array;
  /** Aborts the handshake (TIMEOUT for a TimeoutError reason, else CANCELLED). */
  signal?: AbortSignal;
  /**
   * Sender only: versions to offer, default SUPPORTED_VERSIONS. Exists to test
   * negotiation against future versions; a version outside SUPPORTED_VERSIONS
   * is never accepted as the outcome.
   */
  offerVersions?: readonly number[];
}

/** Keys and facts agreed by a completed handshake. The caller wipes the keys. */
export interface SessionKeys {
  /** Negotiated protocol version. */
  version: number;
  /** Our role. */
  role: HandshakeRole;
  /** Data key for our direction of sending (32 bytes). */
  sendData: Uint8Array;
  /** Data key for the peer's direction (32 bytes). */
  recvData: Uint8Array;
  /** Control key for our direction (32 bytes). */
  sendControl: Uint8Array;
  /** Control key for the peer's direction (32 bytes). */
  recvControl: Uint8Array;
  /** Short authentication string: 3 BIP-39 words joined by '-', equal on both sides. */
  sas: string;
  /** The peer's Ed25519 public key, authenticated by its transcript signature. */
  peerIdentity: Uint8Array;
  /** Full hex fingerprint of `peerIdentity`. */
  peerFingerprint: string;
  /** SHA-256 of the handshake transcript (msg1, msg2, context, roles). */
  transcriptHash: Uint8Array;
  /** Secret for resuming this session later (32 bytes). */
  resumeSecret: Uint8Array;
  /** Human-readable name of the algorithms used. */
  suite: string;
  /** Whether a code phrase (CPace) was part of the key. */
  usedCode: boolean;
}

const te = new TextEncoder();
const label = (s: string): Uint8Array => te.encode(s);

const SID_BYTES = 16;
const X25519_BYTES = 32;
const MLKEM_PUBLIC_BYTES = 1568;
const MLKEM_CIPHERTEXT_BYTES = 1568;
const CPACE_Y_BYTES = 32;
const CPACE_ISK_BYTES = 64;
const KEY_BYTES = 32;
const GCM_TAG_BYTES = 16;
const SAS_BYTES = 5; // 3 words × 11 bits = 33 bits, from the top of 40
const ZERO_NONCE = new Uint8Array(12);
// RFC 8410 SPKI prefix for raw X25519 public keys (OID 1.3.101.110).
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const TRANSCRIPT_LABEL = label('ferry handshake v1');
const AD_SENDER = label('sender');
const AD_RECEIVER = label('receiver');
const WRONG_CODE_MESSAGE = 'the code phrase did not match on both sides';
const ALERT_MESSAGE_MAX = 300;
const HANDSHAKE_CODES = [
  ErrorCode.Handshake,
  ErrorCode.WrongCode,
  ErrorCode.PeerMismatch,
  ErrorCode.Version,
] as const;
type HandshakeCode = (typeof HANDSHAKE_CODES)[number];

const bytes = (n: number) =>
  z.instanceof(Uint8Array).refine((b) => b.length === n, { message: `must be ${n} bytes` });
const Msg1 = z.strictObject({
  versions: z.array(z.number().int().min(1).max(0xffff)).min(1).max(16),
  mode: z.enum(['code', 'identity']),
  sid: bytes(SID_BYTES),
  mlkem: bytes(MLKEM_PUBLIC_BYTES),
  x25519: bytes(X25519_BYTES),
  cpace: bytes(CPACE_Y_BYTES).optional(),
});
const Msg2 = z.strictObject({
  version: z.number().int().min(1).max(0xffff),
  mlkem: bytes(MLKEM_CIPHERTEXT_BYTES),
  x25519: bytes(X25519_BYTES),
  cpace: bytes(CPACE_Y_BYTES).optional(),
});
const Confirmation = z.strictObject({
  identity: bytes(32),
  signature: bytes(64),
  confirm: bytes(32),
});
const Alert = z.object({ code: z.string(), message: z.string() });

/** Errors built from a peer's Alert; never echoed back as an Alert. */
const fromPeer = new WeakSet<Error>();

/**
 * Run the handshake on one stream and return the session keys. Rejects with
 * HandshakeError (HANDSHAKE, WRONG_CODE, PEER_MISMATCH, VERSION),
 * ConnectionError, or FerryError TIMEOUT/CANCELLED; on a HandshakeError of
 * our own an Alert frame is sent to the peer first.
 */
export async function runHandshake(opts: HandshakeOptions): Promise<SessionKeys> {
  checkOptions(opts);
  const scratch = new Scratch();
  try {
    return opts.role === 'sender'
      ? await runSender(opts, scratch)
      : await runReceiver(opts, scratch);
  } catch (err) {
    scratch.wipeAll();
    const error = toHandshakeFailure(err);
    if (error instanceof HandshakeError && !fromPeer.has(error)) await sendAlert(opts, error);
    throw error;
  } finally {
    scratch.wipeTemporaries();
  }
}

/** Secrets to wipe: temporaries always, outputs only on failure. */
class Scratch {
  readonly #temporaries: Uint8Array[] = [];
  readonly #outputs: Uint8Array[] = [];
  cpace: CpaceParty | undefined;

  temp<T extends Uint8Array>(b: T): T {
    this.#temporaries.push(b);
    return b;
  }

  output<T extends Uint8Array>(b: T): T {
    this.#outputs.push(b);
    return b;
  }

  wipeTemporaries(): void {
    for (const b of this.#temporaries) b.fill(0);
    this.cpace?.wipe();
  }

  wipeAll(): void {
    this.wipeTemporaries();
    for (const b of this.#outputs) b.fill(0);
  }
}

async function runSender(opts: HandshakeOptions, s: Scratch): Promise<SessionKeys> {
  const offered = [...(opts.offerVersions ?? SUPPORTED_VERSIONS)];
  const usedCode = opts.password !== undefined;
  const context = opts.context ?? new Uint8Array(0);
  const kem = ml_kem1024.keygen();
  s.temp(kem.secretKey);
  const x = x25519Keypair();
  const sid = randomBytes(SID_BYTES);
  if (opts.password !== undefined) {
    s.cpace = cpaceInit({ prs: opts.password, ci: cpaceCi(context), sid, ad: AD_SENDER });
  }
  const msg1 = encode({
    versions: offered,
    mode: usedCode ? 'code' : 'identity',
    sid,
    mlkem: kem.publicKey,
    x25519: x.publicKey,
    ...(s.cpace === undefined ? {} : { cpace: s.cpace.Y }),
  });
  await writeMessage(opts, FrameType.Handshake, msg1);

  const msg2 = await readMessage(opts);
  const m2 = parseCbor(msg2, Msg2, 'msg2');
  if (!offered.includes(m2.version) || !SUPPORTED_VERSIONS.includes(m2.version)) {
    throw new HandshakeError(
      'VERSION',
      `the peer chose version ${m2.version}, which we did not offer`,
    );
  }
  if ((m2.cpace !== undefined) !== usedCode) {
    throw new HandshakeError('HANDSHAKE', 'msg2 does not match the handshake mode');
  }
  const ssKem = s.temp(ml_kem1024.decapsulate(m2.mlkem, kem.secretKey));
  const ssX = s.temp(x25519Shared(x.privateKey, m2.x25519));
  const isk = s.temp(
    s.cpace === undefined || m2.cpace === undefined
      ? new Uint8Array(CPACE_ISK_BYTES)
      : s.cpace.finish(m2.cpace, AD_RECEIVER, 'initiator').isk,
  );
  const transcriptHash = hashTranscript(context, msg1, msg2);
  const keys = keySchedule(s, transcriptHash, ssKem, ssX, isk);

  const msg3 = await readMessage(opts);
  const peerIdentity = openConfirmation(msg3, 'receiver', keys, transcriptHash, usedCode);
  checkExpectedPeer(opts, peerIdentity);
  const msg4 = sealConfirmation('sender', keys, transcriptHash, opts.identity);
  await writeMessage(opts, FrameType.Handshake, msg4);
  return sessionKeys('sender', m2.version, keys, peerIdentity, transcriptHash, usedCode);
}

async function runReceiver(opts: HandshakeOptions, s: Scratch): Promise<SessionKeys> {
  const usedCode = opts.password !== undefined;
  const context = opts.context ?? new Uint8Array(0);
  const msg1 = await readMessage(opts);
  const m1 = parseCbor(msg1, Msg1, 'msg1');
  const common = m1.versions.filter((v) => SUPPORTED_VERSIONS.includes(v));
  if (common.length === 0) {
    throw new HandshakeError(
      'VERSION',
      `no protocol version in common (peer offers ${m1.versions.join(', ')}; we support ${SUPPORTED_VERSIONS.join(', ')})`,
    );
  }
  const version = Math.max(...common);
  if (m1.mode === 'identity' && usedCode) {
    throw new HandshakeError(
      'HANDSHAKE',
      'the peer did not use the code phrase; refusing to downgrade to identity-only mode',
    );
  }
  if (m1.mode === 'code' && !usedCode) {
    throw new HandshakeError('HANDSHAKE', 'the peer expects a code phrase but none was given here');
  }
  if ((m1.cpace !== undefined) !== usedCode) {
    throw new HandshakeError('HANDSHAKE', 'msg1 does not match its mode');
  }

  const { cipherText, sharedSecret: ssKem } = ml_kem1024.encapsulate(m1.mlkem);
  s.temp(ssKem);
  const x = x25519Keypair();
  const ssX = s.temp(x25519Shared(x.privateKey, m1.x25519));
  let isk: Uint8Array = s.temp(new Uint8Array(CPACE_ISK_BYTES));
  let yb: Uint8Array | undefined;
  if (opts.password !== undefined && m1.cpace !== undefined) {
    s.cpace = cpaceInit({ prs: opts.password, ci: cpaceCi(context), sid: m1.sid, ad: AD_RECEIVER });
    yb = s.cpace.Y;
    isk = s.temp(s.cpace.finish(m1.cpace, AD_SENDER, 'responder').isk);
  }
  const msg2 = encode({
    version,
    mlkem: cipherText,
    x25519: x.publicKey,
    ...(yb === undefined ? {} : { cpace: yb }),
  });
  const transcriptHash = hashTranscript(context, msg1, msg2);
  const keys = keySchedule(s, transcriptHash, ssKem, ssX, isk);
  await writeMessage(opts, FrameType.Handshake, msg2);
  const msg3 = sealConfirmation('receiver', keys, transcriptHash, opts.identity);
  await writeMessage(opts, FrameType.Handshake, msg3);

  const msg4 = await readMessage(opts);
  const peerIdentity = openConfirmation(msg4, 'sender', keys, transcriptHash, usedCode);
  checkExpectedPeer(opts, peerIdentity);
  return sessionKeys('receiver', version, keys, peerIdentity, transcriptHash, usedCode);
}

function checkOptions(opts: HandshakeOptions): void {
  if (opts.role !== 'sender' && opts.role !== 'receiver') {
    throw new TypeError(`role must be 'sender' or 'receiver', got ${String(opts.role)}`);
  }
  const { publicKey, secretKey } = opts.identity;
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) {
    throw new TypeError('identity.publicKey must be 32 bytes');
  }
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== 32) {
    throw new TypeError('identity.secretKey must be 32 bytes');
  }
  if (!timingSafeEqual(publicKeyFromSecret(secretKey), publicKey)) {
    throw new TypeError('identity.publicKey does not belong to identity.secretKey');
  }
  if (
    opts.password !== undefined &&
    (!(opts.password instanceof Uint8Array) || opts.password.length === 0)
  ) {
    throw new TypeError('password must be a non-empty Uint8Array when given');
  }
  if (opts.context !== undefined && !(opts.context instanceof Uint8Array)) {
    throw new TypeError('context must be a Uint8Array');
  }
  if (
    opts.expectedPeer !== undefined &&
    (!(opts.expectedPeer instanceof Uint8Array) || opts.expectedPeer.length !== 32)
  ) {
    throw new TypeError('expectedPeer must be 32 bytes');
  }
  if (opts.offerVersions !== undefined && opts.offerVersions.length === 0) {
    throw new RangeError('offerVersions must not be empty');
  }
}

function cpaceCi(context: Uint8Array): Uint8Array {
  return lvCat(label('ferry v1'), AD_SENDER, AD_RECEIVER, context);
}

interface X25519Keypair {
  privateKey: KeyObject;
  publicKey: Uint8Array;
}

function x25519Keypair(): X25519Keypair {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return { privateKey, publicKey: Uint8Array.from(spki.subarray(X25519_SPKI_PREFIX.length)) };
}

function x25519Shared(privateKey: KeyObject, peer: Uint8Array): Uint8Array {
  let shared: Uint8Array;
  try {
    const publicKey = createPublicKey({
      key: Buffer.concat([X25519_SPKI_PREFIX, peer]),
      format: 'der',
      type: 'spki',
    });
    shared = diffieHellman({ privateKey, publicKey });
  } catch (err) {
    throw new HandshakeError('HANDSHAKE', 'the peer X25519 key is unusable', { cause: err });
  }
  // RFC 7748 §6.1: an all-zero output means a small-order peer key.
  if (shared.every((b) => b === 0)) {
    throw new HandshakeError('HANDSHAKE', 'the peer X25519 key has small order');
  }
  return shared;
}

function lengthPrefixed(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += 4 + p.length;
  const out = Buffer.alloc(n);
  let off = 0;
  for (const p of parts) {
    out.writeUInt32BE(p.length, off);
    out.set(p, off + 4);
    off += 4 + p.length;
  }
  return out;
}

function hashTranscript(context: Uint8Array, msg1: Uint8Array, msg2: Uint8Array): Uint8Array {
  return sha256(lengthPrefixed([TRANSCRIPT_LABEL, context, AD_SENDER, msg1, AD_RECEIVER, msg2]));
}

interface KeySchedule {
  dataS2R: Uint8Array;
  dataR2S: Uint8Array;
  controlS2R: Uint8Array;
  controlR2S: Uint8Array;
  hsS2R: Uint8Array;
  hsR2S: Uint8Array;
  confirmS2R: Uint8Array;
  confirmR2S: Uint8Array;
  sas: Uint8Array;
  resume: Uint8Array;
}

function keySchedule(
  s: Scratch,
  transcriptHash: Uint8Array,
  ssKem: Uint8Array,
  ssX: Uint8Array,
  isk: Uint8Array,
): KeySchedule {
  const ikm = s.temp(new Uint8Array(ssKem.length + ssX.length + isk.length));
  ikm.set(ssKem, 0);
  ikm.set(ssX, ssKem.length);
  ikm.set(isk, ssKem.length + ssX.length);
  const prk = s.temp(extract(sha256, ikm, transcriptHash));
  const out = (name: string, length = KEY_BYTES) =>
    s.output(expand(sha256, prk, label(`ferry v1 ${name}`), length));
  const temp = (name: string, length = KEY_BYTES) =>
    s.temp(expand(sha256, prk, label(`ferry v1 ${name}`), length));
  return {
    dataS2R: out('data s2r'),
    dataR2S: out('data r2s'),
    controlS2R: out('control s2r'),
    controlR2S: out('control r2s'),
    hsS2R: temp('hs s2r'),
    hsR2S: temp('hs r2s'),
    confirmS2R: temp('confirm s2r'),
    confirmR2S: temp('confirm r2s'),
    sas: temp('sas', SAS_BYTES),
    resume: out('resume'),
  };
}

function confirmInput(role: HandshakeRole, what: string, th: Uint8Array, id: Uint8Array) {
  const prefix = label(`ferry v1 ${role} ${what}`);
  const out = new Uint8Array(prefix.length + th.length + id.length);
  out.set(prefix, 0);
  out.set(th, prefix.length);
  out.set(id, prefix.length + th.length);
  return out;
}

function sealConfirmation(
  role: HandshakeRole,
  keys: KeySchedule,
  th: Uint8Array,
  identity: { publicKey: Uint8Array; secretKey: Uint8Array },
): Uint8Array {
  const hsKey = role === 'sender' ? keys.hsS2R : keys.hsR2S;
  const confirmKey = role === 'sender' ? keys.confirmS2R : keys.confirmR2S;
  const plain = encode({
    identity: Uint8Array.from(identity.publicKey),
    signature: sign(identity.secretKey, confirmInput(role, 'signature', th, identity.publicKey)),
    confirm: hmac(sha256, confirmKey, confirmInput(role, 'confirm', th, identity.publicKey)),
  });
  // Each handshake key encrypts exactly one message, so a fixed nonce is safe.
  const cipher = createCipheriv('aes-256-gcm', hsKey, ZERO_NONCE, { authTagLength: GCM_TAG_BYTES });
  cipher.setAAD(th);
  return Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
}

function keysDiffer(usedCode: boolean): HandshakeError {
  return usedCode
    ? new HandshakeError('WRONG_CODE', WRONG_CODE_MESSAGE)
    : new HandshakeError(
        'HANDSHAKE',
        'key confirmation failed: the two sides derived different keys (the stream was altered)',
      );
}

function openConfirmation(
  sealed: Uint8Array,
  peerRole: HandshakeRole,
  keys: KeySchedule,
  th: Uint8Array,
  usedCode: boolean,
): Uint8Array {
  const hsKey = peerRole === 'sender' ? keys.hsS2R : keys.hsR2S;
  const confirmKey = peerRole === 'sender' ? keys.confirmS2R : keys.confirmR2S;
  if (sealed.length < GCM_TAG_BYTES) throw keysDiffer(usedCode);
  let plain: Uint8Array;
  try {
    const decipher = createDecipheriv('aes-256-gcm', hsKey, ZERO_NONCE, {
      authTagLength: GCM_TAG_BYTES,
    });
    decipher.setAAD(th);
    decipher.setAuthTag(sealed.subarray(sealed.length - GCM_TAG_BYTES));
    plain = Buffer.concat([
      decipher.update(sealed.subarray(0, sealed.length - GCM_TAG_BYTES)),
      decipher.final(),
    ]);
  } catch {
    throw keysDiffer(usedCode);
  }
  const msg = parseCbor(plain, Confirmation, `msg${peerRole === 'sender' ? 4 : 3}`);
  const expectedTag = hmac(sha256, confirmKey, confirmInput(peerRole, 'confirm', th, msg.identity));
  if (!timingSafeEqual(expectedTag, msg.confirm)) throw keysDiffer(usedCode);
  if (!verify(msg.identity, confirmInput(peerRole, 'signature', th, msg.identity), msg.signature)) {
    throw new HandshakeError('HANDSHAKE', 'the peer signature over the transcript did not verify');
  }
  return Uint8Array.from(msg.identity);
}

function checkExpectedPeer(opts: HandshakeOptions, peer: Uint8Array): void {
  if (opts.expectedPeer !== undefined && !timingSafeEqual(opts.expectedPeer, peer)) {
    throw new HandshakeError(
      'PEER_MISMATCH',
      `the peer identity ${shortFingerprint(peer)} is not the expected ${shortFingerprint(opts.expectedPeer)}`,
    );
  }
}

function sasWords(sas: Uint8Array): string {
  let n = 0n;
  for (const b of sas) n = (n << 8n) | BigInt(b);
  const bits = BigInt(SAS_BYTES * 8);
  const words: string[] = [];
  for (let i = 1n; i <= 3n; i++) words.push(wordlist[Number((n >> (bits - 11n * i)) & 2047n)]!);
  return words.join('-');
}

function sessionKeys(
  role: HandshakeRole,
  version: number,
  k: KeySchedule,
  peerIdentity: Uint8Array,
  transcriptHash: Uint8Array,
  usedCode: boolean,
): SessionKeys {
  const sender = role === 'sender';
  return {
    version,
    role,
    sendData: sender ? k.dataS2R : k.dataR2S,
    recvData: sender ? k.dataR2S : k.dataS2R,
    sendControl: sender ? k.controlS2R : k.controlR2S,
    recvControl: sender ? k.controlR2S : k.controlS2R,
    sas: sasWords(k.sas),
    peerIdentity,
    peerFingerprint: fingerprint(peerIdentity),
    transcriptHash,
    resumeSecret: k.resume,
    suite: `ferry-v${version} ML-KEM-1024+X25519${usedCode ? '+CPace-ristretto255-SHA512' : ''} HKDF-SHA256 AES-256-GCM Ed25519`,
    usedCode,
  };
}

function parseCbor<T>(
  body: Uint8Array,
  schema: z.ZodType<T, z.ZodTypeDef, unknown>,
  what: string,
): T {
  const r = parseUntrusted(body, schema);
  if (!r.ok)
    throw new HandshakeError('HANDSHAKE', `${what} is malformed (${r.message})`, {
      cause: r.cause,
    });
  return r.value;
}

function abortError(signal: AbortSignal): FerryError {
  const reason: unknown = signal.reason;
  if (reason instanceof FerryError) return reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') {
    return new FerryError(ErrorCode.Timeout, 'the handshake timed out', { cause: reason });
  }
  return new FerryError(ErrorCode.Cancelled, 'the handshake was cancelled', { cause: reason });
}

function withAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(abortError(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Stream failures that are not FerryErrors become ConnectionErrors. */
function asConnectionError(err: unknown, doing: string): FerryError {
  if (err instanceof FerryError) return err;
  return new ConnectionError(`the stream failed while ${doing} during the handshake`, {
    cause: err,
  });
}

async function readMessage(opts: HandshakeOptions): Promise<Uint8Array> {
  let frame: Awaited<ReturnType<FrameReader['next']>>;
  try {
    frame = await withAbort(opts.reader.next(), opts.signal);
  } catch (err) {
    if (err instanceof FerryError && err.code === ErrorCode.Protocol) {
      throw new HandshakeError('HANDSHAKE', `bad frame during the handshake: ${err.message}`, {
        cause: err,
      });
    }
    throw asConnectionError(err, 'reading');
  }
  if (frame === null) throw new ConnectionError('the peer closed the stream during the handshake');
  if (frame.type === FrameType.Alert) throw alertError(frame.body);
  if (frame.type !== FrameType.Handshake) {
    throw new HandshakeError(
      'HANDSHAKE',
      `unexpected frame type ${frame.type} during the handshake`,
    );
  }
  return Uint8Array.from(frame.body);
}

async function writeMessage(opts: HandshakeOptions, type: FrameType, body: Uint8Array) {
  try {
    await withAbort(opts.writer.write(type, body), opts.signal);
  } catch (err) {
    throw asConnectionError(err, 'writing');
  }
}

function isHandshakeCode(code: string): code is HandshakeCode {
  return (HANDSHAKE_CODES as readonly string[]).includes(code);
}

function alertError(body: Uint8Array): HandshakeError {
  let error: HandshakeError;
  try {
    const alert = Alert.parse(decode(body, { useMaps: false }));
    const code = isHandshakeCode(alert.code) ? alert.code : 'HANDSHAKE';
    const text = alert.message.replace(/[^\x20-\x7e]/g, '?').slice(0, ALERT_MESSAGE_MAX);
    error =
      code === 'WRONG_CODE'
        ? new HandshakeError(code, WRONG_CODE_MESSAGE)
        : new HandshakeError(code, `the peer ended the handshake (${alert.code}): ${text}`);
  } catch (err) {
    error = new HandshakeError('HANDSHAKE', 'the peer sent a malformed alert', { cause: err });
  }
  fromPeer.add(error);
  return error;
}

async function sendAlert(opts: HandshakeOptions, error: HandshakeError): Promise<void> {
  if (opts.signal?.aborted) return;
  try {
    const body = encode({ code: error.code, message: error.message.slice(0, ALERT_MESSAGE_MAX) });
    await withAbort(opts.writer.write(FrameType.Alert, body), opts.signal);
  } catch {
    // Best effort: the stream may already be gone, and the local error is what matters.
  }
}

function toHandshakeFailure(err: unknown): FerryError {
  if (err instanceof FerryError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new HandshakeError('HANDSHAKE', `handshake failed: ${message}`, { cause: err });
}
