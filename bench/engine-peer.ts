/**
 * One engine-benchmark transfer in a fresh process, so its CPU time and
 * peak RSS are the engine's alone (not the harness's random file, ceilings
 * and disk probe): sender and receiver both run here, over the in-memory
 * link. `src` may be a folder (the many-files benchmark). Prints one JSON line.
 *
 *   node engine-peer.js <src> <outdir> workers|inline|buffered
 *
 * `inline` hashes on the JS thread instead of the hash worker; `buffered`
 * writes through the page cache instead of direct writes (direct-write.ts).
 */
import { generateIdentity } from '../src/engine/crypto/identity.js';
import { LeafHashPool } from '../src/engine/transfer/hash-pool.js';
import { MemorySessionStore } from '../src/engine/transfer/memory-store.js';
import { startReceive } from '../src/engine/transfer/receiver.js';
import { startSend } from '../src/engine/transfer/sender.js';
import { createMemoryStreamPair } from '../src/engine/transport/memory-link.js';
import { churnSweeper, tuneHeap } from '../src/heap.js';
import { cpuSeconds, RssSampler } from './measure.js';

async function main(): Promise<void> {
  tuneHeap(); // as the ferry command does
  const [src, out, mode] = process.argv.slice(2);
  if (!src || !out || (mode !== 'workers' && mode !== 'inline' && mode !== 'buffered')) {
    throw new Error('usage: engine-peer.js <src> <outdir> workers|inline|buffered');
  }
  if (mode === 'inline') LeafHashPool.setShared(new LeafHashPool(0));
  const [a, b] = createMemoryStreamPair();
  const rss = new RssSampler();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const elu0 = performance.eventLoopUtilization();
  const sender = startSend({ stream: a, identity: generateIdentity(), paths: [src] });
  const receiver = startReceive({
    stream: b,
    identity: generateIdentity(),
    targetDir: out,
    store: new MemorySessionStore(),
    directWrites: mode !== 'buffered',
  });
  // Sampled, not read on every event: a snapshot lists every file, so one per
  // event made a transfer of many small files quadratic in the harness.
  let maxWindow = 0;
  const sample = setInterval(() => {
    maxWindow = Math.max(maxWindow, sender.snapshot().window);
  }, 200);
  const [s, r] = await Promise.all([sender.done, receiver.done]);
  clearInterval(sample);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(cpu0);
  const elu = performance.eventLoopUtilization(elu0).utilization;
  const peak = rss.stop();
  if (s.files[0]?.merkleRoot !== r.files[0]?.merkleRoot) throw new Error('roots differ');
  // Both sides hash every chunk: the leaves the pool was asked for.
  const leaves = [sender, receiver].reduce(
    (n, t) => n + t.snapshot().files.reduce((m, f) => m + f.chunks.length, 0),
    0,
  );
  process.stdout.write(
    `${JSON.stringify({ seconds, cpu, elu, peak, maxWindow, files: r.files.length, saved: r.files[0]?.savedAs ?? '', sweeps: { minor: churnSweeper()?.minor, full: churnSweeper()?.full }, stolen: LeafHashPool.shared().stolen, leaves })}\n`,
  );
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`engine-peer: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
