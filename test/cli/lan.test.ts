/** dialDevice: QUIC first, TCP+TLS fallback, pinned key enforced; real sockets on loopback. */
import { afterEach, describe, expect, it } from 'vitest';
import { dialDevice, interfaceAddress } from '../../src/cli/lan.js';
import { DirectListener } from '../../src/cli/paths.js';
import type { PeerEntry } from '../../src/discovery/peer-table.js';
import {
  fingerprint,
  generateIdentity,
  shortFingerprint,
} from '../../src/engine/crypto/identity.js';
import { onlyLoopback } from '../e2e/cli-process.js';

const listeners: DirectListener[] = [];
afterEach(async () => {
  for (const l of listeners.splice(0)) await l.close();
});

function entry(publicKey: Uint8Array, quicPort: number, tcpPort: number): PeerEntry {
  return {
    fingerprint: fingerprint(publicKey),
    publicKey,
    shortId: shortFingerprint(publicKey),
    name: 'bob',
    known: true,
    autoAccept: false,
    online: true,
    lastSeen: Date.now(),
    addresses: [{ address: '127.0.0.1', quicPort, tcpPort, lastSeen: Date.now() }],
  };
}

describe.skipIf(!onlyLoopback)(
  'dialDevice (needs the loopback-only test namespace for QUIC)',
  () => {
    const bob = generateIdentity();
    const alice = generateIdentity();

    it('uses QUIC when it answers, and TCP+TLS when QUIC does not', async () => {
      const l = await DirectListener.start(bob, '127.0.0.1', 0);
      listeners.push(l);
      l.handler = () => undefined;
      const signal = new AbortController().signal;
      const q = await dialDevice(
        entry(bob.publicKey, l.quicPort, l.tcpPort),
        alice,
        bob.publicKey,
        signal,
      );
      expect(q.info.transport).toBe('quic');
      await q.close();
      // A UDP port nobody serves: QUIC times out, TCP takes over.
      const t = await dialDevice(entry(bob.publicKey, 9, l.tcpPort), alice, bob.publicKey, signal);
      expect(t.info.transport).toBe('tcp');
      await t.close();
    }, 30_000);

    it('refuses, loudly, a device that does not hold the pinned key', async () => {
      const mallory = generateIdentity();
      const l = await DirectListener.start(mallory, '127.0.0.1', 0);
      listeners.push(l);
      l.handler = () => undefined;
      await expect(
        dialDevice(
          entry(bob.publicKey, l.quicPort, l.tcpPort),
          alice,
          bob.publicKey,
          new AbortController().signal,
        ),
      ).rejects.toMatchObject({
        code: 'PEER_MISMATCH',
        message: expect.stringMatching(/WARNING.*did not prove the key/),
      });
    }, 30_000);
  },
);

describe('interfaceAddress', () => {
  const ifaces = {
    lo: [{ address: '127.0.0.1', family: 'IPv4' }],
    eth0: [
      { address: 'fe80::1', family: 'IPv6' },
      { address: '192.168.1.20', family: 'IPv4' },
    ],
  } as unknown as ReturnType<typeof import('node:os').networkInterfaces>;

  it('takes an IPv4 address as is, and an interface name as its IPv4 address', () => {
    expect(interfaceAddress(undefined, ifaces)).toBeUndefined();
    expect(interfaceAddress('192.168.1.20', ifaces)).toBe('192.168.1.20');
    expect(interfaceAddress('eth0', ifaces)).toBe('192.168.1.20');
  });

  it('refuses anything else with the list of what there is', () => {
    expect(() => interfaceAddress('10.0.0.5', ifaces)).toThrow(/'10\.0\.0\.5'/);
    expect(() => interfaceAddress('wlan9', ifaces)).toThrow(
      /expected the IPv4 address or the name of an interface of this machine; it has lo \(127\.0\.0\.1\), eth0 \(192\.168\.1\.20\)/,
    );
  });
});
