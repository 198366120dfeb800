/**
 * End to end with real processes on loopback: a relay, `ferry send` and
 * `ferry receive`; a 64 MiB random file over TCP and over QUIC; kill -9 and
 * resume; a wrong code; a relay that flips a byte.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { createServer } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity } from '../../src/engine/crypto/identity.js';
import { createSelfSignedCert } from '../../src/engine/transport/tls-cert.js';
import { RelayRooms } from '../../src/relay/rooms.js';
import {
  type FerryProcess,
  ferry,
  killLeftovers,
  killWhenCheckpointed,
  onlyLoopback,
} from './cli-process.js';

const MiB = 1024 * 1024;
/** util-linux prlimit, to cap the receiver's file size (skipped where missing). */
const hasPrlimit = spawnSync('prlimit', ['--version']).status === 0;
let dir: string;
let small: string;
let big: string;
let relay: FerryProcess;
let tcpPort: number;
let quicPort: number;
let pin: string;

async function randomFile(path: string, size: number): Promise<void> {
  const fh = await open(path, 'w');
  const buf = Buffer.alloc(8 * MiB);
  for (let off = 0; off < size; off += buf.length) {
    randomFillSync(buf);
    await fh.write(buf, 0, Math.min(buf.length, size - off));
  }
  await fh.close();
}

async function sha(p: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(p))
    .digest('hex');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-e2e-'));
  small = join(dir, 'data64.bin');
  big = join(dir, 'data256.bin');
  await randomFile(small, 64 * MiB);
  await randomFile(big, 256 * MiB);
  relay = ferry([
    'relay',
    '--listen',
    '127.0.0.1:0',
    ...(onlyLoopback ? ['--quic-port', '0'] : []),
    '--json',
    '--config-dir',
    join(dir, 'relay'),
  ]);
  const l = await relay.waitFor((x) => x['type'] === 'listening');
  tcpPort = l['tcp_port'] as number;
  quicPort = l['quic_port'] as number;
  pin = l['pin'] as string;
}, 60_000);

// A test that failed may leave a sender waiting: stop it (the relay stays).
afterEach(async () => {
  await killLeftovers(relay ? [relay] : []);
});

