/** Measurement helpers shared by the benchmarks. */

import { createCipheriv, createHash, randomBytes, randomFillSync } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { ChunkSlots } from '../src/engine/transfer/chunk-slots.js';
import { DirectWrites } from '../src/engine/transfer/direct-write.js';
import { ChunkHasher } from '../src/engine/transfer/merkle.js';

/** Samples RSS every 25 ms; `peakMb` is the highest seen. */
export class RssSampler {
  #peak = process.memoryUsage.rss();
  #peakExternal = 0;
  readonly #timer = setInterval(() => {
    this.#peak = Math.max(this.#peak, process.memoryUsage.rss());
    this.#peakExternal = Math.max(this.#peakExternal, getHeapStatistics().external_memory);
  }, 25);

  /** Stop sampling and return the peak in MB. */
  stop(): number {
    clearInterval(this.#timer);
    this.#peak = Math.max(this.#peak, process.memoryUsage.rss());
    return this.#peak / 1e6;
  }

  /** The most memory V8 held outside its heap (buffers) while sampling, in MB. */
  get peakExternal(): number {
    return this.#peakExternal / 1e6;
  }
}

/** CPU seconds (user + system) since `start`. */
export function cpuSeconds(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1e6;
}

/** Write `size` random bytes to `path` in 8 MiB pieces (bounded memory). */
export async function writeRandomFile(path: string, size: number): Promise<void> {
  const fh = await open(path, 'w');
  const buf = Buffer.allocUnsafe(8 * 1024 * 1024);
  try {
    for (let off = 0; off < size; off += buf.length) {
      const n = Math.min(buf.length, size - off);
      randomFillSync(buf, 0, n);
      await fh.write(buf, 0, n);
    }
  } finally {
    await fh.close();
  }
}

function timed(seconds: number, step: () => number): number {
  let bytes = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) bytes += step();
  return bytes / ((performance.now() - t0) / 1000) / 1e6;
}

/** Single-core aes-256-gcm encrypt rate (MB/s) on 1 MiB frames, as the engine uses it. */
export function aesGcmCeiling(seconds = 1): number {
  const key = randomBytes(32);
  const data = randomBytes(1024 * 1024);
  let n = 0n;
  return timed(seconds, () => {
    const iv = Buffer.alloc(12);
    iv.writeBigUInt64BE(n++, 4);
    const c = createCipheriv('aes-256-gcm', key, iv);
    c.update(data);
    c.final();
    c.getAuthTag();
    return data.length;
  });
}

/** Single-core BLAKE3 leaf-hash rate (MB/s) on 1 MiB chunks with the engine's hasher. */
export async function blake3Ceiling(seconds = 1): Promise<number> {
  const hasher = await ChunkHasher.create();
  const data = randomBytes(1024 * 1024);
  return timed(seconds, () => {
    hasher.leaf(data);
    return data.length;
  });
}

/**
 * CPU seconds to copy `src` to `dst` the way the engine touches the disk:
 * 1 MiB reads, 1 MiB positional writes (direct where the receiver would
 * write direct, see direct-write.ts; `buffered` forces page-cache writes),
 * one fsync. Both the read and the write side of a transfer pay this, so it
 * is ferry's disk share per byte.
 */
export async function diskCopyCost(src: string, dst: string, buffered = false): Promise<number> {
  const chunk = 1024 * 1024;
  const cpu0 = process.cpuUsage();
  const direct = buffered ? null : await DirectWrites.at(dirname(dst), chunk);
  const inp = await open(src, 'r');
  const out = await open(dst, 'w');
  const buf = new ChunkSlots(chunk, 1).take() ?? Buffer.allocUnsafe(chunk);
  try {
    for (let pos = 0; ; ) {
      const { bytesRead } = await inp.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      const data = buf.subarray(0, bytesRead);
      let off = direct ? await direct.write(out, data, pos) : 0;
      while (off < bytesRead) {
        const { bytesWritten } = await out.write(data, off, bytesRead - off, pos + off);
        off += bytesWritten;
      }
      pos += bytesRead;
    }
    await direct?.close(out);
    await out.sync();
  } finally {
    await inp.close();
    await out.close();
  }
  return cpuSeconds(cpu0);
}

/**
 * The work every transferred byte costs, in CPU-ms per MB, from figures
 * measured in the same run: the sender and the receiver each hash it
 * (BLAKE3) and seal or open it (AES-256-GCM), and it is read from one disk
 * and written to another.
 */
export function ferryWorkMsPerMb(blake3Mbps: number, aesMbps: number, diskMsPerMb: number): number {
  return 2 * (1000 / blake3Mbps) + 2 * (1000 / aesMbps) + diskMsPerMb;
}

/** SHA-256 hex of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}
