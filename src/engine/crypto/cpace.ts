/**
 * CPace, a balanced PAKE, over ristretto255 with SHA-512.
 *
 * Spec: draft-irtf-cfrg-cpace (the "CPaceRistretto255" / SHA-512 cipher
 * suite). Section numbers below refer to draft-irtf-cfrg-cpace-13; the test
 * vectors are its appendix B.3 (test/engine/crypto/vectors/cpace-ristretto255-sha512.json).
 *
 * What is implemented: `generator_string`, `calculate_generator` (SHA-512 of
 * the generator string, then the RFC 9496 §4.3.4 element derivation via
 * `ristretto255_hasher.deriveToCurve`), scalar sampling, `scalar_mult_vfy`
 * (rejects undecodable encodings and the identity), the ISK for
 * initiator-responder (`ISK_IR`) and symmetric (`ISK_SY`) modes, the optional
 * `sid_output` values, and the `prepend_len` / `lv_cat` / `o_cat` helpers.
 *
 * Caveats:
 * - The draft is not final; a later revision may change encodings. The vectors
 *   pin the revision we implement.
 * - Scalars become `bigint`s inside @noble/curves; those copies cannot be
 *   wiped. We wipe the byte form we hold (`CpaceParty.finish` / `wipe`).
 *   @noble/curves' scalar multiplication aims to be constant-time, but JS
 *   gives no hard guarantee.
 * - CPace alone authenticates nothing but knowledge of the password: the ISK
 *   must go through key confirmation before use (the handshake does this).
 * - The session id must be unique per session; the handshake's initiator
 *   picks 16 random bytes and sends them in its first message.
 */
import { randomBytes } from 'node:crypto';
import { ristretto255, ristretto255_hasher } from '@noble/curves/ed25519.js';
import { bytesToNumberLE, numberToBytesLE } from '@noble/curves/utils.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { HandshakeError } from '../errors.js';

const Point = ristretto255.Point;
const ORDER = Point.Fn.ORDER;
const encoder = new TextEncoder();

/** Domain separation identifier of the suite: "CPaceRistretto255" (draft §7.2). */
export const CPACE_DSI: Uint8Array = encoder.encode('CPaceRistretto255');
/** SHA-512 input block size in bytes (`H.s_in_bytes`). */
export const CPACE_HASH_BLOCK_BYTES = 128;
/** Length of an encoded ristretto255 element and of a scalar. */
export const CPACE_ELEMENT_BYTES = 32;
/** Length of the ISK (SHA-512 output). */
export const CPACE_ISK_BYTES = 64;

/** `prepend_len(data)`: LEB128 length of `data`, then `data` (draft §A.1.2). */
export function prependLen(data: Uint8Array): Uint8Array {
  const len: number[] = [];
  let n = data.length;
  for (;;) {
    if (n < 128) {
      len.push(n);
      break;
    }
    len.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  const out = new Uint8Array(len.length + data.length);
  out.set(len, 0);
  out.set(data, len.length);
  return out;
}

/** `lv_cat(a0, a1, …)`: concatenation of `prepend_len` of each argument (draft §A.1.3). */
export function lvCat(...parts: Uint8Array[]): Uint8Array {
  return concat(parts.map(prependLen));
}

/**
 * `lexiographically_larger(a, b)`: true if the first differing byte is larger
 * in `a`, or `a` is longer with `b` as its prefix (draft §A.1.5).
 */
export function lexicographicallyLarger(a: Uint8Array, b: Uint8Array): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i]! > b[i]!) return true;
    if (a[i]! < b[i]!) return false;
  }
  return a.length > b.length;
}

/** `o_cat(a, b)`: "oc" followed by the larger then the smaller argument (draft §A.1.5). */
export function oCat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const oc = encoder.encode('oc');
  return lexicographicallyLarger(a, b) ? concat([oc, a, b]) : concat([oc, b, a]);
}

/**
 * `generator_string(DSI, PRS, CI, sid, s_in_bytes)` (draft §7.1): the PRS is
 * zero-padded so that DSI and PRS fill the first hash block.
 */
export function generatorString(
  dsi: Uint8Array,
  prs: Uint8Array,
  ci: Uint8Array,
  sid: Uint8Array,
  sInBytes: number = CPACE_HASH_BLOCK_BYTES,
): Uint8Array {
  const zpadLen = Math.max(0, sInBytes - 1 - prependLen(prs).length - prependLen(dsi).length);
  return lvCat(dsi, prs, new Uint8Array(zpadLen), ci, sid);
}

/**
 * `calculate_generator(H, PRS, CI, sid)` for ristretto255 (draft §7.2): the
 * 64-byte SHA-512 of the generator string mapped with RFC 9496 element
 * derivation. Returns the encoded generator `g`.
 */
export function calculateGenerator(prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): Uint8Array {
  const gen = generatorString(CPACE_DSI, prs, ci, sid);
  const hash = sha512(gen);
  gen.fill(0);
  const g = ristretto255_hasher.deriveToCurve!(hash).toBytes();
  hash.fill(0);
  return g;
}

/** `sample_scalar()`: a uniform non-zero scalar, 32 bytes little-endian. */
export function sampleScalar(): Uint8Array {
  for (;;) {
    // 64 random bytes reduced mod the group order: bias below 2^-250.
    const wide = randomBytes(64);
    const s = bytesToNumberLE(wide) % ORDER;
    wide.fill(0);
    if (s !== 0n) return numberToBytesLE(s, CPACE_ELEMENT_BYTES);
  }
}

