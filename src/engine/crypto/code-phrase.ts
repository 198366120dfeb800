/**
 * Code phrases: `<nameplate>-<word>-<word>-<word>`, e.g. `7-apple-river-stone`.
 *
 * The nameplate (a small decimal number) only picks the relay room. The three
 * words (BIP-39 English list, 2048 words, 33 bits) are the CPace password and
 * never leave this machine: the room id is derived from the nameplate alone,
 * so a relay that sees it learns nothing it could test a password guess
 * against. A guess can only be tested by running a handshake with the peer,
 * one guess per attempt.
 */
import { randomInt } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { wordlist } from '@scure/bip39/wordlists/english.js';
import { ErrorCode, FerryError } from '../errors.js';

/** Number of words after the nameplate. */
export const CODE_WORDS = 3;
/** Nameplates are generated in 1..MAX_GENERATED_NAMEPLATE. */
export const MAX_GENERATED_NAMEPLATE = 999;
/** Longest nameplate accepted when parsing (room for busier relays later). */
const MAX_NAMEPLATE_DIGITS = 6;
const ROOM_LABEL = new TextEncoder().encode('ferry relay room v1\0');
const WORD_INDEX: ReadonlyMap<string, number> = new Map(wordlist.map((w, i) => [w, i]));

/** A parsed, normalised code phrase. */
export interface ParsedCode {
  /** Canonical decimal nameplate (no leading zeros). */
  nameplate: string;
  /** The three words, lower case. */
  words: [string, string, string];
  /** CPace password: UTF-8 of the words joined by '-'. Excludes the nameplate. */
  password: Uint8Array;
}

/** A fresh random code phrase, e.g. `412-apple-river-stone`. */
export function generateCode(): string {
  const nameplate = randomInt(1, MAX_GENERATED_NAMEPLATE + 1);
  const words: string[] = [];
  for (let i = 0; i < CODE_WORDS; i++) words.push(wordlist[randomInt(wordlist.length)]!);
  return `${nameplate}-${words.join('-')}`;
}

function badCode(message: string): FerryError {
  return new FerryError(ErrorCode.BadCode, message);
}

/**
 * Parse a typed code phrase: case-insensitive, surrounding space trimmed,
 * '-' or whitespace as separators. Throws FerryError BAD_CODE naming the
 * problem (missing nameplate, wrong word count, unknown word with a
 * suggestion).
 */
export function parseCode(input: string): ParsedCode {
  const tokens = input
    .normalize('NFKC')
    .trim()
    .toLowerCase()
    .split(/[\s-]+/)
    .filter((t) => t.length > 0);
  const example = 'e.g. 7-apple-river-stone';
  const first = tokens[0];
  if (first === undefined) throw badCode(`the code is empty; it looks like ${example}`);
  if (!/^[0-9]+$/.test(first)) {
    throw badCode(`the code must start with the nameplate number (${example}); got '${first}'`);
  }
  const digits = first.replace(/^0+/, '');
  if (digits.length === 0 || digits.length > MAX_NAMEPLATE_DIGITS) {
    throw badCode(
      `the nameplate '${first}' must be a number from 1 to ${'9'.repeat(MAX_NAMEPLATE_DIGITS)}`,
    );
  }
  const rest = tokens.slice(1);
  if (rest.length !== CODE_WORDS) {
    throw badCode(
      `the code needs ${CODE_WORDS} words after the nameplate, got ${rest.length} (${example})`,
    );
  }
  for (const w of rest) {
    if (!WORD_INDEX.has(w)) {
      const hint = suggestWord(w);
      throw badCode(
        `'${w}' is not in the word list${hint === undefined ? '' : ` (did you mean '${hint}'?)`}`,
      );
    }
  }
  const words = rest as [string, string, string];
  return {
    nameplate: digits,
    words,
    password: new TextEncoder().encode(words.join('-')),
  };
}

/**
 * The relay room id for a nameplate: SHA-256 of a domain-separation label and
 * the canonical nameplate. Derived from the nameplate only, never the words.
 */
export function roomIdFromNameplate(nameplate: string): Uint8Array {
  if (!/^[1-9][0-9]*$/.test(nameplate) || nameplate.length > MAX_NAMEPLATE_DIGITS) {
    throw new RangeError(`nameplate must be a canonical decimal number, got '${nameplate}'`);
  }
  const np = new TextEncoder().encode(nameplate);
  const msg = new Uint8Array(ROOM_LABEL.length + np.length);
  msg.set(ROOM_LABEL, 0);
  msg.set(np, ROOM_LABEL.length);
  return sha256(msg);
}

/**
 * The closest word-list entry to a mistyped word: the smallest edit distance,
 * ties broken by the longest common prefix; `undefined` if nothing is close.
 */
export function suggestWord(typed: string): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  let bestPrefix = -1;
  for (const w of wordlist) {
    const d = editDistance(typed, w);
    const p = commonPrefix(typed, w);
    if (d < bestDistance || (d === bestDistance && p > bestPrefix)) {
      best = w;
      bestDistance = d;
      bestPrefix = p;
    }
  }
  // BIP-39 words are unique in their first four letters, so a matching
  // four-letter prefix is a confident suggestion even past the distance cap.
  return bestDistance <= Math.max(2, Math.floor(typed.length / 2)) || bestPrefix >= 4
    ? best
    : undefined;
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur.push(Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
