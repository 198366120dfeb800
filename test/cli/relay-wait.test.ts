/**
 * A side waiting in a relay room waits until it is stopped: the relay
 * closes a room nobody joined within its lifetime (EXPIRED), and the sender
 * and receiver join again instead of failing (`ferry send` says it waits
 * until Ctrl+C).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitPeer, dialPeer } from '../../src/cli/paths.js';
import { generateIdentity } from '../../src/engine/crypto/identity.js';
import { createSelfSignedCert } from '../../src/engine/transport/tls-cert.js';
import { type RelayServer, startRelay } from '../../src/relay/server.js';

const TTL_MS = 150;
let relay: RelayServer;
const expired: unknown[] = [];

beforeAll(async () => {
  const cert = createSelfSignedCert(generateIdentity(), { commonName: 'ferry-relay' });
  relay = await startRelay({
    host: '127.0.0.1',
    port: 0,
    tls: { key: cert.keyPem.toString(), cert: cert.certPem },
    roomTtlMs: TTL_MS,
    log: (e) => {
      if ((e as { code?: string }).code === 'EXPIRED') expired.push(e);
    },
  });
});
afterAll(() => relay.close());

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('waiting in a relay room', () => {
  for (const first of ['sender', 'receiver'] as const) {
    it(`the ${first}, alone past the room's lifetime, joins again and meets its peer`, async () => {
      const room = crypto.getRandomValues(new Uint8Array(32));
      const relays = [{ transport: 'tcp' as const, host: '127.0.0.1', port: relay.port }];
      const ac = new AbortController();
      const base = { room, relays, signal: ac.signal };
      const before = expired.length;
      const start = (side: 'sender' | 'receiver') =>
        side === 'sender'
          ? awaitPeer({ ...base, identity: generateIdentity() })
          : dialPeer({ ...base, identity: generateIdentity() });
      const early = start(first);
      let failure: unknown;
      early.catch((err: unknown) => {
        failure = err;
      });
      // Wait until the relay expired the room at least twice.
      while (expired.length < before + 2 && failure === undefined) await wait(20);
      expect(failure).toBeUndefined();
      const late = start(first === 'sender' ? 'receiver' : 'sender');
      const [a, b] = await Promise.all([early, late]);
      expect(a.link).toBeDefined();
      expect(b.link).toBeDefined();
      ac.abort();
      await Promise.all([a.link.close(), b.link.close()]);
    }, 20_000);
  }
});