function scalarFromBytes(scalar: Uint8Array): bigint {
  if (scalar.length !== CPACE_ELEMENT_BYTES) {
    throw new RangeError(`scalar must be ${CPACE_ELEMENT_BYTES} bytes, got ${scalar.length}`);
  }
  const s = bytesToNumberLE(scalar) % ORDER;
  if (s === 0n) throw new RangeError('scalar must not be zero mod the group order');
  return s;
}

/** `G.scalar_mult(y, g)`: the encoding of `y·g`, for a valid encoded point `g`. */
export function scalarMult(scalar: Uint8Array, point: Uint8Array): Uint8Array {
  return Point.fromBytes(point).multiply(scalarFromBytes(scalar)).toBytes();
}

/**
 * `G.scalar_mult_vfy(y, X)` (draft §7.2): the encoding of `y·X`, or `null`
 * when `X` is not a valid ristretto255 encoding or the result is the identity.
 */
export function scalarMultVfy(scalar: Uint8Array, point: Uint8Array): Uint8Array | null {
  const s = scalarFromBytes(scalar);
  let decoded: InstanceType<typeof Point>;
  try {
    decoded = Point.fromBytes(point);
  } catch {
    return null;
  }
  const k = decoded.multiply(s);
  if (k.is0()) return null;
  return k.toBytes();
}

/** `transcript_ir(Ya, ADa, Yb, ADb)` = `lv_cat(Ya, ADa) || lv_cat(Yb, ADb)` (draft §6.2). */
export function transcriptIr(ya: Uint8Array, ada: Uint8Array, yb: Uint8Array, adb: Uint8Array) {
  return concat([lvCat(ya, ada), lvCat(yb, adb)]);
}

/** `transcript_oc(Ya, ADa, Yb, ADb)` = `o_cat(lv_cat(Ya, ADa), lv_cat(Yb, ADb))` (draft §6.2). */
export function transcriptOc(ya: Uint8Array, ada: Uint8Array, yb: Uint8Array, adb: Uint8Array) {
  return oCat(lvCat(ya, ada), lvCat(yb, adb));
}

/** `ISK = H(lv_cat(DSI || "_ISK", sid, K) || transcript)` (draft §6.2). */
export function deriveIsk(sid: Uint8Array, k: Uint8Array, transcript: Uint8Array): Uint8Array {
  const prefix = lvCat(concat([CPACE_DSI, encoder.encode('_ISK')]), sid, k);
  const isk = sha512(concat([prefix, transcript]));
  prefix.fill(0);
  return isk;
}

/** `sid_output = H("CPaceSidOutput" || transcript)` (draft §6.3, optional). */
export function sidOutput(transcript: Uint8Array): Uint8Array {
  return sha512(concat([encoder.encode('CPaceSidOutput'), transcript]));
}

/** How a party combines the two CPace messages into the ISK. */
export type CpaceRole = 'initiator' | 'responder' | 'symmetric';

/** Inputs of one CPace party. None of the arrays is mutated or retained. */
export interface CpaceInput {
  /** Password-related string (the shared secret). */
  prs: Uint8Array;
  /** Channel identifier (e.g. party names, room id); both sides must agree. */
  ci: Uint8Array;
  /** Session id; unique per session, both sides must agree. */
  sid: Uint8Array;
  /** This party's associated data (ADa or ADb), sent in clear alongside Y. */
  ad: Uint8Array;
  /** Secret scalar (32 bytes LE) for tests; random when absent. Copied. */
  scalar?: Uint8Array;
}

/** Result of `finish`: the ISK and the optional sid output. */
export interface CpaceResult {
  /** Intermediate session key, 64 bytes. */
  isk: Uint8Array;
  /** `sid_output_ir` or `sid_output_oc`, 64 bytes. */
  sidOutput: Uint8Array;
}

/** One party's CPace state: send `Y` (with `ad`), then `finish` with the peer's. */
export interface CpaceParty {
  /** This party's public share `Y = y·g`, 32 bytes. */
  readonly Y: Uint8Array;
  /**
   * Combine with the peer's share. `role` says which side of the transcript
   * we are on: `initiator` (we are A), `responder` (we are B) or `symmetric`.
   * Throws HandshakeError HANDSHAKE if `peerY` is invalid or yields the
   * identity. Single use: the scalar is wiped afterwards.
   */
  finish(peerY: Uint8Array, peerAd: Uint8Array, role: CpaceRole): CpaceResult;
  /** Wipe the secret scalar without finishing (error paths). */
  wipe(): void;
}

/** Start CPace: derive the generator and this party's share. */
export function cpaceInit(input: CpaceInput): CpaceParty {
  const y = input.scalar === undefined ? sampleScalar() : Uint8Array.from(input.scalar);
  const sid = Uint8Array.from(input.sid);
  const ad = Uint8Array.from(input.ad);
  let Y: Uint8Array;
  try {
    const g = calculateGenerator(input.prs, input.ci, sid);
    Y = scalarMult(y, g);
  } catch (err) {
    y.fill(0);
    throw err;
  }
  let used = false;
  return {
    Y,
    finish(peerY, peerAd, role) {
      if (used) throw new Error('CPace party already finished');
      used = true;
      try {
        const k = scalarMultVfy(y, peerY);
        if (k === null) {
          throw new HandshakeError('HANDSHAKE', 'CPace: peer share is invalid or the identity');
        }
        const [ya, ada, yb, adb] =
          role === 'responder' ? [peerY, peerAd, Y, ad] : [Y, ad, peerY, peerAd];
        const transcript =
          role === 'symmetric' ? transcriptOc(ya, ada, yb, adb) : transcriptIr(ya, ada, yb, adb);
        const isk = deriveIsk(sid, k, transcript);
        k.fill(0);
        return { isk, sidOutput: sidOutput(transcript) };
      } finally {
        y.fill(0);
      }
    },
    wipe() {
      used = true;
      y.fill(0);
    },
  };
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
