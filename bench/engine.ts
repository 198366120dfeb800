/**
 * Engine benchmark: one file of `--size` random bytes from disk to disk
 * through the in-memory link, sender and receiver in this one process, so
 * every byte is hashed twice (BLAKE3), sealed and opened (AES-256-GCM), read
 * and written, all on one JS thread. Prints the engine's rate beside the
 * single-core ceilings of AES-256-GCM and BLAKE3 measured in the same run.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateIdentity } from '../src/engine/crypto/identity.js';
import { LeafHashPool } from '../src/engine/transfer/hash-pool.js';
import { MemorySessionStore } from '../src/engine/transfer/memory-store.js';
import { startReceive } from '../src/engine/transfer/receiver.js';
import { startSend } from '../src/engine/transfer/sender.js';
import { createMemoryStreamPair } from '../src/engine/transport/memory-link.js';
import {
  aesGcmCeiling,
  blake3Ceiling,
  cpuSeconds,
  RssSampler,
  sha256File,
  writeRandomFile,
} from './measure.js';
import type { BenchArgs } from './run.js';

/** Run the engine scenario. */
export async function engineBench({
  size,
  log,
  verify,
}: BenchArgs): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-'));
  try {
    const src = join(dir, 'src.bin');
    const dst = join(dir, 'out');
    log(`engine: writing ${(size / 2 ** 20).toFixed(0)} MiB of random data…`);
    await writeRandomFile(src, size);
    await mkdir(dst);

    const aes = aesGcmCeiling();
    const blake3 = await blake3Ceiling();
    globalThis.gc?.();

    const run = async (label: string) => {
      const out = join(dst, label);
      await mkdir(out);
      globalThis.gc?.();
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
      });
      let maxWindow = 0;
      sender.on(() => {
        maxWindow = Math.max(maxWindow, sender.snapshot().window);
      });
      const [s, r] = await Promise.all([sender.done, receiver.done]);
      const seconds = (performance.now() - t0) / 1000;
      const cpu = cpuSeconds(cpu0);
      const elu = performance.eventLoopUtilization(elu0).utilization;
      const peak = rss.stop();
      if (s.files[0]?.merkleRoot !== r.files[0]?.merkleRoot) throw new Error('roots differ');
      return { seconds, cpu, elu, peak, maxWindow, saved: r.files[0]?.savedAs ?? '' };
    };
    // Hash workers (the default) first, so its RSS is not inflated by the other run.
    const { seconds, cpu, elu, peak, maxWindow, saved } = await run('workers');
    LeafHashPool.setShared(new LeafHashPool(0));
    const inline = await run('inline');
    const inlineMbps = size / inline.seconds / 1e6;
    const mbps = size / seconds / 1e6;
    let sha256Equal: boolean | undefined;
    if (verify) {
      sha256Equal = (await sha256File(src)) === (await sha256File(saved));
      log(`  verify: SHA-256 of output ${sha256Equal ? 'equals' : 'DIFFERS FROM'} the source`);
    }
    log(
      `engine: ${(size / 2 ** 20).toFixed(0)} MiB in ${seconds.toFixed(2)} s = ${mbps.toFixed(0)} MB/s`,
    );
    log(
      `  cpu ${cpu.toFixed(2)} s (${((cpu / seconds) * 100).toFixed(0)} % of one core; JS thread busy ${(elu * 100).toFixed(0)} %), peak RSS ${peak.toFixed(0)} MB, window up to ${maxWindow} chunks`,
    );
    log(
      `  ceilings (one core, same run): aes-256-gcm ${aes.toFixed(0)} MB/s, BLAKE3 ${blake3.toFixed(0)} MB/s`,
    );
    log(
      `  engine / BLAKE3 = ${(mbps / blake3).toFixed(2)} (target ≥ 0.40), engine / AES-GCM = ${(mbps / aes).toFixed(2)}`,
    );
    log(`  RSS ${peak <= 150 ? 'within' : 'OVER'} the 150 MB budget`);
    log(
      `  same transfer hashing inline on the JS thread: ${inlineMbps.toFixed(0)} MB/s ` +
        `(workers / inline = ${(mbps / inlineMbps).toFixed(2)}), cpu ${inline.cpu.toFixed(2)} s, peak RSS ${inline.peak.toFixed(0)} MB`,
    );
    return {
      scenario: 'engine',
      bytes: size,
      seconds,
      mbps,
      cpu_seconds: cpu,
      js_thread_busy: elu,
      peak_rss_mb: peak,
      aes_gcm_mbps: aes,
      blake3_mbps: blake3,
      ratio_blake3: mbps / blake3,
      ratio_aes: mbps / aes,
      max_window: maxWindow,
      inline_hash_mbps: inlineMbps,
      inline_hash_peak_rss_mb: inline.peak,
      ...(sha256Equal === undefined ? {} : { sha256_equal: sha256Equal }),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
