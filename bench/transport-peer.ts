/**
 * The receiving side of a transport benchmark run, in its own process so its
 * CPU and peak RSS are its own. Prints JSON lines: `ready` (with the port it
 * listens on), then `done` with its figures.
 *
 *   node transport-peer.js quic|tcp <outdir>                      (receiver, listens)
 *   node transport-peer.js relay <tcp://host:port> <code> <outdir> (receiver, via relay)
 *   node transport-peer.js send-quic|send-tcp <port> <file>        (sender, dials)
 *   node transport-peer.js send-relay <tcp://host:port> <code> <file>
 */

import { connectViaRelay, parseRelayAddress } from '../src/cli/relay-client.js';
import { parseCode, roomIdFromNameplate } from '../src/engine/crypto/code-phrase.js';
import { generateIdentity } from '../src/engine/crypto/identity.js';
import { MemorySessionStore } from '../src/engine/transfer/memory-store.js';
import { startReceive } from '../src/engine/transfer/receiver.js';
import { startSend } from '../src/engine/transfer/sender.js';
import type { TransferSummary } from '../src/engine/transfer/types.js';
import type { ByteStream, Link } from '../src/engine/transport/link.js';
import { dialQuic, listenQuic } from '../src/engine/transport/quic-link.js';
import { dialTcp, listenTcp } from '../src/engine/transport/tcp-link.js';
import { churnSweeper, tuneHeap } from '../src/heap.js';
import { cpuSeconds, RssSampler } from './measure.js';

const say = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);

/** Run one side to completion and print its `done` line with CPU and peak RSS. */
async function measured(run: () => Promise<TransferSummary>): Promise<void> {
  const rss = new RssSampler();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const s = await run();
  say({
    type: 'done',
    seconds: (performance.now() - t0) / 1000,
    cpu_seconds: cpuSeconds(cpu0),
    peak_rss_mb: rss.stop(),
    peak_external_mb: rss.peakExternal,
    sweeps: churnSweeper() && { minor: churnSweeper()!.minor, full: churnSweeper()!.full },
    root: s.files[0]?.merkleRoot,
  });
}

const auth = (password?: Uint8Array, context?: Uint8Array) => ({
  identity: generateIdentity(),
  ...(password ? { password } : {}),
  ...(context ? { context } : {}),
});

function receive(stream: ByteStream, outdir: string, password?: Uint8Array, context?: Uint8Array) {
  return measured(
    () =>
      startReceive({
        stream,
        targetDir: outdir,
        store: new MemorySessionStore(),
        ...auth(password, context),
      }).done,
  );
}

function send(stream: ByteStream, file: string, password?: Uint8Array, context?: Uint8Array) {
  return measured(() => startSend({ stream, paths: [file], ...auth(password, context) }).done);
}

async function main(): Promise<void> {
  tuneHeap(); // as the ferry command does
  const [mode, a, b, c] = process.argv.slice(2);
  const identity = generateIdentity();
  if (mode === 'send-quic' || mode === 'send-tcp') {
    const port = Number(a);
    const { link } =
      mode === 'send-quic'
        ? await dialQuic({ identity, host: '127.0.0.1', port })
        : await dialTcp({ identity, host: '127.0.0.1', port });
    await send(await link.openStream(), b!);
    await link.close().catch(() => undefined);
    process.exit(0);
  }
  if (mode === 'send-relay') {
    const { nameplate, password } = parseCode(b!);
    const room = roomIdFromNameplate(nameplate);
    const link = await connectViaRelay(parseRelayAddress(a!), { identity, room, role: 'sender' });
    const stream = await link.acceptStream();
    if (!stream) throw new Error('relay link closed');
    await send(stream, c!, password, room);
    await link.close().catch(() => undefined);
    process.exit(0);
  }
  if (mode === 'quic' || mode === 'tcp') {
    const outdir = a!;
    let served = false;
    const onLink = (link: Link) => {
      if (served) return void link.close();
      served = true;
      void link.acceptStream().then(async (stream) => {
        if (!stream) throw new Error('no stream');
        await receive(stream, outdir);
        await link.close().catch(() => undefined);
        process.exit(0);
      });
    };
    const l =
      mode === 'quic'
        ? await listenQuic({ identity, host: '127.0.0.1', port: 0, onLink })
        : await listenTcp({ identity, host: '127.0.0.1', port: 0, onLink });
    say({ type: 'ready', port: l.port });
    return;
  }
  if (mode === 'relay') {
    const { nameplate, password } = parseCode(b!);
    const room = roomIdFromNameplate(nameplate);
    say({ type: 'ready' });
    const link = await connectViaRelay(parseRelayAddress(a!), { identity, room, role: 'receiver' });
    await receive(await link.openStream(), c!, password, room);
    await link.close().catch(() => undefined);
    process.exit(0);
  }
  throw new Error(`unknown mode ${mode}`);
}

main().catch((err) => {
  process.stderr.write(`transport-peer: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
