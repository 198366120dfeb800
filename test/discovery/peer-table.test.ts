import { describe, expect, it } from 'vitest';
import { type Advert, decodeAdvert, encodeAdvert } from '../../src/discovery/advert.js';
import { type KnownPeerInfo, PeerTable } from '../../src/discovery/peer-table.js';
import { generateIdentity, type Identity } from '../../src/engine/crypto/identity.js';

function advert(id: Identity, name: string, extra: Partial<Advert> = {}): Advert {
  const txt = encodeAdvert({
    version: 1,
    publicKey: id.publicKey,
    name,
    quicPort: 5000,
    tcpPort: 5001,
    ...extra,
  });
  return decodeAdvert(Object.entries(txt).map(([k, v]) => Buffer.from(`${k}=${v}`)))!;
}

function known(id: Identity, nickname: string, deviceName?: string): KnownPeerInfo {
  const a = advert(id, nickname);
  return {
    fingerprint: a.fingerprint,
    publicKey: Buffer.from(id.publicKey).toString('hex'),
    nickname,
    ...(deviceName ? { deviceName } : {}),
    autoAccept: false,
  };
}

function setup() {
  let t = 1_000_000;
  const clock = { now: () => t, advance: (ms: number) => (t += ms) };
  const table = new PeerTable({ now: clock.now, expireMs: 30_000, forgetMs: 600_000 });
  return { table, clock };
}