afterAll(async () => {
  relay?.proc.kill('SIGTERM');
  await relay?.exit;
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
function names() {
  n++;
  return {
    code: `${100 + n}-apple-river-stone`,
    out: join(dir, `out${n}`),
    s: join(dir, `send-cfg${n}`),
    r: join(dir, `recv-cfg${n}`),
  };
}

function send(paths: string[], code: string, cfg: string, relayAddr: string) {
  // These tests are about the relay path: LAN discovery off.
  return ferry([
    '--no-mdns',
    'send',
    ...paths,
    '--code',
    code,
    '--relay',
    relayAddr,
    '--json',
    '--config-dir',
    cfg,
  ]);
}
function receive(code: string, cfg: string, out: string, relayAddr: string, wrap: string[] = []) {
  return ferry(
    [
      '--no-mdns',
      'receive',
      code,
      '--dir',
      out,
      '--yes',
      '--relay',
      relayAddr,
      '--json',
      '--config-dir',
      cfg,
    ],
    // Frequent checkpoints, so a kill -9 mid-way always finds some on disk.
    { FERRY_CHECKPOINT_MS: '200' },
    wrap,
  );
}

/** A `send` of the 256 MiB file through the relay, its code shown and the receiver's folder made. */
async function bigSend() {
  const { code, out, s, r } = names();
  const addr = `127.0.0.1:${tcpPort}`;
  const snd = send([big], code, s, addr);
  await snd.waitFor((l) => l['type'] === 'code');
  await mkdir(out);
  return { code, out, s, r, addr, snd };
}

/**
 * bigSend, its receiver killed -9 once 64 MiB are checkpointed, then the
 * sender killed -9 and run again with the same code and paths; with
 * `forgetSession` its session record is lost in between.
 */
async function bothKilledMidway(opts: { forgetSession?: boolean } = {}) {
  const { code, out, s, r, addr, snd } = await bigSend();
  await killWhenCheckpointed(receive(code, r, out, addr), r, 64 * MiB);
  snd.proc.kill('SIGKILL');
  await snd.exit;
  if (opts.forgetSession) await rm(join(s, 'sessions.json'));
  const snd2 = send([big], code, s, addr);
  await snd2.waitFor((l) => l['type'] === 'code');
  return { code, out, r, addr, snd2 };
}

describe('ferry send / receive through a relay process', () => {
  const transports = onlyLoopback ? (['tcp', 'quic'] as const) : (['tcp'] as const);
  if (!onlyLoopback)
    console.log(
      'e2e over QUIC skipped: needs a loopback-only network namespace (npm test makes one)',
    );

  for (const t of transports) {
    it(`64 MiB over ${t} (relay key pinned in the address): identical output, documented JSON lines`, async () => {
      const { code, out, s, r } = names();
      const addr =
        t === 'tcp' ? `127.0.0.1:${tcpPort}#${pin}` : `quic://127.0.0.1:${quicPort}#${pin}`;
      const snd = send([small], code, s, addr);
      await snd.waitFor((l) => l['type'] === 'code');
      await mkdir(out);
      const rcv = receive(code, r, out, addr);
      expect(await rcv.exit).toBe(0);
      expect(await snd.exit).toBe(0);
      expect(await sha(join(out, 'data64.bin'))).toBe(await sha(small));
      expect(rcv.lines.find((l) => l['type'] === 'connected')).toMatchObject({
        path: 'relay',
        transport: t,
      });
      expect(snd.lines.find((l) => l['type'] === 'code')).toEqual({ type: 'code', code });
      expect(rcv.lines.at(-1)).toMatchObject({
        type: 'completed',
        files: [{ path: 'data64.bin', size: 64 * MiB, merkle_root: expect.any(String) }],
        bytes_transferred: 64 * MiB,
        bytes_skipped: 0,
      });
      expect(
        rcv.lines.some((l) => l['type'] === 'progress' && typeof l['bytes'] === 'number'),
      ).toBe(true);
      await rm(out, { recursive: true }); // keep disk use low: some CI machines have little free
    }, 120_000);
  }

  it.skipIf(!onlyLoopback)(
    'with LAN discovery on as well, the receiver finds the sender on the LAN and goes direct, not through the relay',
    async () => {
      const { code, out, s, r } = names();
      const addr = `127.0.0.1:${tcpPort}`;
      const args = (side: string[], cfg: string) => [
        ...side,
        '--relay',
        addr,
        '--json',
        '--config-dir',
        cfg,
      ];
      const snd = ferry(args(['send', small, '--code', code], s));
      await snd.waitFor((l) => l['type'] === 'code');
      await mkdir(out);
      const rcv = ferry(args(['receive', code, '--dir', out, '--yes'], r));
      expect(await rcv.exit, rcv.stderr).toBe(0);
      expect(await snd.exit, snd.stderr).toBe(0);
      expect(rcv.lines.find((l) => l['type'] === 'connected')).toMatchObject({ path: 'direct' });
      expect(await sha(join(out, 'data64.bin'))).toBe(await sha(small));
      await rm(out, { recursive: true });
    },
    60_000,
  );

  it('kill -9 of the receiver mid-way, twice, re-run with the same code: resumes while the sender waits', async () => {
    const { code, out, r, addr, snd } = await bigSend();
    await killWhenCheckpointed(receive(code, r, out, addr), r, 64 * MiB);
    await snd.waitFor((l) => l['type'] === 'waiting');
    // Killed again in the resumed session: both sides must still meet under
    // the same rendezvous (the receiver took the second session's before).
    await killWhenCheckpointed(receive(code, r, out, addr), r, 128 * MiB);
    await snd.waitFor(() => snd.lines.filter((l) => l['type'] === 'waiting').length >= 2);
    const again = receive(code, r, out, addr);
    expect(await again.exit).toBe(0);
    expect(await snd.exit).toBe(0);
    const done = again.lines.at(-1)!;
    expect(done['type']).toBe('completed');
    expect(done['bytes_skipped'] as number).toBeGreaterThanOrEqual(128 * MiB);
    expect((done['bytes_transferred'] as number) + (done['bytes_skipped'] as number)).toBe(
      256 * MiB,
    );
    expect(await sha(join(out, 'data256.bin'))).toBe(await sha(big));
    await rm(out, { recursive: true });
  }, 180_000);

  it.skipIf(!hasPrlimit)(
    'the file outgrows what the disk allows: NO_SPACE with a hint, the sender waits, a re-run resumes',
    async () => {
      const { code, out, r, addr, snd } = await bigSend();
      // The kernel refuses writes past 64 MiB in one file (EFBIG), as a FAT32
      // stick does past 4 GiB; the checkpoint and session files stay small.
      const capped = receive(code, r, out, addr, ['prlimit', `--fsize=${64 * MiB}`]);
      expect(await capped.exit).toBe(1);
      const err = capped.lines.at(-1)!;
      expect(err).toMatchObject({ type: 'error', code: 'NO_SPACE' });
      expect(err['message']).toMatch(/cannot write 'data256.bin'.*larger than this file system/);
      expect(err['message']).toMatch(
        /make room or pick another --dir, then run the same command again to resume/,
      );
      expect(await readdir(out)).toEqual(['data256.bin.part']);
      // The sender heard why and waits for the receiver to come back.
      const waiting = await snd.waitFor((l) => l['type'] === 'waiting');
      expect(waiting['reason']).toMatch(/NO_SPACE/);
      const again = receive(code, r, out, addr);
      expect(await again.exit).toBe(0);
      expect(await snd.exit).toBe(0);
      const done = again.lines.at(-1)!;
      expect(done['type']).toBe('completed');
      expect(done['bytes_skipped'] as number).toBeGreaterThanOrEqual(32 * MiB);
      expect(await sha(join(out, 'data256.bin'))).toBe(await sha(big));
      await rm(out, { recursive: true });
    },
    180_000,
  );

  it('kill -9 of both sides, restart the sender with the same code and paths: still resumes', async () => {
    const { code, out, r, addr, snd2 } = await bothKilledMidway();
    const rcv2 = receive(code, r, out, addr);
    expect(await rcv2.exit).toBe(0);
    expect(await snd2.exit).toBe(0);
    expect(rcv2.lines.at(-1)!['bytes_skipped'] as number).toBeGreaterThanOrEqual(64 * MiB);
    expect(await sha(join(out, 'data256.bin'))).toBe(await sha(big));
    await rm(out, { recursive: true });
  }, 180_000);

  it('a sender killed before it recorded the session, run again with the code: the receiver meets it there and resumes, twice', async () => {
    // As if the sender died between the receiver's accept and its own record
    // of the session: it comes back knowing only the code (its key stays).
    const { code, out, r, addr, snd2 } = await bothKilledMidway({ forgetSession: true });
    // The receiver has a record and looks under the resume rendezvous and
    // under the code at once; only the code has the sender.
    await killWhenCheckpointed(receive(code, r, out, addr), r, 128 * MiB);
    await snd2.waitFor((l) => l['type'] === 'waiting');
    // Killed again: the sender now waits under this session's resume
    // rendezvous, which the receiver's record must have taken over.
    const rcv3 = receive(code, r, out, addr);
    expect(await rcv3.exit).toBe(0);
    expect(await snd2.exit).toBe(0);
    const done = rcv3.lines.at(-1)!;
    expect(done['type']).toBe('completed');
    expect(done['bytes_skipped'] as number).toBeGreaterThanOrEqual(128 * MiB);
    expect(await sha(join(out, 'data256.bin'))).toBe(await sha(big));
    await rm(out, { recursive: true });
  }, 180_000);

  for (const t of transports) {
    it(`a relay whose key is not the one pinned (${t}): refused before joining, exit 1, nothing written`, async () => {
      const { code, out, s, r } = names();
      const base = t === 'tcp' ? `127.0.0.1:${tcpPort}` : `quic://127.0.0.1:${quicPort}`;
      const snd = send([small], code, s, base);
      await snd.waitFor((l) => l['type'] === 'code');
      await mkdir(out);
      const other = pin.startsWith('A') ? `B${pin.slice(1)}` : `A${pin.slice(1)}`;
      const rcv = receive(code, r, out, `${base}#${other}`);
      expect(await rcv.exit).toBe(1);
      expect(rcv.lines.at(-1)).toMatchObject({ type: 'error' });
      expect(String(rcv.lines.at(-1)?.['message'])).toMatch(/not the one its address pins/);
      expect(await readdir(out)).toEqual([]);
      snd.proc.kill('SIGINT');
      expect(await snd.exit).toBe(130);
    }, 60_000);
  }

  it('a wrong code: clear error on both sides, exit 1, nothing written', async () => {
    const { code, out, s, r } = names();
    const addr = `127.0.0.1:${tcpPort}`;
    const snd = send([small], code, s, addr);
    await snd.waitFor((l) => l['type'] === 'code');
    await mkdir(out);
    const wrong = code.replace('stone', 'stove'); // a valid word, just not the right one
    const rcv = receive(wrong, r, out, addr);
    expect(await rcv.exit).toBe(1);
    expect(await snd.exit).toBe(1);
    expect(rcv.lines.at(-1)).toMatchObject({ type: 'error', code: 'WRONG_CODE' });
    expect(snd.lines.at(-1)).toMatchObject({ type: 'error', code: 'WRONG_CODE' });
    expect(await readdir(out)).toEqual([]);
  }, 60_000);

  it('bad input exits 2 with a usage message', async () => {
    const p = ferry(['receive', 'not-a-code', '--yes', '--relay', `127.0.0.1:${tcpPort}`]);
    expect(await p.exit).toBe(2);
    expect(p.stderr).toMatch(/code/i);
    const q = ferry([
      'send',
      join(dir, 'missing.bin'),
      '--relay',
      `127.0.0.1:${tcpPort}`,
      '--json',
      '--config-dir',
      join(dir, 'bad-input'),
    ]);
    expect(await q.exit).toBe(1);
    expect(q.lines.at(-1)).toMatchObject({ type: 'error', code: 'IO' });
    // A folder that is not there is said before connecting (no sender needed).
    const missing = join(dir, 'no-such-folder');
    const r = ferry([
      'receive',
      '5-apple-river-stone',
      '--yes',
      '--dir',
      missing,
      '--json',
      '--relay',
      `127.0.0.1:${tcpPort}`,
      '--config-dir',
      join(dir, 'bad-dir'),
    ]);
    expect(await r.exit).toBe(2);
    expect(r.lines).toEqual([
      {
        type: 'error',
        code: 'USAGE',
        message: `--dir ${missing}: no such folder (create it first)`,
      },
    ]);
  }, 30_000);
});

describe('a relay that flips a byte in transit', () => {
  it('fails the transfer with an integrity error and nothing lands under the final name', async () => {
    // A test-only relay: the real room logic, but every byte it forwards to
    // the receiver passes a shim that flips one byte deep inside the stream.
    const rooms = new RelayRooms({ log: () => undefined });
    const cert = createSelfSignedCert(generateIdentity());
    let clients = 0;
    const server = createServer(
      { key: cert.keyPem, cert: cert.certPem, minVersion: 'TLSv1.3', allowHalfOpen: true },
      (sock) => {
        clients++;
        const flipAt = clients === 2 ? 5_000_000 : -1; // the second client is the receiver
        let seen = 0;
        const shim = new Duplex({
          allowHalfOpen: true,
          read() {
            sock.resume();
          },
          write(chunk: Buffer, _e, cb) {
            let out = chunk;
            if (flipAt >= seen && flipAt < seen + chunk.length) {
              out = Buffer.from(chunk);
              out[flipAt - seen]! ^= 0x01;
            }
            seen += chunk.length;
            sock.write(out, cb);
          },
          final(cb) {
            sock.end(cb);
          },
          destroy(err, cb) {
            sock.destroy(err ?? undefined);
            cb(err);
          },
        });
        sock.on('data', (d) => {
          if (!shim.push(d)) sock.pause();
        });
        sock.on('end', () => shim.push(null));
        sock.on('error', (e) => shim.destroy(e));
        rooms.accept(shim, '127.0.0.1');
      },
    );
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    const port = (server.address() as { port: number }).port;
    try {
      const { code, out, s, r } = names();
      const addr = `127.0.0.1:${port}`;
      const snd = send([small], code, s, addr);
      await snd.waitFor((l) => l['type'] === 'code');
      await mkdir(out);
      const rcv = receive(code, r, out, addr);
      expect(await rcv.exit).toBe(1);
      await snd.exit;
      expect(rcv.lines.at(-1)).toMatchObject({ type: 'error', code: 'INTEGRITY' });
      expect(await readdir(out)).not.toContain('data64.bin');
    } finally {
      rooms.close();
      server.close();
    }
  }, 60_000);
});

describe('no path to the peer', () => {
  it('send and receive refuse up front with exit 2 when LAN discovery is off and no relay or direct address is given', async () => {
    const env = { FERRY_RELAY: '' };
    const s = ferry(
      ['--no-mdns', 'send', small, '--json', '--config-dir', join(dir, 'nopath')],
      env,
    );
    expect(await s.exit).toBe(2);
    expect(s.lines.some((l) => l['type'] === 'code')).toBe(false);
    expect(s.lines.at(-1)).toMatchObject({ type: 'error', code: 'USAGE' });
    const r = ferry(['--no-mdns', 'receive', '5-apple-river-stone', '--yes', '--json'], env);
    expect(await r.exit).toBe(2);
    expect(r.stderr + JSON.stringify(r.lines)).toMatch(/no relay is configured/);
  }, 30_000);
});

describe('direct connection without a relay', () => {
  it.skipIf(!onlyLoopback)(
    'send --direct / receive --direct: QUIC, identical output',
    async () => {
      const { code, out, s, r } = names();
      // Inside the test namespace nothing else listens; a high random port is free.
      const port = 20_000 + Math.floor(Math.random() * 20_000);
      const snd = ferry(
        [
          'send',
          small,
          '--code',
          code,
          '--direct',
          `127.0.0.1:${port}`,
          '--json',
          '--config-dir',
          s,
        ],
        {
          FERRY_RELAY: '',
        },
      );
      await snd.waitFor((l) => l['type'] === 'code');
      await new Promise((res) => setTimeout(res, 500)); // let the listeners bind
      await mkdir(out);
      const rcv = ferry(
        [
          'receive',
          code,
          '--dir',
          out,
          '--yes',
          '--direct',
          `127.0.0.1:${port}`,
          '--json',
          '--config-dir',
          r,
        ],
        {
          FERRY_RELAY: '',
        },
      );
      expect(await rcv.exit).toBe(0);
      expect(await snd.exit).toBe(0);
      expect(rcv.lines.find((l) => l['type'] === 'connected')).toMatchObject({
        path: 'direct',
        transport: 'quic',
      });
      expect(await sha(join(out, 'data64.bin'))).toBe(await sha(small));
    },
    60_000,
  );
});
