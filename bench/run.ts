/**
 * `npm run bench -- <scenario> [--size 256MiB] [--json]`
 * scenarios: engine, transport, files (`--count 3000 --size 4KiB`: a folder of
 * many small files), tui
 *
 * Benchmarks print figures measured side by side in one run; they never
 * assert on wall-clock time (the machine is shared and noisy).
 */
import { spawnSync } from 'node:child_process';
import { networkInterfaces } from 'node:os';
import { engineBench } from './engine.js';
import { filesBench } from './files.js';
import { transportBench } from './transport.js';

const scenarios: Record<string, (args: BenchArgs) => Promise<Record<string, unknown>>> = {
  engine: engineBench,
  transport: transportBench,
  files: filesBench,
  tui: async (a) => (await import('./tui.js')).tuiBench(a),
};

/** Scenarios that open network sockets run in a loopback-only namespace when one can be made. */
const NEEDS_NETNS = new Set(['transport']);

function onlyLoopback(): boolean {
  return Object.values(networkInterfaces()).every((a) => (a ?? []).every((x) => x.internal));
}

/** Re-run this process inside `unshare -rn` (QUIC's dial socket binds 0.0.0.0). True if it did. */
function reexecInNetns(): boolean {
  if (onlyLoopback()) return false;
  const probe = spawnSync('unshare', ['-rn', 'sh', '-c', 'ip link set lo up'], { stdio: 'ignore' });
  if (probe.status !== 0) {
    process.stderr.write('bench: no network namespace available; running on the host loopback\n');
    return false;
  }
  const args = [...process.execArgv, ...process.argv.slice(1)].map(
    (a) => `'${a.replaceAll("'", "'\\''")}'`,
  );
  const r = spawnSync(
    'unshare',
    ['-rn', 'sh', '-c', `ip link set lo up && exec '${process.execPath}' ${args.join(' ')}`],
    {
      stdio: 'inherit',
    },
  );
  process.exit(r.status ?? 1);
}

/** Parsed command-line options shared by all scenarios. */
export interface BenchArgs {
  readonly size: number;
  readonly json: boolean;
  /** Also compare SHA-256 of input and output (slower; used by the opt-in slow test). */
  readonly verify: boolean;
  readonly log: (line: string) => void;
  /** The raw command line, for a scenario's own options. */
  readonly argv: readonly string[];
}

/** The value after `--name` on the command line, if given. */
export function optionValue(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** Parse sizes like 1GiB, 256MiB, 64MB, 1000000. */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$/i.exec(s.trim());
  if (!m) throw new RangeError(`--size: cannot parse '${s}' (try 256MiB or 1GiB)`);
  const units: Record<string, number> = {
    b: 1,
    kb: 1e3,
    kib: 1024,
    mb: 1e6,
    mib: 1024 ** 2,
    gb: 1e9,
    gib: 1024 ** 3,
  };
  return Math.round(Number(m[1]) * (units[(m[2] ?? 'b').toLowerCase()] ?? 1));
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const name = argv.find((a) => !a.startsWith('--')) ?? 'engine';
  const sizeIdx = argv.indexOf('--size');
  const json = argv.includes('--json');
  const size = sizeIdx >= 0 ? parseSize(argv[sizeIdx + 1] ?? '') : 1024 ** 3;
  if (NEEDS_NETNS.has(name) && reexecInNetns()) return;
  const run = scenarios[name];
  if (!run) {
    process.stderr.write(
      `unknown scenario '${name}'; known: ${Object.keys(scenarios).join(', ')}\n`,
    );
    process.exit(2);
  }
  const verify = argv.includes('--verify');
  const log = (l: string) => process.stdout.write(`${l}\n`);
  const result = await run({ size, json, verify, log, argv });
  if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