describe('PeerTable', () => {
  const alice = generateIdentity();
  const bob = generateIdentity();

  it('a device appears, stays online while it answers, and goes offline when it stops', () => {
    const { table, clock } = setup();
    let changes = 0;
    table.onChange(() => changes++);
    table.observe({ instance: 'alice', address: '10.0.0.2', advert: advert(alice, 'alice') });
    expect(changes).toBe(1);
    let [p] = table.list();
    expect(p).toMatchObject({ name: 'alice', online: true, known: false });
    expect(p!.addresses).toEqual([
      { address: '10.0.0.2', quicPort: 5000, tcpPort: 5001, lastSeen: clock.now() },
    ]);
    clock.advance(20_000);
    table.observe({ instance: 'alice', address: '10.0.0.2', advert: advert(alice, 'alice') });
    clock.advance(20_000);
    table.expire();
    expect(table.list()[0]!.online).toBe(true);
    clock.advance(11_000);
    expect(table.list()[0]!.online).toBe(false); // computed, even before expire()
    table.expire();
    [p] = table.list();
    expect(p).toMatchObject({ online: false, addresses: [] });
    clock.advance(600_001);
    table.expire();
    expect(table.list()).toEqual([]); // an unknown device is forgotten after a while
  });

  it('merges sightings with known peers by fingerprint; known peers stay listed offline', () => {
    const { table } = setup();
    table.setKnown([known(alice, 'Alice (work)')]);
    expect(table.list()).toMatchObject([
      { nickname: 'Alice (work)', known: true, online: false, lastSeen: null },
    ]);
    table.observe({
      instance: 'alice-mbp',
      address: '10.0.0.2',
      advert: advert(alice, 'alice-mbp'),
    });
    expect(table.list()).toMatchObject([
      { nickname: 'Alice (work)', name: 'alice-mbp', known: true, online: true },
    ]);
    expect(table.resolve('alice (WORK)')).toMatchObject({ ok: true, peer: { name: 'alice-mbp' } });
  });

  it('resolves by fingerprint prefix, short id and name; reports ambiguity and offline peers', () => {
    const { table, clock } = setup();
    table.observe({ instance: 'a', address: '10.0.0.2', advert: advert(alice, 'twin') });
    table.observe({ instance: 'b', address: '10.0.0.3', advert: advert(bob, 'twin') });
    const a = table.get(advert(alice, 'x').fingerprint)!;
    expect(table.resolve(a.fingerprint.slice(0, 12))).toMatchObject({
      ok: true,
      peer: { fingerprint: a.fingerprint },
    });
    expect(table.resolve(a.shortId.toLowerCase())).toMatchObject({
      ok: true,
      peer: { fingerprint: a.fingerprint },
    });
    expect(table.resolve(a.shortId.replace(/-/g, '').slice(0, 8))).toMatchObject({ ok: true });
    const amb = table.resolve('twin');
    expect(amb).toMatchObject({ ok: false, reason: 'ambiguous' });
    expect(table.resolve('nobody')).toMatchObject({ ok: false, reason: 'none' });
    table.setKnown([known(alice, 'al')]);
    clock.advance(31_000);
    expect(table.resolve('al')).toMatchObject({ ok: false, reason: 'offline' });
  });

  it('a device announcing a known name with another key is flagged and never resolves by that name', () => {
    const { table } = setup();
    const mallory = generateIdentity();
    table.setKnown([known(alice, 'alice', 'alice-mbp')]);
    table.observe({
      instance: 'alice-mbp',
      address: '10.0.0.66',
      advert: advert(mallory, 'alice-mbp'),
    });
    const fake = table.list().find((p) => !p.known)!;
    expect(fake.impersonates).toBe('alice');
    const r = table.resolve('alice-mbp');
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.message).toMatch(/WARNING.*different key.*not used/);
    // The real one coming online wins the name.
    table.observe({
      instance: 'alice-mbp (2)',
      address: '10.0.0.2',
      advert: advert(alice, 'alice-mbp'),
    });
    expect(table.resolve('alice-mbp')).toMatchObject({ ok: true, peer: { known: true } });
  });

  it('a goodbye removes only the address it came from; a forged one cannot evict a live address', () => {
    const { table } = setup();
    table.observe({ instance: 'alice', address: '10.0.0.2', advert: advert(alice, 'alice') });
    table.observe({ instance: 'alice', address: '192.168.1.2', advert: advert(alice, 'alice') });
    table.goodbye('alice', '10.0.0.66'); // forged, from elsewhere
    table.goodbye('other', '10.0.0.2'); // another instance at that address
    expect(table.list()[0]!.addresses.map((a) => a.address)).toEqual(['192.168.1.2', '10.0.0.2']);
    table.goodbye('alice', '10.0.0.2');
    expect(table.list()[0]!.addresses.map((a) => a.address)).toEqual(['192.168.1.2']);
    expect(table.list()[0]!.online).toBe(true);
  });

  it('tracks the nameplate hash of a waiting code send only while the device is online', () => {
    const { table, clock } = setup();
    table.observe({
      instance: 'a',
      address: '10.0.0.2',
      advert: advert(alice, 'a', { nameplateHash: '00112233aabbccdd' }),
    });
    table.observe({ instance: 'b', address: '10.0.0.3', advert: advert(bob, 'b') });
    expect(table.withNameplate('00112233aabbccdd').map((p) => p.name)).toEqual(['a']);
    table.observe({ instance: 'a', address: '10.0.0.2', advert: advert(alice, 'a') });
    expect(table.withNameplate('00112233aabbccdd')).toEqual([]);
    table.observe({
      instance: 'a',
      address: '10.0.0.2',
      advert: advert(alice, 'a', { nameplateHash: '00112233aabbccdd' }),
    });
    clock.advance(31_000);
    expect(table.withNameplate('00112233aabbccdd')).toEqual([]);
  });

  it('finds every waiting code send of a device, each at its own listener', () => {
    const { table } = setup();
    const first = '00112233aabbccdd';
    const second = '8899aabbccddeeff';
    table.observe({
      instance: 'a',
      address: '10.0.0.2',
      advert: advert(alice, 'a', {
        quicPort: 5000,
        tcpPort: 5001,
        nameplateHash: first,
        codeQuicPort: 6000,
        codeTcpPort: 6001,
        moreCodeOffers: [{ nameplateHash: second, quicPort: 7000, tcpPort: 7001 }],
      }),
    });
    const ports = (hash: string) =>
      table.withNameplate(hash).map((p) => p.addresses.map((x) => [x.quicPort, x.tcpPort]));
    expect(ports(first)).toEqual([[[6000, 6001]]]);
    expect(ports(second)).toEqual([[[7000, 7001]]]);
    expect(ports('ffffffffffffffff')).toEqual([]);
    // A device without ports apart is dialled on its own.
    table.observe({
      instance: 'b',
      address: '10.0.0.3',
      advert: advert(bob, 'b', { quicPort: 5100, tcpPort: 5101, nameplateHash: first }),
    });
    expect(ports(first)).toEqual(expect.arrayContaining([[[5100, 5101]], [[6000, 6001]]]));
  });

  it('stays bounded under a flood of devices and addresses, without evicting live ones', () => {
    let t = 0;
    const table = new PeerTable({ now: () => t, maxPeers: 4, maxAddresses: 2 });
    const ids = Array.from({ length: 6 }, () => generateIdentity());
    for (const [i, id] of ids.entries()) {
      table.observe({ instance: `d${i}`, address: `10.0.0.${i}`, advert: advert(id, `d${i}`) });
    }
    expect(
      table
        .list()
        .map((p) => p.name)
        .sort(),
    ).toEqual(['d0', 'd1', 'd2', 'd3']);
    expect(table.dropped).toBe(2);
    for (let i = 0; i < 5; i++) {
      table.observe({ instance: 'd0', address: `10.1.0.${i}`, advert: advert(ids[0]!, 'd0') });
    }
    expect(
      table.get(table.list().find((p) => p.name === 'd0')!.fingerprint)!.addresses,
    ).toHaveLength(2);
    t += 60_000; // all offline now: a newcomer may replace the stalest
    table.observe({ instance: 'd5', address: '10.0.0.5', advert: advert(ids[5]!, 'd5') });
    expect(table.list().some((p) => p.name === 'd5')).toBe(true);
  });
});
