/**
 * Many-files benchmark: a folder of `--count` files of `--size` bytes each
 * (default 3000 × 4 KiB, a source tree or a photo folder's worth of small
 * files) through the engine over the in-memory link, both sides in one fresh
 * process (engine-peer.ts), as in the engine benchmark.
 *
 * Here the bytes are nothing; the cost is per file. Beside ferry, measured
 * in the same run, the floor of what the receiver must do for each file to
 * be safe on disk, one file after another: read the source, create
 * `<name>.part` exclusively, write it, chmod, fsync, close, link it to its
 * name and unlink the part. Ferry adds the handshake, the offer, a control
 * message or two per file, hashing and sealing.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { link, mkdir, mkdtemp, open, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cpuSeconds } from './measure.js';
import { type BenchArgs, optionValue, parseSize } from './run.js';

const execFileAsync = promisify(execFile);

/** Files per sub-folder, so the tree has folders as real ones do. */
const PER_FOLDER = 100;

/** Copy every file the way the receiver places one, sequentially; returns wall and CPU seconds. */
async function placementFloor(
  src: string,
  dst: string,
  count: number,
): Promise<{ seconds: number; cpu: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const rel = join(`d${Math.floor(i / PER_FOLDER)}`, `f${i}.bin`);
    if (i % PER_FOLDER === 0) await mkdir(join(dst, `d${i / PER_FOLDER}`));
    const data = await readFile(join(src, rel));
    const part = join(dst, `${rel}.part`);
    const fh = await open(part, 'wx', 0o600);
    try {
      await fh.write(data, 0, data.length, 0);
      await fh.chmod(0o644);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await link(part, join(dst, rel));
    await unlink(part);
  }
  return { seconds: (performance.now() - t0) / 1000, cpu: cpuSeconds(cpu0) };
}

/** Run the many-files scenario. */
export async function filesBench({ argv, log }: BenchArgs): Promise<Record<string, unknown>> {
  const count = Number(optionValue(argv, 'count') ?? 3000);
  if (!(Number.isInteger(count) && count > 0)) throw new RangeError('--count: a whole number > 0');
  const sizeArg = optionValue(argv, 'size');
  const fileSize = sizeArg === undefined ? 4096 : parseSize(sizeArg);
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-files-'));
  try {
    const src = join(dir, 'tree');
    log(`files: writing ${count} files of ${fileSize} bytes…`);
    for (let i = 0; i < count; i++) {
      if (i % PER_FOLDER === 0) await mkdir(join(src, `d${i / PER_FOLDER}`), { recursive: true });
      await writeFile(
        join(src, `d${Math.floor(i / PER_FOLDER)}`, `f${i}.bin`),
        randomBytes(fileSize),
      );
    }

    const floorDir = join(dir, 'floor');
    await mkdir(floorDir);
    const floor = await placementFloor(src, floorDir, count);
    await rm(floorDir, { recursive: true });

    const out = join(dir, 'out');
    await mkdir(out);
    const { stdout } = await execFileAsync(
      process.execPath,
      [fileURLToPath(new URL('./engine-peer.js', import.meta.url)), src, out, 'workers'],
      { maxBuffer: 1024 * 1024 },
    );
    const r = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
      seconds: number;
      cpu: number;
      elu: number;
      peak: number;
      files: number;
    };
    if (r.files !== count) throw new Error(`ferry delivered ${r.files} of ${count} files`);

    const filesPerS = count / r.seconds;
    const floorPerS = count / floor.seconds;
    log(
      `files: ${count} × ${fileSize} B in ${r.seconds.toFixed(2)} s = ${filesPerS.toFixed(0)} files/s (${((count * fileSize) / r.seconds / 1e6).toFixed(1)} MB/s)`,
    );
    log(
      `  cpu ${r.cpu.toFixed(2)} s = ${((r.cpu * 1000) / count).toFixed(2)} ms per file, both sides (JS thread busy ${(r.elu * 100).toFixed(0)} %), peak RSS ${r.peak.toFixed(0)} MB`,
    );
    log(
      `  floor, same run (read, create .part, write, chmod, fsync, close, link, unlink; one file at a time): ${floor.seconds.toFixed(2)} s = ${floorPerS.toFixed(0)} files/s, cpu ${((floor.cpu * 1000) / count).toFixed(2)} ms per file`,
    );
    log(`  ferry / floor = ${(filesPerS / floorPerS).toFixed(2)}`);
    return {
      scenario: 'files',
      files: count,
      file_bytes: fileSize,
      bytes: count * fileSize,
      seconds: r.seconds,
      mbps: (count * fileSize) / r.seconds / 1e6,
      files_per_s: filesPerS,
      cpu_seconds: r.cpu,
      js_thread_busy: r.elu,
      peak_rss_mb: r.peak,
      floor_seconds: floor.seconds,
      floor_files_per_s: floorPerS,
      floor_cpu_seconds: floor.cpu,
      ratio_floor: filesPerS / floorPerS,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
