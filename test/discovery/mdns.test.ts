/**
 * The real mDNS adapter, in process: every instance is bound to 127.0.0.1
 * on a random port (never the default options, which would announce on the
 * real LAN). Vitest runs in a loopback-only namespace (ADR 0004).
 */
import { createSocket } from 'node:dgram';
import { Bonjour } from 'bonjour-service';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeAdvert, nameplateHash } from '../../src/discovery/advert.js';
import { LanDiscovery } from '../../src/discovery/lan.js';
import { fingerprint, generateIdentity } from '../../src/engine/crypto/identity.js';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const d of open.splice(0)) await d.close();
});

const randomPort = () => 20_000 + Math.floor(Math.random() * 30_000);

async function device(port: number, name: string) {
  const id = generateIdentity();
  const warnings: string[] = [];
  const d = await LanDiscovery.start({
    publicKey: id.publicKey,
    name,
    interface: '127.0.0.1',
    port,
    queryIntervalMs: 500,
    onWarning: (m) => warnings.push(m),
  });
  open.push(d);
  return { d, id, fp: fingerprint(id.publicKey), warnings };
}

/** A raw multicast-dns socket to forge packets with. */
function forger(port: number) {
  const b = new Bonjour({
    port,
    bind: '0.0.0.0',
    interface: '127.0.0.1',
    reuseAddr: true,
  } as never);
  const mdns = (b as unknown as { server: { mdns: { respond(r: unknown, cb: () => void): void } } })
    .server.mdns;
  open.push({ close: () => new Promise<void>((r) => b.destroy(() => r())) });
  return (answers: unknown[]) => new Promise<void>((r) => mdns.respond({ answers }, () => r()));
}

