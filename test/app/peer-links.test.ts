import { describe, expect, it } from 'vitest';
import {
  cameBackOnNewPorts,
  type Listening,
  listeningOf,
  PeerLinks,
  sameListening,
} from '../../src/app/peer-links.js';
import type { PeerEntry } from '../../src/discovery/peer-table.js';
import type { ByteStream, Link } from '../../src/engine/transport/link.js';

function fakeLink() {
  const state = { closed: false, dead: false, streams: 0 };
  const link: Link = {
    info: { path: 'direct', transport: 'memory' },
    openStream: async () => {
      if (state.dead || state.closed) throw new Error('link is gone');
      state.streams++;
      return {} as ByteStream;
    },
    acceptStream: async () => null,
    close: async () => {
      state.closed = true;
    },
  };
  return { link, state };
}

const peer = (fp: string) => ({ fingerprint: fp }) as PeerEntry;
const key = new Uint8Array(32);
const signal = new AbortController().signal;

/** A PeerLinks whose dials make fake links, recorded in `made` in dial order. */
function recordingLinks(opts: { idleMs?: number } = {}) {
  const made: ReturnType<typeof fakeLink>[] = [];
  const links = new PeerLinks({
    ...opts,
    dial: async () => {
      const l = fakeLink();
      made.push(l);
      return l.link;
    },
  });
  return { links, made };
}

describe('PeerLinks', () => {
  it('dials once per peer and shares the link between streams', async () => {
    const { links, made } = recordingLinks();
    const [a, b] = await Promise.all([
      links.openStream(peer('p1'), key, signal),
      links.openStream(peer('p1'), key, signal),
    ]);
    await links.openStream(peer('p2'), key, signal);
    expect(links.dials).toBe(2);
    expect(made[0]!.state.streams).toBe(2);
    a.release();
    b.release();
    b.release(); // twice is harmless
    await links.close();
    expect(made.every((m) => m.state.closed)).toBe(true);
  });

  it('forget closes a link in use at once; the next stream dials a new one', async () => {
    const { links, made } = recordingLinks();
    const lease = await links.openStream(peer('p1'), key, signal);
    expect(links.forget('p1')).toBe(true);
    await new Promise((r) => setImmediate(r));
    expect(made[0]!.state.closed).toBe(true);
    expect(links.forget('p1')).toBe(false);
    await links.openStream(peer('p1'), key, signal);
    expect(links.dials).toBe(2);
    lease.release(); // the old lease's release leaves the new link alone
    expect(made[1]!.state.closed).toBe(false);
    await links.close();
  });

  it('closes a link once it has been idle, and dials a fresh one after', async () => {
    const { links, made } = recordingLinks({ idleMs: 20 });
    (await links.openStream(peer('p'), key, signal)).release();
    await new Promise((r) => setTimeout(r, 60));
    expect(made[0]!.state.closed).toBe(true);
    await links.openStream(peer('p'), key, signal);
    expect(links.dials).toBe(2);
    await links.close();
  });

  it('replaces a link that died, once; a dial failure is the caller’s error', async () => {
    const made: ReturnType<typeof fakeLink>[] = [];
    let failDial = false;
    const links = new PeerLinks({
      dial: async () => {
        if (failDial) throw new Error('unreachable');
        const l = fakeLink();
        made.push(l);
        return l.link;
      },
    });
    const first = await links.openStream(peer('p'), key, signal);
    made[0]!.state.dead = true;
    const second = await links.openStream(peer('p'), key, signal);
    expect(links.dials).toBe(2);
    expect(made[1]!.state.streams).toBe(1);
    first.release();
    second.release();
    await links.close();
    const other = new PeerLinks({
      dial: async () => {
        throw new Error('unreachable');
      },
    });
    failDial = true;
    await expect(other.openStream(peer('q'), key, signal)).rejects.toThrow('unreachable');
  });

  it('a cancelled caller stops waiting without failing the shared dial', async () => {
    let finish!: (l: Link) => void;
    const links = new PeerLinks({
      dial: () =>
        new Promise<Link>((r) => {
          finish = r;
        }),
    });
    const ac = new AbortController();
    const cancelled = links.openStream(peer('p'), key, ac.signal);
    const patient = links.openStream(peer('p'), key, signal);
    ac.abort(new Error('user cancelled'));
    await expect(cancelled).rejects.toThrow('user cancelled');
    finish(fakeLink().link);
    await expect(patient).resolves.toMatchObject({ info: { transport: 'memory' } });
    await links.openStream(peer('p'), key, signal);
    expect(links.dials).toBe(1);
    await links.close();
  });
});

describe('cameBackOnNewPorts', () => {
  /** `address:quic:tcp` entries, as a device's addresses and ports. */
  const at = (...entries: string[]): Listening =>
    new Map(
      entries.map((e) => {
        const [address, quic, tcp] = e.split('|') as [string, string, string];
        return [address, `${quic}:${tcp}`];
      }),
    );

  it('is true only when an address the device still has listens on other ports', () => {
    expect(cameBackOnNewPorts(at('10.0.0.2|5000|5001'), at('10.0.0.2|6000|6001'))).toBe(true);
    expect(cameBackOnNewPorts(at('10.0.0.2|5000|5001'), at('10.0.0.2|5000|5001'))).toBe(false);
    // A new address, or one gone, is not a restart.
    expect(
      cameBackOnNewPorts(at('10.0.0.2|5000|5001'), at('10.0.0.2|5000|5001', '10.0.0.3|5000|5001')),
    ).toBe(false);
    expect(
      cameBackOnNewPorts(at('10.0.0.2|5000|5001', '10.0.0.3|5000|5001'), at('10.0.0.3|5000|5001')),
    ).toBe(false);
    expect(cameBackOnNewPorts(at('10.0.0.2|5000|5001'), at('10.0.0.9|7000|7001'))).toBe(false);
    expect(cameBackOnNewPorts(at('fe80::1|5000|5001'), at('fe80::1|5000|5002'))).toBe(true);
  });

  it('listeningOf and sameListening compare addresses and ports, in any order', () => {
    const ports = (...addrs: [string, number, number][]) =>
      listeningOf({
        addresses: addrs.map(([address, quicPort, tcpPort]) => ({
          address,
          quicPort,
          tcpPort,
          lastSeen: 0,
        })),
      } as unknown as PeerEntry);
    const a = ports(['10.0.0.2', 1, 2], ['10.0.0.3', 1, 2]);
    expect(sameListening(a, ports(['10.0.0.3', 1, 2], ['10.0.0.2', 1, 2]))).toBe(true);
    expect(sameListening(a, ports(['10.0.0.2', 1, 2]))).toBe(false);
    expect(sameListening(a, ports(['10.0.0.2', 1, 3], ['10.0.0.3', 1, 2]))).toBe(false);
  });
});
