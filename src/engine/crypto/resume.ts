/**
 * Resuming a code session without the code. The original handshake gives
 * both sides a 32-byte resume secret (handshake.ts); from it each side
 * derives, independently and identically:
 *
 * - the relay room to meet in again (replaces the nameplate's room),
 * - the CPace password of the new handshake (replaces the code words; at
 *   256 bits it cannot be guessed even online),
 * - a LAN hint to announce by mDNS (replaces the nameplate hash).
 *
 * SHA-256 with distinct labels keeps the three unlinkable to each other and
 * to the secret. The new handshake also pins the peer's identity key from
 * the first one, so a resume is authenticated twice over.
 */
import { createHash } from 'node:crypto';

/** Everything two sides need to meet again. */
export interface ResumeRendezvous {
  /** Relay room id (32 bytes). */
  readonly room: Uint8Array;
  /** CPace password (32 bytes). */
  readonly password: Uint8Array;
  /** 16 hex digits announced on the LAN while waiting. */
  readonly lanHint: string;
}

const derive = (label: string, secret: Uint8Array) =>
  createHash('sha256').update(`ferry/1 resume ${label}\0`).update(secret).digest();

/** Derive the rendezvous of a resumed session from its resume secret. */
export function resumeRendezvous(secret: Uint8Array): ResumeRendezvous {
  if (secret.length !== 32) throw new RangeError('secret: expected 32 bytes');
  return {
    room: Uint8Array.from(derive('room', secret)),
    password: Uint8Array.from(derive('password', secret)),
    lanHint: derive('lan', secret).toString('hex').slice(0, 16),
  };
}

/**
 * What a session record keeps of its code: a labelled SHA-256 of the
 * canonical code, enough to recognise the same code typed again, not to
 * recover it (the resume secret next to it is the stronger secret anyway).
 */
export function sessionCodeHash(nameplate: string, password: Uint8Array): string {
  return createHash('sha256')
    .update('ferry/1 session-code\0')
    .update(nameplate)
    .update('\0')
    .update(password)
    .digest('hex');
}
