/** `ferry settings`: value parsing, formatting, and the command against a temp config dir. */
import { mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/common.js';
import { Reporter } from '../../src/cli/output.js';
import {
  formatSettingValue,
  parseSettingValue,
  settingKey,
  settingsCommand,
} from '../../src/cli/settings.js';
import { FerryConfig, SETTING_KEYS } from '../../src/store/config.js';

const KiB = 1024;
const MiB = 1024 * KiB;

const dirs: string[] = [];
async function dir() {
  const d = await mkdtemp(join(tmpdir(), 'ferry-settings-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** Run the command with captured stdout/stderr. */
function run(configDir: string, args: [string?, string?], json = false) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out = new Reporter(
    json,
    stdout as unknown as NodeJS.WriteStream,
    stderr as unknown as typeof process.stderr,
  );
  const code = settingsCommand(args[0], args[1], { configDir, mdns: true }, out);
  const text = (s: PassThrough) => String(s.read() ?? '');
  return { code, stdout: text(stdout), stderr: text(stderr) };
}

const interfaces = {
  eth0: [
    {
      address: '192.168.1.20',
      netmask: '255.255.255.0',
      family: 'IPv4' as const,
      mac: '00:00:00:00:00:00',
      internal: false,
      cidr: '192.168.1.20/24',
    },
  ],
};

describe('settingKey', () => {
  it('takes a key exactly or ignoring case, dashes and underscores', () => {
    expect(settingKey('chunkSize')).toBe('chunkSize');
    expect(settingKey('chunk-size')).toBe('chunkSize');
    expect(settingKey('PER_TRANSFER_RATE_LIMIT')).toBe('perTransferRateLimit');
  });

  it('lists the keys for an unknown one', () => {
    expect(() => settingKey('colour')).toThrow(UsageError);
    expect(() => settingKey('colour')).toThrow(
      `unknown setting 'colour'; the settings are ${SETTING_KEYS.join(', ')}`,
    );
  });
});

describe('parseSettingValue', () => {
  it('parses booleans as on/off/true/false/yes/no', () => {
    for (const t of ['on', 'TRUE', 'yes']) expect(parseSettingValue('mdns', t)).toBe(true);
    for (const t of ['off', 'false', 'No'])
      expect(parseSettingValue('autoAcceptKnown', t)).toBe(false);
    expect(() => parseSettingValue('mdns', 'maybe')).toThrow(
      new UsageError("mdns 'maybe': expected on or off"),
    );
  });

  it('parses sizes in powers of 1024', () => {
    expect(parseSettingValue('chunkSize', '1M')).toBe(MiB);
    expect(parseSettingValue('chunkSize', '512k')).toBe(512 * KiB);
    expect(parseSettingValue('windowMemory', '1 GiB')).toBe(1024 * MiB);
    expect(parseSettingValue('windowMemory', '1.5MB')).toBe(1.5 * MiB);
    expect(parseSettingValue('chunkSize', '65536')).toBe(64 * KiB);
    expect(() => parseSettingValue('chunkSize', '1 lot')).toThrow(
      new UsageError("chunkSize '1 lot': expected a size like 512k, 1M or 4MiB"),
    );
  });

  it('parses rates like --limit, with off for none', () => {
    expect(parseSettingValue('rateLimit', '500k')).toBe(500 * KiB);
    expect(parseSettingValue('perTransferRateLimit', '10MiB/s')).toBe(10 * MiB);
    expect(parseSettingValue('rateLimit', 'off')).toBeNull();
    expect(() => parseSettingValue('rateLimit', 'fast')).toThrow(/^rateLimit 'fast': /);
  });

  it('parses relays as a comma-separated list of relay addresses', () => {
    expect(parseSettingValue('relays', ' a.example:9009, quic://[::1]:9010 ,')).toEqual([
      'a.example:9009',
      'quic://[::1]:9010',
    ]);
    expect(parseSettingValue('relays', '')).toEqual([]);
    expect(() => parseSettingValue('relays', 'a:1,nohost')).toThrow(
      /^relays: relay address 'nohost': expected HOST:PORT/,
    );
  });

  it('parses counts, choices, directories and interfaces', () => {
    expect(parseSettingValue('maxConcurrent', '8')).toBe(8);
    expect(() => parseSettingValue('maxConcurrent', 'many')).toThrow(UsageError);
    expect(parseSettingValue('autoResume', 'Ask')).toBe('ask');
    expect(() => parseSettingValue('autoResume', 'later')).toThrow(
      "autoResume 'later': expected always, ask or never",
    );
    expect(parseSettingValue('downloadDir', 'inbox')).toBe(resolve('inbox'));
    expect(parseSettingValue('downloadDir', '~/Downloads')).toBe(join(homedir(), 'Downloads'));
    expect(parseSettingValue('mdnsInterface', '192.168.1.20', interfaces)).toBe('192.168.1.20');
    expect(parseSettingValue('mdnsInterface', 'eth0', interfaces)).toBe('192.168.1.20');
    // An address this machine does not have would fail every later command: refused now.
    expect(() => parseSettingValue('mdnsInterface', '10.0.0.2', interfaces)).toThrow(
      /mdnsInterface '10\.0\.0\.2'/,
    );
    expect(() => parseSettingValue('mdnsInterface', 'wlan9', interfaces)).toThrow(
      /it has eth0 \(192\.168\.1\.20\)$/,
    );
    expect(parseSettingValue('deviceName', 'desk')).toBe('desk');
  });

  it('reads unset as undefined for every key', () => {
    for (const k of SETTING_KEYS) expect(parseSettingValue(k, 'unset')).toBeUndefined();
  });

  it('reads back what formatSettingValue shows', () => {
    const values = [
      ['chunkSize', 4 * MiB],
      ['windowMemory', 1536 * KiB],
      ['rateLimit', 1000 * KiB + 1],
      ['rateLimit', null],
      ['mdns', false],
      ['relays', ['a:1', 'quic://b:2']],
      ['maxConcurrent', 7],
      ['autoResume', 'never'],
    ] as const;
    for (const [k, v] of values) {
      expect(parseSettingValue(k, formatSettingValue(k, v))).toEqual(v);
    }
    expect(formatSettingValue('chunkSize', MiB)).toBe('1 MiB');
    expect(formatSettingValue('rateLimit', 1536 * KiB)).toBe('1536 KiB/s');
    expect(formatSettingValue('downloadDir', undefined)).toBe('(unset: the current directory)');
  });
});

describe('settingsCommand', () => {
  it('lists every setting and marks defaults', async () => {
    const d = await dir();
    run(d, ['chunkSize', '4M']);
    const { code, stdout } = run(d, []);
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines.map((l) => l.split(/\s+/)[0])).toEqual(SETTING_KEYS);
    expect(lines).toContainEqual(expect.stringMatching(/^chunkSize +4 MiB +\(default: 1 MiB\)$/));
    expect(lines).toContainEqual(expect.stringMatching(/^maxConcurrent +3 +\(default\)$/));
    expect(lines).toContainEqual(
      expect.stringMatching(/^downloadDir +\(unset: the current directory\)$/),
    );
  });

  it('prints --json for the list, one key, and a change', async () => {
    const d = await dir();
    const all = JSON.parse(run(d, [], true).stdout);
    expect(all).toEqual({
      type: 'settings',
      settings: {
        deviceName: null,
        downloadDir: null,
        relays: [],
        maxConcurrent: 3,
        chunkSize: MiB,
        windowMemory: 16 * MiB,
        rateLimit: null,
        perTransferRateLimit: null,
        mdns: true,
        mdnsInterface: null,
        autoAcceptKnown: false,
        autoResume: 'always',
      },
    });
    expect(JSON.parse(run(d, ['rate-limit', '2M'], true).stdout)).toEqual({
      type: 'setting',
      key: 'rateLimit',
      value: 2 * MiB,
    });
    expect(JSON.parse(run(d, ['rateLimit'], true).stdout)).toEqual({
      type: 'setting',
      key: 'rateLimit',
      value: 2 * MiB,
    });
  });

  it('sets, persists and unsets a value', async () => {
    const d = await dir();
    expect(run(d, ['autoAcceptKnown', 'yes']).stdout).toMatch(
      /^autoAcceptKnown {2}on {2}\(default: off\)\n$/,
    );
    expect(FerryConfig.open(d).settings.autoAcceptKnown).toBe(true);
    run(d, ['deviceName', 'desk']);
    run(d, ['deviceName', 'unset']);
    run(d, ['autoAcceptKnown', 'unset']);
    const settings = FerryConfig.open(d).settings;
    expect(settings.autoAcceptKnown).toBe(false);
    expect(settings.deviceName).toBeUndefined();
  });

  it('turns a value the store refuses into a UsageError with the reason', async () => {
    const d = await dir();
    expect(() => run(d, ['chunkSize', '3M'])).toThrow(
      new UsageError('chunkSize: must be a power of two between 64 KiB and 16 MiB'),
    );
    expect(() => run(d, ['maxConcurrent', '64'])).toThrow(
      new UsageError('maxConcurrent: must be a whole number from 1 to 32'),
    );
    expect(() => run(d, ['deviceName', '  '])).toThrow(
      new UsageError('deviceName: must not be empty'),
    );
    expect(() => run(d, ['nope', '1'])).toThrow(/^unknown setting 'nope'/);
    expect(FerryConfig.open(d).settings.chunkSize).toBe(MiB);
  });
});
