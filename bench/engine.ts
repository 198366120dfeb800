/**
 * Engine benchmark: one file of `--size` random bytes from disk to disk
 * through the in-memory link, sender and receiver in one process (a fresh
 * child, engine-peer.ts, so CPU and peak RSS are the transfer's own), so
 * every byte is hashed twice (BLAKE3), sealed and opened (AES-256-GCM), read
 * and written, all on one JS thread and the hash worker. Prints the engine's
 * rate beside the single-core ceilings of AES-256-GCM and BLAKE3 and the
 * machine's disk cost, measured in the same run, and the bound they set.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  aesGcmCeiling,
  blake3Ceiling,
  diskCopyCost,
  ferryWorkMsPerMb,
  sha256File,
  writeRandomFile,
} from './measure.js';
import type { BenchArgs } from './run.js';

const execFileAsync = promisify(execFile);

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
    const copy = join(dir, 'copy.bin');
    const diskMsPerMb = ((await diskCopyCost(src, copy)) * 1000) / (size / 1e6);
    await rm(copy);
    const bufferedDiskMsPerMb = ((await diskCopyCost(src, copy, true)) * 1000) / (size / 1e6);
    await rm(copy);
    // What the work per byte allows on this machine if every core were busy
    // with nothing else and the work split perfectly among them.
    const cores = availableParallelism();
    const workMsPerMb = ferryWorkMsPerMb(blake3, aes, diskMsPerMb);
    const boundMbps = (cores * 1000) / workMsPerMb;
    globalThis.gc?.();

    const run = async (label: 'workers' | 'inline' | 'buffered') => {
      const out = join(dst, label);
      await mkdir(out);
      const { stdout } = await execFileAsync(
        process.execPath,
        [fileURLToPath(new URL('./engine-peer.js', import.meta.url)), src, out, label],
        { maxBuffer: 1024 * 1024 },
      );
      return JSON.parse(stdout.trim().split('\n').at(-1)!) as {
        seconds: number;
        cpu: number;
        elu: number;
        peak: number;
        maxWindow: number;
        saved: string;
        stolen: number;
        leaves: number;
      };
    };
    // Each run in a fresh process: CPU and peak RSS are the transfer's own.
    const { seconds, cpu, elu, peak, maxWindow, saved, stolen, leaves } = await run('workers');
    const inline = await run('inline');
    const inlineMbps = size / inline.seconds / 1e6;
    const buffered = await run('buffered');
    const bufferedMbps = size / buffered.seconds / 1e6;
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
      `  leaves hashed on the JS thread while the hash worker had a backlog: ${stolen} of ${leaves} (docs/adr/0014)`,
    );
    log(
      `  ceilings (one core, same run): aes-256-gcm ${aes.toFixed(0)} MB/s, BLAKE3 ${blake3.toFixed(0)} MB/s`,
    );
    log(
      `  engine / BLAKE3 = ${(mbps / blake3).toFixed(2)} (target ≥ 0.40), engine / AES-GCM = ${(mbps / aes).toFixed(2)}`,
    );
    log(
      `  work per MB, both sides: 2 × BLAKE3 ${(1000 / blake3).toFixed(2)} ms + 2 × AES-GCM ${(1000 / aes).toFixed(2)} ms + disk read and write (direct) ${diskMsPerMb.toFixed(2)} ms = ${workMsPerMb.toFixed(2)} CPU-ms`,
    );
    log(
      `  bound on ${cores} core(s), perfectly shared: ${boundMbps.toFixed(0)} MB/s = ${(boundMbps / blake3).toFixed(2)} × BLAKE3; the engine reaches ${((mbps / boundMbps) * 100).toFixed(0)} % of it`,
    );
    log(`  RSS ${peak <= 150 ? 'within' : 'OVER'} the 150 MB budget`);
    log(
      `  same transfer hashing inline on the JS thread: ${inlineMbps.toFixed(0)} MB/s ` +
        `(workers / inline = ${(mbps / inlineMbps).toFixed(2)}), cpu ${inline.cpu.toFixed(2)} s, peak RSS ${inline.peak.toFixed(0)} MB`,
    );
    log(
      `  same transfer writing through the page cache (no direct writes): ${bufferedMbps.toFixed(0)} MB/s ` +
        `(direct / buffered = ${(mbps / bufferedMbps).toFixed(2)}), cpu ${buffered.cpu.toFixed(2)} s, peak RSS ${buffered.peak.toFixed(0)} MB; ` +
        `disk share that way ${bufferedDiskMsPerMb.toFixed(2)} ms per MB`,
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
      disk_ms_per_mb: diskMsPerMb,
      work_ms_per_mb: workMsPerMb,
      cores,
      bound_mbps: boundMbps,
      ratio_bound: mbps / boundMbps,
      max_window: maxWindow,
      hashed_on_js_thread: stolen,
      inline_hash_mbps: inlineMbps,
      inline_hash_peak_rss_mb: inline.peak,
      buffered_write_mbps: bufferedMbps,
      buffered_write_peak_rss_mb: buffered.peak,
      buffered_disk_ms_per_mb: bufferedDiskMsPerMb,
      ...(sha256Equal === undefined ? {} : { sha256_equal: sha256Equal }),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
