/**
 * Adaptive per-chunk compression (raw deflate, node:zlib).
 *
 * A file starts in "probe" mode: a 32 KiB sample of a chunk is deflated
 * synchronously at level 1 (~0.1 ms); only if it shrinks below 90 % is the
 * whole chunk compressed (asynchronously, on libuv's thread pool, so it runs
 * beside hashing on the main thread). A chunk is sent compressed only when
 * that saves at least 5 %; otherwise the file goes back to probing every
 * 32nd chunk. On random data the cost is one 32 KiB sample per 32 chunks.
 *
 * A chunk no larger than the sample (a small file's only chunk) is judged by
 * its byte histogram instead: a zlib call costs ~70 µs here whatever the
 * size (most of it setting up the stream), a histogram of 4 KiB ~5 µs, and a
 * folder of small files probes every file.
 */
import { promisify } from 'node:util';
import { constants, deflateRaw, deflateRawSync, inflateRaw } from 'node:zlib';
import { IntegrityError } from '../errors.js';

const deflateAsync = promisify(deflateRaw);
const inflateAsync = promisify(inflateRaw);
const SAMPLE_BYTES = 32 * 1024;
const PROBE_EVERY = 32;
/** Below this many bits per byte (order-0 entropy) a small chunk is worth deflating. */
const SMALL_CHUNK_MAX_ENTROPY = 7;

/** Order-0 entropy of `data` in bits per byte (8 for uniform random bytes). */
export function byteEntropy(data: Uint8Array): number {
  const counts = new Uint32Array(256);
  for (let i = 0; i < data.length; i++) counts[data[i]!]!++;
  let h = 0;
  for (let b = 0; b < 256; b++) {
    const c = counts[b]!;
    if (c === 0) continue;
    const p = c / data.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/** Decides per file and chunk whether compressing pays. */
export class CompressionPolicy {
  readonly #enabled: boolean;
  readonly #files = new Map<number, { compressing: boolean; sinceProbe: number }>();

  constructor(enabled: boolean) {
    this.#enabled = enabled;
  }

  /**
   * The payload to send for `chunk` of `file`: compressed (and `true`) when
   * it pays, else the chunk itself (and `false`).
   */
  async encode(file: number, chunk: Uint8Array): Promise<[Uint8Array, boolean]> {
    if (!this.#enabled || chunk.length < 1024) return [chunk, false];
    let st = this.#files.get(file);
    if (!st) {
      st = { compressing: false, sinceProbe: PROBE_EVERY };
      this.#files.set(file, st);
    }
    if (!st.compressing) {
      if (++st.sinceProbe < PROBE_EVERY) return [chunk, false];
      st.sinceProbe = 0;
      if (chunk.length <= SAMPLE_BYTES) {
        if (byteEntropy(chunk) >= SMALL_CHUNK_MAX_ENTROPY) return [chunk, false];
      } else {
        const sample = chunk.subarray(0, SAMPLE_BYTES);
        const probe = deflateRawSync(sample, { level: 1 });
        if (probe.length > sample.length * 0.9) return [chunk, false];
      }
      st.compressing = true;
    }
    const packed = await deflateAsync(chunk, { level: 1, strategy: constants.Z_DEFAULT_STRATEGY });
    if (packed.length <= chunk.length * 0.95) return [packed, true];
    st.compressing = false;
    return [chunk, false];
  }
}

/** Inflate a compressed payload that must expand to exactly `length` bytes. */
export async function decompressChunk(payload: Uint8Array, length: number): Promise<Buffer> {
  let out: Buffer;
  try {
    // maxOutputLength caps a decompression bomb at the chunk's declared length.
    out = await inflateAsync(payload, { maxOutputLength: Math.max(length, 1) });
  } catch (cause) {
    throw new IntegrityError('compressed chunk does not inflate to its declared length', { cause });
  }
  if (out.length !== length) {
    throw new IntegrityError(
      `compressed chunk inflated to ${out.length} bytes, expected ${length}`,
    );
  }
  return out;
}
