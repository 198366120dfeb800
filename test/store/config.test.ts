import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  fingerprint,
  generateIdentity,
  shortFingerprint,
} from '../../src/engine/crypto/identity.js';
import {
  cleanDeviceName,
  DEFAULT_SETTINGS,
  FerryConfig,
  SETTING_KEYS,
} from '../../src/store/config.js';

const dirs: string[] = [];
async function dir() {
  const d = await mkdtemp(join(tmpdir(), 'ferry-config-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

function clock(iso: string) {
  const at = { now: new Date(iso) };
  return { at, now: () => at.now };
}

function open(d: string, opts: { now?: () => Date } = {}) {
  const warnings: string[] = [];
  const config = FerryConfig.open(d, { ...opts, onWarning: (m) => warnings.push(m) });
  return { config, warnings };
}

const key = () => generateIdentity().publicKey;

describe('FerryConfig', () => {
  it('starts with defaults in a new 0700 dir and a 0600 file', async () => {
    const d = join(await dir(), 'nested', 'ferry');
    const { config, warnings } = open(d);
    expect(config.path).toBe(join(d, 'config.json'));
    expect(config.settings).toEqual(DEFAULT_SETTINGS);
    expect(config.knownPeers()).toEqual([]);
    expect(config.deviceName).toBe(cleanDeviceName(hostname()) || 'ferry');
    expect(warnings).toEqual([]);
    expect((await stat(d)).mode & 0o777).toBe(0o700);
    expect((await stat(config.path)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(config.path, 'utf8'))).toEqual({
      version: 1,
      settings: { ...DEFAULT_SETTINGS },
      knownPeers: {},
    });
  });

  it('validates and persists settings and the device name', async () => {
    const d = await dir();
    const { config } = open(d);
    config.setDeviceName('  desk  ');
    expect(config.deviceName).toBe('desk');
    expect(() => config.setDeviceName('   ')).toThrow(
      new RangeError('deviceName: must not be empty'),
    );
    expect(() => config.setDeviceName('evil\u202Etxt.exe')).toThrow(
      /^deviceName: must not contain control or bidirectional formatting characters$/,
    );
    expect(() => config.setDeviceName('a\nb')).toThrow(RangeError);
    expect(() => config.setDeviceName('é'.repeat(32))).toThrow(
      new RangeError('deviceName: 64 UTF-8 bytes, at most 63 allowed'),
    );
    config.setDeviceName(`${'é'.repeat(31)}x`);
    config.updateSettings({ mdns: false, mdnsInterface: '192.168.1.20' });
    expect(() => config.updateSettings({ mdnsInterface: 'eth0' })).toThrow(
      new RangeError('mdnsInterface: "eth0" is not an IPv4 address'),
    );
    const expected = {
      ...DEFAULT_SETTINGS,
      deviceName: `${'é'.repeat(31)}x`,
      mdns: false,
      mdnsInterface: '192.168.1.20',
    };
    expect(config.settings).toEqual(expected);
    expect(open(d).config.settings).toEqual(expected);

    config.updateSettings({ deviceName: undefined, mdns: undefined });
    expect(open(d).config.settings).toStrictEqual({
      ...DEFAULT_SETTINGS,
      relays: [],
      mdnsInterface: '192.168.1.20',
    });
    expect(config.deviceName).toBe(cleanDeviceName(hostname()) || 'ferry');
  });

  it('pins a key and a second open sees it', async () => {
    const d = await dir();
    const { now } = clock('2025-03-01T10:00:00.000Z');
    const { config } = open(d, { now });
    const pk = key();
    const { peer, created } = config.pin({ publicKey: pk, deviceName: 'laptop', by: 'code' });
    expect(created).toBe(true);
    expect(peer).toStrictEqual({
      fingerprint: fingerprint(pk),
      publicKey: Buffer.from(pk).toString('hex'),
      nickname: 'laptop',
      deviceName: 'laptop',
      autoAccept: false,
      pinnedAt: '2025-03-01T10:00:00.000Z',
      pinnedBy: 'code',
      lastSeen: '2025-03-01T10:00:00.000Z',
    });
    const other = key();
    const manual = config.pin({ publicKey: other, by: 'manual' }).peer;
    expect(manual.nickname).toBe(shortFingerprint(other));
    expect(manual.lastSeen).toBeUndefined();

    const again = open(d).config;
    expect(again.knownPeer(fingerprint(pk))).toStrictEqual(peer);
    expect(again.knownPeers()).toStrictEqual(
      [peer, manual].sort((a, b) => a.nickname.localeCompare(b.nickname)),
    );
    expect(again.knownPeer('constructor')).toBeUndefined();
    expect(() => config.pin({ publicKey: new Uint8Array(31), by: 'sas' })).toThrow(TypeError);
    expect(() => config.pin({ publicKey: pk, nickname: '', by: 'sas' })).toThrow(
      new RangeError('nickname: must not be empty'),
    );
  });

  it('re-pinning a known key keeps nickname, autoAccept and pin time', async () => {
    const d = await dir();
    const { at, now } = clock('2025-03-01T10:00:00.000Z');
    const { config } = open(d, { now });
    const pk = key();
    const fp = config.pin({ publicKey: pk, deviceName: 'laptop', nickname: 'Work', by: 'sas' }).peer
      .fingerprint;
    config.updatePeer(fp, { autoAccept: true });
    at.now = new Date('2025-04-01T08:00:00.000Z');
    const { peer, created } = config.pin({
      publicKey: pk,
      deviceName: 'laptop-2',
      nickname: 'Other',
      by: 'code',
    });
    expect(created).toBe(false);
    expect(peer).toMatchObject({
      nickname: 'Work',
      autoAccept: true,
      pinnedAt: '2025-03-01T10:00:00.000Z',
      pinnedBy: 'sas',
      deviceName: 'laptop-2',
      lastSeen: '2025-04-01T08:00:00.000Z',
    });
    expect(open(d).config.knownPeer(fp)).toStrictEqual(peer);
  });

  it('updates peers and cleans a device name from the network', async () => {
    const d = await dir();
    const { config } = open(d);
    const fp = config.pin({ publicKey: key(), by: 'code' }).peer.fingerprint;
    const peer = config.updatePeer(fp, {
      nickname: 'Phone',
      deviceName: 'ph\u202Eone',
      lastSeen: new Date('2025-05-05T05:05:05.000Z'),
    });
    expect(peer).toMatchObject({
      nickname: 'Phone',
      deviceName: 'ph\uFFFDone',
      lastSeen: '2025-05-05T05:05:05.000Z',
    });
    expect(() => config.updatePeer('ab'.repeat(32), { autoAccept: true })).toThrow(
      new RangeError('fingerprint: not a known peer'),
    );
    expect(() => config.updatePeer(fp, { nickname: 'x'.repeat(64) })).toThrow(/^nickname: /);
  });

  it('keeps pins made by two instances on one dir', async () => {
    const d = await dir();
    const a = open(d).config;
    const b = open(d).config;
    const pa = a.pin({ publicKey: key(), deviceName: 'alpha', by: 'code' }).peer;
    const pb = b.pin({ publicKey: key(), deviceName: 'beta', by: 'sas' }).peer;
    a.updateSettings({ mdns: false });
    expect(b.knownPeers().map((p) => p.nickname)).toEqual(['alpha', 'beta']);
    const c = open(d).config;
    expect(c.knownPeers()).toStrictEqual([pa, pb]);
    expect(c.settings.mdns).toBe(false);
  });

  it('forgets a peer', async () => {
    const d = await dir();
    const { config } = open(d);
    const fp = config.pin({ publicKey: key(), by: 'code' }).peer.fingerprint;
    expect(config.forget(fp)).toBe(true);
    expect(config.forget(fp)).toBe(false);
    expect(config.knownPeer(fp)).toBeUndefined();
    expect(open(d).config.knownPeers()).toEqual([]);
  });
});

describe('FerryConfig settings (issue 5)', () => {
  const KiB = 1024;
  const MiB = 1024 * KiB;

  it('has a default for every required setting', async () => {
    const { config } = open(await dir());
    expect(config.settings).toStrictEqual({
      relays: [],
      maxConcurrent: 3,
      chunkSize: MiB,
      windowMemory: 16 * MiB,
      rateLimit: null,
      perTransferRateLimit: null,
      mdns: true,
      autoAcceptKnown: false,
      autoResume: 'always',
    });
    expect(SETTING_KEYS).toEqual([
      'deviceName',
      'downloadDir',
      'relays',
      'maxConcurrent',
      'chunkSize',
      'windowMemory',
      'rateLimit',
      'perTransferRateLimit',
      'mdns',
      'mdnsInterface',
      'autoAcceptKnown',
      'autoResume',
    ]);
  });

  it('loads a file from before issue 5 with defaults for the new settings, keeping pins', async () => {
    const d = await dir();
    const { config: first } = open(d);
    const pin = first.pin({ publicKey: key(), deviceName: 'old', by: 'code' }).peer;
    const old = {
      version: 1,
      settings: { deviceName: 'desk', mdns: false, mdnsInterface: '10.0.0.2' },
      knownPeers: { [pin.fingerprint]: pin },
    };
    await writeFile(first.path, JSON.stringify(old));
    const { config, warnings } = open(d);
    expect(warnings).toEqual([]);
    expect(config.settings).toStrictEqual({
      ...DEFAULT_SETTINGS,
      relays: [],
      deviceName: 'desk',
      mdns: false,
      mdnsInterface: '10.0.0.2',
    });
    expect(config.knownPeers()).toStrictEqual([pin]);
    expect(await readdir(d)).toEqual(['config.json']);
  });

  it('round-trips every setting across a re-open', async () => {
    const d = await dir();
    const { config } = open(d);
    const changed = {
      deviceName: 'desk',
      downloadDir: '/srv/inbox',
      relays: ['relay.example.org:9009', 'quic://[::1]:9010'],
      maxConcurrent: 32,
      chunkSize: 64 * KiB,
      windowMemory: 1024 * MiB,
      rateLimit: 10 * MiB,
      perTransferRateLimit: 1024,
      mdns: false,
      mdnsInterface: '192.168.1.20',
      autoAcceptKnown: true,
      autoResume: 'never',
    } as const;
    config.updateSettings(changed);
    expect(config.settings).toStrictEqual(changed);
    expect(open(d).config.settings).toStrictEqual(changed);

    config.updateSettings({ downloadDir: undefined, relays: undefined, chunkSize: undefined });
    const again = open(d).config.settings;
    expect(again.downloadDir).toBeUndefined();
    expect(Object.hasOwn(again, 'downloadDir')).toBe(false);
    expect(again.relays).toEqual([]);
    expect(again.chunkSize).toBe(MiB);
    expect(again.maxConcurrent).toBe(32);
  });

  it('refuses invalid values with a RangeError naming the setting', async () => {
    const { config } = open(await dir());
    const cases: [Record<string, unknown>, string][] = [
      [{ chunkSize: 3 * MiB }, 'chunkSize: must be a power of two between 64 KiB and 16 MiB'],
      [{ chunkSize: 32 * KiB }, 'chunkSize: must be a power of two between 64 KiB and 16 MiB'],
      [{ chunkSize: 32 * MiB }, 'chunkSize: must be a power of two between 64 KiB and 16 MiB'],
      [{ maxConcurrent: 0 }, 'maxConcurrent: must be a whole number from 1 to 32'],
      [{ maxConcurrent: 33 }, 'maxConcurrent: must be a whole number from 1 to 32'],
      [{ maxConcurrent: 2.5 }, 'maxConcurrent: must be a whole number from 1 to 32'],
      [
        { windowMemory: MiB - 1 },
        'windowMemory: must be a whole number of bytes between 1 MiB and 1 GiB',
      ],
      [
        { windowMemory: 1024 * MiB + 1 },
        'windowMemory: must be a whole number of bytes between 1 MiB and 1 GiB',
      ],
      [{ rateLimit: 1023 }, 'rateLimit: must be null or at least 1024 bytes per second'],
      [
        { perTransferRateLimit: -1 },
        'perTransferRateLimit: must be null or at least 1024 bytes per second',
      ],
      [{ downloadDir: 'relative/dir' }, 'downloadDir: must be an absolute path'],
      [
        { relays: ['ok:1', ''] },
        'relays: must be a list of relay addresses, each 1 to 300 characters',
      ],
      [
        { relays: ['x'.repeat(301)] },
        'relays: must be a list of relay addresses, each 1 to 300 characters',
      ],
      [{ mdns: 'yes' }, 'mdns: must be true or false'],
      [{ autoAcceptKnown: 1 }, 'autoAcceptKnown: must be true or false'],
      [{ autoResume: 'sometimes' }, 'autoResume: must be one of always, ask, never'],
      [{ colour: 'blue' }, 'colour: not a setting'],
    ];
    for (const [patch, message] of cases) {
      expect(() => config.updateSettings(patch as never)).toThrow(new RangeError(message));
    }
    expect(config.settings).toEqual(DEFAULT_SETTINGS);
  });

  it('writes nothing when one value of a patch is invalid', async () => {
    const d = await dir();
    const { config } = open(d);
    const before = await readFile(config.path, 'utf8');
    expect(() => config.updateSettings({ maxConcurrent: 5, chunkSize: 1000 })).toThrow(
      /^chunkSize: /,
    );
    expect(await readFile(config.path, 'utf8')).toBe(before);
    expect(open(d).config.settings.maxConcurrent).toBe(3);
  });

  it("does not share the caller's relay list", async () => {
    const { config } = open(await dir());
    const relays = ['a:1'];
    config.updateSettings({ relays });
    relays.push('b:2');
    expect(config.settings.relays).toEqual(['a:1']);
  });

  it('moves a file with an out-of-range setting aside, naming the field', async () => {
    const d = await dir();
    const bytes = JSON.stringify({ version: 1, settings: { chunkSize: 1000 }, knownPeers: {} });
    await writeFile(join(d, 'config.json'), bytes);
    const { config, warnings } = open(d);
    expect(config.settings).toEqual(DEFAULT_SETTINGS);
    expect(warnings).toEqual([
      expect.stringContaining(
        '(settings.chunkSize: must be a power of two between 64 KiB and 16 MiB)',
      ),
    ]);
  });
});

describe('FerryConfig with a bad file', () => {
  const now = () => new Date('2025-01-02T03:04:05.678Z');
  const moved = 'config.json.corrupt-2025-01-02T03-04-05-678Z';

  async function expectMovedAside(d: string, bytes: string, problem: RegExp) {
    await writeFile(join(d, 'config.json'), bytes, { mode: 0o600 });
    const { config, warnings } = open(d, { now });
    expect(config.settings).toEqual(DEFAULT_SETTINGS);
    expect(config.knownPeers()).toEqual([]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(problem);
    expect(warnings[0]).toContain(join(d, 'config.json'));
    expect(warnings[0]).toContain(join(d, moved));
    expect(await readFile(join(d, moved), 'utf8')).toBe(bytes);
    expect(JSON.parse(await readFile(join(d, 'config.json'), 'utf8')).version).toBe(1);
  }

  it('moves corrupt JSON aside and keeps its bytes', async () => {
    await expectMovedAside(await dir(), '{"version":1,"settings":{', /is not valid JSON/);
  });

  it('moves a schema-invalid file aside', async () => {
    const bytes = JSON.stringify({ version: 1, settings: { mdns: 'yes' }, knownPeers: {} });
    await expectMovedAside(await dir(), bytes, /does not match the config schema \(settings\.mdns/);
  });

  it('moves a file from a newer ferry aside', async () => {
    const bytes = JSON.stringify({ version: 2, settings: {}, knownPeers: {} });
    await expectMovedAside(await dir(), bytes, /newer ferry \(config version 2/);
  });

  it('does not overwrite an earlier moved-aside file', async () => {
    const d = await dir();
    await writeFile(join(d, moved), 'first');
    await writeFile(join(d, 'config.json'), 'second');
    open(d, { now });
    expect(await readFile(join(d, moved), 'utf8')).toBe('first');
    expect(await readFile(join(d, `${moved}-2`), 'utf8')).toBe('second');
  });

  it('keeps what it loaded when the file breaks between changes', async () => {
    const d = await dir();
    const { config, warnings } = open(d, { now });
    const pin = config.pin({ publicKey: key(), deviceName: 'kept', by: 'code' }).peer;
    await writeFile(join(d, 'config.json'), 'garbage');
    config.updateSettings({ mdns: false });
    expect(warnings).toEqual([expect.stringMatching(/went on with the settings and peers/)]);
    const again = open(d).config;
    expect(again.knownPeers()).toStrictEqual([pin]);
    expect(again.settings.mdns).toBe(false);
    expect(await readdir(d)).toContain(moved);
  });

  it('drops a peer whose fingerprint does not match its key', async () => {
    const d = await dir();
    const { config } = open(d);
    const good = config.pin({ publicKey: key(), deviceName: 'good', by: 'code' }).peer;
    const bad = config.pin({ publicKey: key(), deviceName: 'bad', by: 'code' }).peer;
    const doc = JSON.parse(await readFile(config.path, 'utf8'));
    doc.knownPeers[bad.fingerprint].publicKey = Buffer.from(key()).toString('hex');
    await writeFile(config.path, JSON.stringify(doc));

    const { config: again, warnings } = open(d);
    expect(again.knownPeers()).toStrictEqual([good]);
    expect(warnings).toEqual([
      `${config.path}: ignored known peer "bad" (${bad.fingerprint}): ` +
        'its fingerprint does not match its public key',
    ]);
  });
});

describe('cleanDeviceName', () => {
  it('replaces controls and bidi formatting characters, and trims', () => {
    expect(cleanDeviceName('  ok  ')).toBe('ok');
    expect(cleanDeviceName('a\nb\tc')).toBe('a b c');
    expect(cleanDeviceName('a\u0000b\u001b[31mc\u007f')).toBe('a\uFFFDb\uFFFD[31mc\uFFFD');
    expect(cleanDeviceName('invoice\u202Egpj.exe')).toBe('invoice\uFFFDgpj.exe');
    expect(cleanDeviceName('\u2066x\u2069\u200e')).toBe('\uFFFDx\uFFFD\uFFFD');
    expect(cleanDeviceName('\n\t ')).toBe('');
    expect(cleanDeviceName('Zoë’s phone 📱')).toBe('Zoë’s phone 📱');
  });

  it('cuts long names to 63 UTF-8 bytes between characters', () => {
    const cases = ['é'.repeat(40), '日本'.repeat(20), '👩‍💻'.repeat(10), `a${'😀'.repeat(20)}`];
    for (const raw of cases) {
      const name = cleanDeviceName(raw);
      expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
      expect(Buffer.byteLength(name)).toBeGreaterThan(63 - 12);
      expect(raw.startsWith(name)).toBe(true);
      expect(name).not.toContain('\uFFFD');
      expect(Buffer.from(name, 'utf8').toString('utf8')).toBe(name);
    }
    expect(cleanDeviceName('é'.repeat(40))).toBe('é'.repeat(31));
    expect(cleanDeviceName('👩‍💻'.repeat(10))).toBe('👩‍💻'.repeat(5));
  });
});
