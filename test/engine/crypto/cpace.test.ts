/**
 * CPace ristretto255/SHA-512 against the vectors of draft-irtf-cfrg-cpace,
 * appendix B.3, in ./vectors/cpace-ristretto255-sha512.json (a copy of the
 * team's ../shared/vectors; keys are the draft's names, values hex).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CPACE_DSI,
  calculateGenerator,
  cpaceInit,
  deriveIsk,
  generatorString,
  lexicographicallyLarger,
  lvCat,
  oCat,
  prependLen,
  sampleScalar,
  scalarMult,
  scalarMultVfy,
  sidOutput,
  transcriptIr,
  transcriptOc,
} from '../../../src/engine/crypto/cpace.js';
import { HandshakeError } from '../../../src/engine/errors.js';

const VECTORS_URL = new URL('./vectors/cpace-ristretto255-sha512.json', import.meta.url);

function loadVectors(): unknown[] {
  let text: string;
  try {
    text = readFileSync(VECTORS_URL, 'utf8');
  } catch (err) {
    throw new Error(`CPace test vectors missing at ${VECTORS_URL.pathname}`, { cause: err });
  }
  const parsed: unknown = JSON.parse(text);
  if (!Array.isArray(parsed) || parsed.length !== 3) {
    throw new Error('CPace vector file must hold the 3 groups of draft appendix B.3');
  }
  return parsed;
}

const vectors = loadVectors();
const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex').toUpperCase();

function field(group: unknown, name: string): string {
  const v = (group as Record<string, unknown>)[name];
  if (typeof v !== 'string') throw new Error(`vector field '${name}' missing`);
  return v;
}

const gen = vectors[0];
const run = vectors[1];
const smv = vectors[2];

describe('CPace test vectors (draft-irtf-cfrg-cpace B.3)', () => {
  it('matches the DSI and ZPAD length', () => {
    expect(toHex(CPACE_DSI)).toBe(field(gen, 'DSI'));
    const prs = hex(field(gen, 'PRS'));
    const zpad = 128 - 1 - prependLen(prs).length - prependLen(CPACE_DSI).length;
    expect(zpad).toBe((gen as Record<string, unknown>)['ZPAD length']);
  });

  it('builds the generator string, its hash and the encoded generator', () => {
    const prs = hex(field(gen, 'PRS'));
    const ci = hex(field(gen, 'CI'));
    const sid = hex(field(gen, 'sid'));
    const gs = generatorString(CPACE_DSI, prs, ci, sid, 128);
    expect(toHex(gs)).toBe(field(gen, 'generator_string(G.DSI,PRS,CI,sid,H.s_in_bytes)'));
    expect(toHex(new Uint8Array(Buffer.from(sha512hex(gs), 'hex')))).toBe(
      field(gen, 'hash result'),
    );
    expect(toHex(calculateGenerator(prs, ci, sid))).toBe(field(gen, 'encoded generator g'));
  });

  it('computes Ya, Yb, K, ISK_IR, ISK_SY and the sid outputs', () => {
    const prs = hex(field(run, 'PRS'));
    const ci = hex(field(run, 'CI'));
    const sid = hex(field(run, 'sid'));
    const g = calculateGenerator(prs, ci, sid);
    expect(toHex(g)).toBe(field(run, 'g'));
    const ya = hex(field(run, 'ya'));
    const yb = hex(field(run, 'yb'));
    const ada = hex(field(run, 'ADa'));
    const adb = hex(field(run, 'ADb'));
    const Ya = scalarMult(ya, g);
    const Yb = scalarMult(yb, g);
    expect(toHex(Ya)).toBe(field(run, 'Ya'));
    expect(toHex(Yb)).toBe(field(run, 'Yb'));
    const K = scalarMultVfy(ya, Yb);
    expect(K && toHex(K)).toBe(field(run, 'K'));
    expect(toHex(scalarMultVfy(yb, Ya)!)).toBe(field(run, 'K'));
    expect(toHex(deriveIsk(sid, K!, transcriptIr(Ya, ada, Yb, adb)))).toBe(field(run, 'ISK_IR'));
    expect(toHex(deriveIsk(sid, K!, transcriptOc(Ya, ada, Yb, adb)))).toBe(field(run, 'ISK_SY'));
    expect(toHex(sidOutput(transcriptIr(Ya, ada, Yb, adb)))).toBe(field(run, 'sid_output_ir'));
    expect(toHex(sidOutput(transcriptOc(Ya, ada, Yb, adb)))).toBe(field(run, 'sid_output_oc'));
  });

  it('gives the vector results through the cpaceInit API in every mode', () => {
    const common = {
      prs: hex(field(run, 'PRS')),
      ci: hex(field(run, 'CI')),
      sid: hex(field(run, 'sid')),
    };
    const a = () =>
      cpaceInit({ ...common, ad: hex(field(run, 'ADa')), scalar: hex(field(run, 'ya')) });
    const b = () =>
      cpaceInit({ ...common, ad: hex(field(run, 'ADb')), scalar: hex(field(run, 'yb')) });
    const A = a();
    const B = b();
    expect(toHex(A.Y)).toBe(field(run, 'Ya'));
    expect(toHex(B.Y)).toBe(field(run, 'Yb'));
    const ra = A.finish(B.Y, hex(field(run, 'ADb')), 'initiator');
    const rb = B.finish(A.Y, hex(field(run, 'ADa')), 'responder');
    expect(toHex(ra.isk)).toBe(field(run, 'ISK_IR'));
    expect(toHex(rb.isk)).toBe(field(run, 'ISK_IR'));
    expect(toHex(ra.sidOutput)).toBe(field(run, 'sid_output_ir'));
    const sa = a().finish(B.Y, hex(field(run, 'ADb')), 'symmetric');
    const sb = b().finish(A.Y, hex(field(run, 'ADa')), 'symmetric');
    expect(toHex(sa.isk)).toBe(field(run, 'ISK_SY'));
    expect(toHex(sb.isk)).toBe(field(run, 'ISK_SY'));
    expect(toHex(sb.sidOutput)).toBe(field(run, 'sid_output_oc'));
  });

  it('scalar_mult_vfy: valid point, and both invalid encodings rejected', () => {
    const valid = (smv as { Valid?: unknown }).Valid;
    const s = hex(field(valid, 's'));
    const X = hex(field(valid, 'X'));
    expect(toHex(scalarMult(s, X))).toBe(field(valid, 'G.scalar_mult(s,decode(X))'));
    expect(toHex(scalarMultVfy(s, X)!)).toBe(field(valid, 'G.scalar_mult_vfy(s,X)'));
    expect(scalarMultVfy(s, hex(field(smv, 'Invalid Y1')))).toBeNull();
    expect(scalarMultVfy(s, hex(field(smv, 'Invalid Y2')))).toBeNull();
  });

  it('finish throws HandshakeError for an invalid peer share', () => {
    const p = cpaceInit({
      prs: hex('01'),
      ci: new Uint8Array(0),
      sid: new Uint8Array(16),
      ad: new Uint8Array(0),
    });
    expect(() => p.finish(hex(field(smv, 'Invalid Y1')), new Uint8Array(0), 'initiator')).toThrow(
      HandshakeError,
    );
  });
});

function sha512hex(data: Uint8Array): string {
  // node:crypto as a second implementation of the draft's "hash result".
  return createHash('sha512').update(data).digest('hex');
}

describe('CPace helpers', () => {
  it('prepend_len uses LEB128', () => {
    expect(toHex(prependLen(new Uint8Array(0)))).toBe('00');
    expect(toHex(prependLen(new Uint8Array(127))).slice(0, 2)).toBe('7F');
    expect(toHex(prependLen(new Uint8Array(128))).slice(0, 4)).toBe('8001');
    expect(toHex(prependLen(new Uint8Array(300))).slice(0, 4)).toBe('AC02');
  });

  it('lv_cat and o_cat follow the draft', () => {
    expect(toHex(lvCat(hex('01'), hex('0203')))).toBe('0101020203');
    expect(toHex(oCat(hex('01'), hex('02')))).toBe('6F630201');
    expect(toHex(oCat(hex('02'), hex('01')))).toBe('6F630201');
    expect(lexicographicallyLarger(hex('0100'), hex('01'))).toBe(true);
    expect(lexicographicallyLarger(hex('01'), hex('0100'))).toBe(false);
  });

  it('samples non-zero 32-byte scalars that differ', () => {
    const a = sampleScalar();
    const b = sampleScalar();
    expect(a.length).toBe(32);
    expect(toHex(a)).not.toBe(toHex(b));
  });
});

describe('CPace round trip', () => {
  const ci = new TextEncoder().encode('ci');
  const sid = new Uint8Array(16).fill(7);
  const run2 = (pa: string, pb: string) => {
    const A = cpaceInit({ prs: new TextEncoder().encode(pa), ci, sid, ad: hex('aa') });
    const B = cpaceInit({ prs: new TextEncoder().encode(pb), ci, sid, ad: hex('bb') });
    return [
      A.finish(B.Y, hex('bb'), 'initiator').isk,
      B.finish(A.Y, hex('aa'), 'responder').isk,
    ] as const;
  };

  it('same password gives the same ISK', () => {
    const [a, b] = run2('apple-river-stone', 'apple-river-stone');
    expect(toHex(a)).toBe(toHex(b));
    expect(a.length).toBe(64);
  });

  it('a different password gives a different ISK', () => {
    const [a, b] = run2('apple-river-stone', 'apple-river-stoned');
    expect(toHex(a)).not.toBe(toHex(b));
  });

  it('does not mutate its inputs, and wipes its scalar after finish', () => {
    const prs = new TextEncoder().encode('pw');
    const scalar = hex(field(run, 'ya'));
    const ad = hex('aa');
    const sidIn = Uint8Array.from(sid);
    const copies = [prs, ci, sidIn, ad, scalar].map((b) => Uint8Array.from(b));
    const A = cpaceInit({ prs, ci, sid: sidIn, ad, scalar });
    const B = cpaceInit({ prs, ci, sid: sidIn, ad: hex('bb') });
    const peerY = Uint8Array.from(B.Y);
    const peerAd = hex('bb');
    A.finish(peerY, peerAd, 'initiator');
    expect([prs, ci, sidIn, ad, scalar].map(toHex)).toEqual(copies.map(toHex));
    expect(toHex(peerY)).toBe(toHex(B.Y));
    expect(() => A.finish(peerY, peerAd, 'initiator')).toThrow(/already finished/);
  });
});
