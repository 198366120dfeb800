import { describe, expect, it } from 'vitest';
import { resumeRendezvous } from '../../../src/engine/crypto/resume.js';

describe('resumeRendezvous', () => {
  it('is deterministic, 32-byte room and password, 16-hex LAN hint, all distinct', () => {
    const s = new Uint8Array(32).fill(7);
    const a = resumeRendezvous(s);
    const b = resumeRendezvous(Uint8Array.from(s));
    expect(a).toEqual(b);
    expect(a.room).toHaveLength(32);
    expect(a.password).toHaveLength(32);
    expect(a.lanHint).toMatch(/^[0-9a-f]{16}$/);
    expect(Buffer.from(a.room).equals(Buffer.from(a.password))).toBe(false);
    expect(Buffer.from(a.room).toString('hex').startsWith(a.lanHint)).toBe(false);
  });

  it('differs for another secret and refuses a short one', () => {
    const a = resumeRendezvous(new Uint8Array(32).fill(1));
    const b = resumeRendezvous(new Uint8Array(32).fill(2));
    expect(Buffer.from(a.room).equals(Buffer.from(b.room))).toBe(false);
    expect(a.lanHint).not.toBe(b.lanHint);
    expect(() => resumeRendezvous(new Uint8Array(16))).toThrow(/32 bytes/);
  });
});
