import { createHash } from 'node:crypto';
import { wordlist } from '@scure/bip39/wordlists/english.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  generateCode,
  parseCode,
  roomIdFromNameplate,
  suggestWord,
} from '../../../src/engine/crypto/code-phrase.js';
import { FerryError } from '../../../src/engine/errors.js';

function badCode(input: string): FerryError {
  try {
    parseCode(input);
  } catch (err) {
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).code).toBe('BAD_CODE');
    return err as FerryError;
  }
  throw new Error(`'${input}' parsed but should not have`);
}

describe('generateCode', () => {
  it('produces nameplate 1..999 and three list words that parse back', () => {
    for (let i = 0; i < 200; i++) {
      const code = generateCode();
      expect(code).toMatch(/^[1-9][0-9]{0,2}-[a-z]+-[a-z]+-[a-z]+$/);
      const parsed = parseCode(code);
      expect(`${parsed.nameplate}-${parsed.words.join('-')}`).toBe(code);
    }
  });

  it('is random', () => {
    const codes = new Set(Array.from({ length: 50 }, generateCode));
    expect(codes.size).toBeGreaterThan(45);
  });
});

describe('parseCode', () => {
  it('normalises case, whitespace and separators', () => {
    const a = parseCode('  7-Apple-River-Stone ');
    const b = parseCode('7 apple  river\tstone');
    const c = parseCode('007--APPLE - river stone');
    for (const p of [a, b, c]) {
      expect(p.nameplate).toBe('7');
      expect(p.words).toEqual(['apple', 'river', 'stone']);
      expect(new TextDecoder().decode(p.password)).toBe('apple-river-stone');
    }
  });

  it('keeps the nameplate out of the password', () => {
    expect(parseCode('7-apple-river-stone').password).toEqual(
      parseCode('8-apple-river-stone').password,
    );
  });

  it('names what is wrong', () => {
    expect(badCode('').message).toMatch(/empty/);
    expect(badCode('   ').message).toMatch(/empty/);
    expect(badCode('apple-river-stone').message).toMatch(/nameplate/);
    expect(badCode('0-apple-river-stone').message).toMatch(/nameplate/);
    expect(badCode('1234567-apple-river-stone').message).toMatch(/nameplate/);
    expect(badCode('7-apple-river').message).toMatch(/3 words .* got 2/);
    expect(badCode('7-apple-river-stone-wood').message).toMatch(/got 4/);
    expect(badCode('7').message).toMatch(/got 0/);
    expect(badCode('7-apple-rivr-stone').message).toBe(
      "'rivr' is not in the word list (did you mean 'river'?)",
    );
    expect(badCode('7-apple-river-xyzzyqqqq').message).toMatch(
      /'xyzzyqqqq' is not in the word list/,
    );
  });

  it('never throws anything but BAD_CODE on arbitrary input', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        try {
          parseCode(s);
        } catch (err) {
          return err instanceof FerryError && err.code === 'BAD_CODE';
        }
        return true;
      }),
    );
  });
});

describe('suggestWord', () => {
  it('suggests close words and stays quiet for far ones', () => {
    expect(suggestWord('abandn')).toBe('abandon');
    expect(suggestWord('zooo')).toBe('zoo');
    expect(suggestWord('qqqqqqqqqqqqqqq')).toBeUndefined();
  });
});

describe('roomIdFromNameplate', () => {
  it('is 32 bytes, deterministic, domain separated and depends on the nameplate only', () => {
    const a = roomIdFromNameplate('7');
    expect(a.length).toBe(32);
    expect(roomIdFromNameplate('7')).toEqual(a);
    expect(roomIdFromNameplate('8')).not.toEqual(a);
    // Not a bare hash of the nameplate, nor of the whole code.
    const bare = createHash('sha256').update('7').digest();
    expect(Buffer.from(a).equals(bare)).toBe(false);
    const whole = createHash('sha256').update('7-apple-river-stone').digest();
    expect(Buffer.from(a).equals(whole)).toBe(false);
    expect(roomIdFromNameplate(parseCode('007 apple river stone').nameplate)).toEqual(a);
  });

  it('rejects non-canonical nameplates', () => {
    for (const bad of ['', '0', '07', 'x', '7-apple', '1234567']) {
      expect(() => roomIdFromNameplate(bad)).toThrow(RangeError);
    }
  });

  it('uses the BIP-39 English list', () => {
    expect(wordlist.length).toBe(2048);
  });
});
