/**
 * A FerryApp in a process of its own, for kill -9 tests:
 *   node --import tsx test/app/app-child.ts <configDir> [send <path> <fingerprint>]
 * Prints one JSON line per job change ({id, state, bytesDone, total}) and
 * `{"ready":fingerprint}` once it announces itself. mDNS settings come from
 * the environment (FERRY_MDNS_INTERFACE / FERRY_MDNS_PORT).
 */
import { FerryApp } from '../../src/app/ferry-app.js';

const [configDir, cmd, path, peer] = process.argv.slice(2);
const app = await FerryApp.start({ configDir: configDir! });
const say = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
say({ ready: app.snapshot().device.fingerprint });
if (cmd === 'send') {
  // Wait until the peer is seen, then queue the send.
  for (
    let i = 0;
    i < 200 && !app.snapshot().peers.some((p) => p.fingerprint === peer && p.online);
    i++
  ) {
    await new Promise((r) => setTimeout(r, 50));
  }
  say({ queued: await app.sendToPeer([path!], peer!) });
}
let last = '';
setInterval(() => {
  const s = app.snapshot();
  const line = JSON.stringify(
    s.jobs.map((j) => ({
      id: j.id,
      state: j.state,
      bytesDone: j.bytesDone,
      total: j.total,
      resumed: j.events.some((e) => /already there/.test(e.text)),
    })),
  );
  if (line !== last) {
    last = line;
    for (const j of JSON.parse(line) as unknown[]) say({ job: j });
  }
}, 100);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