describe('LAN discovery over real mDNS on loopback', () => {
  it('two devices find each other, with ports, address from the packet, and the nameplate hint', async () => {
    const port = randomPort();
    const a = await device(port, 'alice');
    const b = await device(port, 'bob');
    await a.d.announce({ quicPort: 41000, tcpPort: 41001 });
    const seen = await b.d.waitFor((t) => t.get(a.fp)?.online || undefined, 5000);
    expect(seen).toBe(true);
    expect(b.d.table.get(a.fp)).toMatchObject({
      name: 'alice',
      known: false,
      addresses: [{ address: '127.0.0.1', quicPort: 41000, tcpPort: 41001 }],
    });
    // Own announcements are not sightings.
    expect(a.d.table.get(a.fp)).toBeUndefined();

    const hash = nameplateHash('42');
    await a.d.announce({ quicPort: 41000, tcpPort: 41001, nameplateHash: hash });
    const senders = await b.d.waitFor((t) => {
      const s = t.withNameplate(hash);
      return s.length > 0 ? s : undefined;
    }, 5000);
    expect(senders?.map((p) => p.fingerprint)).toEqual([a.fp]);
  });

  it('a second device with the same name gets a suffix', async () => {
    const port = randomPort();
    const a = await device(port, 'twin');
    const b = await device(port, 'twin');
    expect(await a.d.announce({ quicPort: 1 })).toBe('twin');
    expect(await b.d.announce({ quicPort: 2 })).toBe('twin (2)');
    const c = await device(port, 'watcher');
    const both = await c.d.waitFor(
      (t) => (t.list().filter((p) => p.online).length === 2 ? t.list() : undefined),
      5000,
    );
    expect(both?.map((p) => p.name)).toEqual(['twin', 'twin']); // TXT carries the device name
  });

  it('a goodbye takes a closed device offline at once', async () => {
    const port = randomPort();
    const a = await device(port, 'leaver');
    const b = await device(port, 'stayer');
    await a.d.announce({ quicPort: 5 });
    expect(await b.d.waitFor((t) => t.get(a.fp)?.online || undefined, 5000)).toBe(true);
    await a.d.close();
    const gone = await b.d.waitFor((t) => (t.get(a.fp)?.online === false ? true : undefined), 2000);
    expect(gone).toBe(true);
  });

  it('survives garbage and forged records, and keeps working', async () => {
    const port = randomPort();
    const a = await device(port, 'target');
    const b = await device(port, 'listener');
    await a.d.announce({ quicPort: 7 });
    expect(await b.d.waitFor((t) => t.get(a.fp)?.online || undefined, 5000)).toBe(true);

    // Raw garbage datagrams.
    const sock = createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    sock.setMulticastInterface('127.0.0.1');
    for (const bytes of [Buffer.alloc(0), Buffer.from('hello'), Buffer.alloc(600, 0xff)]) {
      await new Promise<void>((r) => sock.send(bytes, port, '224.0.0.251', () => r()));
    }
    sock.close();

    // Well-formed DNS with hostile contents.
    const forge = forger(port);
    const mallory = generateIdentity();
    const good = encodeAdvert({ version: 1, publicKey: mallory.publicKey, name: 'x' });
    const victimTxt = encodeAdvert({ version: 1, publicKey: a.id.publicKey, name: 'target' });
    const raw = (o: Record<string, string>) =>
      Object.entries(o).map(([k, v]) => Buffer.from(`${k}=${v}`));
    await forge([
      { name: '_ferry._udp.local', type: 'PTR', ttl: 120, data: 'evil._ferry._udp.local' },
      // fingerprint of someone else with mallory's key
      { name: 'evil._ferry._udp.local', type: 'TXT', ttl: 120, data: raw({ ...good, fp: a.fp }) },
      { name: 'x._ferry._udp.local', type: 'TXT', ttl: 120, data: [Buffer.alloc(255, 0x3d)] },
      { name: 'y._ferry._udp.local', type: 'TXT', ttl: 120, data: Buffer.from('pk=zzz') },
      { name: '._ferry._udp.local', type: 'TXT', ttl: 120, data: raw(good) },
      { name: 'other._http._tcp.local', type: 'TXT', ttl: 120, data: raw(good) },
      // A goodbye for the victim's instance, but from the forger's socket.
      { name: '_ferry._udp.local', type: 'PTR', ttl: 0, data: 'somebody-else._ferry._udp.local' },
    ]);
    // The victim's key announced from another instance: an extra address candidate, nothing more.
    await forge([{ name: 'fake._ferry._udp.local', type: 'TXT', ttl: 120, data: raw(victimTxt) }]);
    await new Promise((r) => setTimeout(r, 300));

    expect(b.d.malformed).toBeGreaterThanOrEqual(3);
    expect(b.d.table.get(a.fp)?.online).toBe(true);
    expect(b.d.table.list().map((p) => p.fingerprint)).not.toContain(
      fingerprint(mallory.publicKey),
    );
    expect(b.warnings).toEqual([]);
    // Still alive: a newcomer is seen.
    const c = await device(port, 'late');
    await c.d.announce({ quicPort: 9 });
    expect(await b.d.waitFor((t) => t.get(c.fp)?.online || undefined, 5000)).toBe(true);
  });

  it('refuses a bad port with a clear error instead of crashing later', async () => {
    await expect(
      LanDiscovery.start({
        publicKey: generateIdentity().publicKey,
        name: 'x',
        interface: '127.0.0.1',
        port: 70000,
      }),
    ).rejects.toThrow(/port: expected 1\.\.65535/);
  });
});

describe('mDNS warnings', () => {
  it('says the same trouble once, not at every query', async () => {
    const warnings: string[] = [];
    // 10.255.255.1 is not an address of this machine: joining and sending fail.
    const d = await LanDiscovery.start({
      publicKey: generateIdentity().publicKey,
      name: 'lonely',
      interface: '10.255.255.1',
      port: randomPort(),
      queryIntervalMs: 50,
      onWarning: (m) => warnings.push(m),
    });
    open.push(d);
    await new Promise((r) => setTimeout(r, 400));
    expect(warnings.length).toBeGreaterThan(0);
    expect(new Set(warnings).size).toBe(warnings.length);
  });
});
