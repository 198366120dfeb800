import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeAdvert,
  encodeAdvert,
  MAX_MORE_CODE_OFFERS,
  MAX_NAME_BYTES,
  nameplateHash,
  truncateUtf8,
} from '../../src/discovery/advert.js';
import { fingerprint, generateIdentity } from '../../src/engine/crypto/identity.js';

const toRaw = (txt: Record<string, string>) =>
  Object.entries(txt).map(([k, v]) => Buffer.from(`${k}=${v}`));

describe('discovery advert (TXT)', () => {
  const id = generateIdentity();

  it('round-trips every field and keeps every TXT string under 255 bytes', () => {
    const txt = encodeAdvert({
      version: 1,
      publicKey: id.publicKey,
      name: 'alice-laptop',
      quicPort: 40001,
      tcpPort: 40002,
      nameplateHash: nameplateHash('7'),
      codeQuicPort: 40003,
      codeTcpPort: 40004,
    });
    for (const s of toRaw(txt)) expect(s.length).toBeLessThanOrEqual(255);
    const a = decodeAdvert(toRaw(txt));
    expect(a).toMatchObject({
      version: 1,
      fingerprint: fingerprint(id.publicKey),
      name: 'alice-laptop',
      quicPort: 40001,
      tcpPort: 40002,
      nameplateHash: nameplateHash('7'),
      codeQuicPort: 40003,
      codeTcpPort: 40004,
    });
    expect(Buffer.from(a!.publicKey).equals(Buffer.from(id.publicKey))).toBe(true);
  });

  it('carries up to MAX_MORE_CODE_OFFERS further code sends in one TXT string; a bad list is dropped alone', () => {
    const more = Array.from({ length: MAX_MORE_CODE_OFFERS + 2 }, (_, i) => ({
      nameplateHash: nameplateHash(String(100 + i)),
      quicPort: 65_000 + i,
      tcpPort: 64_000 + i,
    }));
    const txt = encodeAdvert({
      version: 1,
      publicKey: id.publicKey,
      name: 'app',
      nameplateHash: nameplateHash('7'),
      codeQuicPort: 40003,
      codeTcpPort: 40004,
      moreCodeOffers: more,
    });
    for (const s of toRaw(txt)) expect(s.length).toBeLessThanOrEqual(255);
    const a = decodeAdvert(toRaw(txt));
    expect(a?.nameplateHash).toBe(nameplateHash('7'));
    expect(a?.moreCodeOffers).toEqual(more.slice(0, MAX_MORE_CODE_OFFERS));
    // One port is enough; malformed lists are ignored, the advert stands.
    const base = encodeAdvert({ version: 1, publicKey: id.publicKey, name: 'app' });
    const h = nameplateHash('9');
    expect(decodeAdvert(toRaw({ ...base, nx: `${h}::40001` }))?.moreCodeOffers).toEqual([
      { nameplateHash: h, tcpPort: 40001 },
    ]);
    for (const nx of [
      `${h}::`,
      `${h}:0:1`,
      `${h}:70000:1`,
      `${h.toUpperCase()}:1:1`,
      `${h}:1`,
      `${h}:1:1,`,
      Array.from({ length: MAX_MORE_CODE_OFFERS + 1 }, () => `${h}:1:1`).join(','),
    ]) {
      const d = decodeAdvert(toRaw({ ...base, nx }));
      expect(d?.name, nx).toBe('app');
      expect(d?.moreCodeOffers, nx).toBeUndefined();
    }
  });

  it('cuts long names on a character boundary and strips control and bidi characters', () => {
    const long = 'ü'.repeat(100);
    const txt = encodeAdvert({ version: 1, publicKey: id.publicKey, name: long });
    expect(Buffer.byteLength(txt['n']!)).toBeLessThanOrEqual(MAX_NAME_BYTES);
    expect(txt['n']).toBe('ü'.repeat(31));
    const evil = toRaw({ ...txt, n: 'bob\u202Egnp.exe\u0007' });
    expect(decodeAdvert(evil)?.name).toBe('bobgnp.exe');
    expect(truncateUtf8('a😀b', 4)).toBe('a');
  });

  it('rejects a fingerprint that does not match the key, and malformed fields', () => {
    const good = encodeAdvert({ version: 1, publicKey: id.publicKey, name: 'x', quicPort: 9 });
    const other = generateIdentity();
    expect(decodeAdvert(toRaw({ ...good, fp: fingerprint(other.publicKey) }))).toBeNull();
    expect(decodeAdvert(toRaw({ ...good, pk: 'short' }))).toBeNull();
    expect(decodeAdvert(toRaw({ ...good, q: '70000' }))).toBeNull();
    expect(decodeAdvert(toRaw({ ...good, q: '-1' }))).toBeNull();
    expect(decodeAdvert(toRaw({ ...good, v: 'x' }))).toBeNull();
    expect(decodeAdvert(toRaw({ ...good, np: 'nothex' }))).toBeNull();
    expect(decodeAdvert(toRaw({ ...good, cq: '65536' }))).toBeNull();
    expect(decodeAdvert(toRaw({ ...good, ct: 'x' }))).toBeNull();
    const { pk: _, ...noKey } = good;
    expect(decodeAdvert(toRaw(noKey))).toBeNull();
    expect(decodeAdvert(null)).toBeNull();
    expect(decodeAdvert('pk=x')).toBeNull();
    expect(decodeAdvert([1, 2, 3])).toBeNull();
    expect(decodeAdvert([Buffer.alloc(300, 0x61)])).toBeNull();
  });

  it('the first occurrence of a key wins (RFC 6763 §6.4)', () => {
    const good = toRaw(encodeAdvert({ version: 1, publicKey: id.publicKey, name: 'first' }));
    expect(decodeAdvert([...good, Buffer.from('n=second')])?.name).toBe('first');
  });

  it('never throws on arbitrary TXT data', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 40 }), (parts) => {
        decodeAdvert(parts.map((p) => Buffer.from(p)));
      }),
      { numRuns: 300 },
    );
  });
});
