import { describe, expect, it } from 'vitest';
import { formatEndpoint, parseRelayAddress } from '../../src/cli/relay-client.js';

describe('relay addresses', () => {
  it('parse with and without a scheme, IPv6 brackets and a pinned key', () => {
    expect(parseRelayAddress('relay.example.org:9009')).toEqual({
      transport: 'tcp',
      host: 'relay.example.org',
      port: 9009,
    });
    expect(parseRelayAddress('quic://[::1]:9010')).toEqual({
      transport: 'quic',
      host: '::1',
      port: 9010,
    });
    expect(parseRelayAddress('tcp://10.0.0.5:9009#abcd-efgh-ijkl-mn23').pin).toBe(
      'ABCDEFGHIJKLMN23',
    );
    expect(parseRelayAddress(`r.example:9009#${'AB'.repeat(32)}`).pin).toBe('ab'.repeat(32));
    // The pin is not part of the printed address.
    expect(formatEndpoint(parseRelayAddress('quic://h:1#ABCD-EFGH-IJKL-MN23'))).toBe('quic://h:1');
  });

  it('refuse malformed addresses and pins with a clear message', () => {
    for (const bad of [
      'relay',
      'relay:0',
      'relay:70000',
      'udp://relay:9009',
      'relay:9009#',
      'relay:9009#ABCD-EFGH',
      'relay:9009#ABCD-EFGH-IJKL-MN01', // 0 and 1 are not base32 letters
      `relay:9009#${'g'.repeat(64)}`,
    ]) {
      expect(() => parseRelayAddress(bad), bad).toThrow(/relay address/);
    }
  });
});
