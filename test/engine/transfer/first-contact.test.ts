/**
 * Identity-mode transfers (no code): the sender's user must confirm the
 * verification words before any data leaves, device names travel inside
 * the encrypted session and are cleaned for display.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { PeerFacts } from '../../../src/engine/transfer/types.js';
import {
  cleanup,
  listFiles,
  makeFile,
  outcome,
  settle,
  sha,
  startPair,
  tempDir,
} from './harness.js';

const dirs: string[] = [];
afterEach(async () => cleanup(...dirs.splice(0)));

async function setup() {
  const src = await tempDir();
  const dst = await tempDir();
  dirs.push(src, dst);
  const file = await makeFile(src, 'a.bin', 300_000);
  return { src, dst, file };
}

describe('first contact without a code', () => {
  it('sends nothing until the sender confirms the words, then completes; names are exchanged', async () => {
    const { dst, file } = await setup();
    let confirm!: (ok: boolean) => void;
    let asked: PeerFacts | undefined;
    let receiverSas = '';
    const pair = startPair({
      paths: [file],
      targetDir: dst,
      send: {
        deviceName: 'alice\u202Elaptop',
        confirmPeer: (peer) => {
          asked = peer;
          return new Promise<boolean>((r) => {
            confirm = r;
          });
        },
      },
      receive: {
        deviceName: 'bob-desktop',
        decide: (offer) => {
          receiverSas = offer.peer.sas;
          expect(offer.peerName).toBe('alicelaptop');
          return { accept: true };
        },
      },
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(asked?.sas).toBe(receiverSas);
    expect(pair.receiverEvents.filter((e) => e.type === 'progress')).toEqual([]);
    expect(pair.receiver.snapshot().bytesDone).toBe(0);
    expect(pair.receiverEvents).toContainEqual({ type: 'paused', by: 'peer' });
    confirm(true);
    const [s, r] = await Promise.all([pair.sender.done, pair.receiver.done]);
    expect(s.peerName).toBe('bob-desktop');
    expect(r.peerName).toBe('alicelaptop');
    expect(await sha(`${dst}/a.bin`)).toBe(await sha(file));
    await settle(pair);
  });

  it('a sender that does not confirm cancels, and nothing lands', async () => {
    const { dst, file } = await setup();
    const pair = startPair({
      paths: [file],
      targetDir: dst,
      send: { confirmPeer: () => false },
      receive: { decide: () => ({ accept: true }) },
    });
    const [s, r] = await Promise.all([outcome(pair.sender.done), outcome(pair.receiver.done)]);
    expect(s).toMatchObject({ ok: false, error: { code: 'CANCELLED' } });
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.error.message).toMatch(/did not confirm the verification words/);
    await settle(pair);
    expect((await listFiles(dst)).filter((f) => !f.endsWith('.part'))).toEqual([]);
  });

  it('both sides hold the same resume secret after the handshake, and none before', async () => {
    const { dst, file } = await setup();
    const pair = startPair({
      paths: [file],
      targetDir: dst,
      receive: { decide: () => ({ accept: true }) },
    });
    expect(pair.sender.resumeSecret).toBeNull();
    await Promise.all([pair.sender.done, pair.receiver.done]);
    const a = pair.sender.resumeSecret;
    const b = pair.receiver.resumeSecret;
    expect(a).toHaveLength(32);
    expect(Buffer.from(a!).equals(Buffer.from(b!))).toBe(true);
    a!.fill(0); // a copy: the transfer's own is untouched
    expect(Buffer.from(pair.sender.resumeSecret!).equals(Buffer.from(b!))).toBe(true);
    await settle(pair);
  });
});
