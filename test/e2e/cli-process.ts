/** Running `ferry` as a real process in tests: JSON lines, stderr, exit code. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** True when this process sees only loopback (inside `unshare -rn`, as `npm test` runs). */
export const onlyLoopback = Object.values(networkInterfaces()).every((addrs) =>
  (addrs ?? []).every((a) => a.internal),
);

/** A running ferry process. */
export interface FerryProcess {
  readonly proc: ChildProcess;
  readonly lines: Record<string, unknown>[];
  stderr: string;
  readonly exit: Promise<number>;
  /** Resolves with the first JSON line matching `pred` (rejects after `ms` or on exit). */
  waitFor(
    pred: (l: Record<string, unknown>) => boolean,
    ms?: number,
  ): Promise<Record<string, unknown>>;
}

/**
 * mDNS for every process a test file starts: loopback only, on a port of
 * its own so parallel test files never see each other (and never the
 * default options, which would announce on the real LAN).
 */
export const mdnsEnv = {
  FERRY_MDNS_INTERFACE: '127.0.0.1',
  FERRY_MDNS_PORT: String(20_000 + Math.floor(Math.random() * 30_000)),
};

const running = new Set<ChildProcess>();

/**
 * SIGKILL every ferry process a test started and left running but `keep`
 * (a failed test's sender still waiting, say), so the test file ends
 * instead of hanging on their pipes. Returns how many there were.
 */
export async function killLeftovers(keep: readonly FerryProcess[] = []): Promise<number> {
  const left = [...running].filter((p) => !keep.some((k) => k.proc === p));
  for (const p of left) p.kill('SIGKILL');
  await Promise.all(left.map((p) => (p.exitCode === null ? once(p, 'exit') : null)));
  return left.length;
}

/**
 * Start `ferry <args>` from the sources (via tsx); `wrap` runs it under
 * another command (e.g. `prlimit --fsize=N`).
 */
export function ferry(
  args: string[],
  env: Record<string, string> = {},
  wrap: string[] = [],
): FerryProcess {
  const argv = [process.execPath, '--import', 'tsx', 'src/cli.ts', ...args];
  const [cmd, ...rest] = [...wrap, ...argv];
  const proc = spawn(cmd!, rest, {
    cwd: root,
    env: { ...process.env, ...mdnsEnv, ...env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  proc.once('exit', () => running.delete(proc));
  const lines: Record<string, unknown>[] = [];
  const waiters: {
    pred: (l: Record<string, unknown>) => boolean;
    resolve: (l: Record<string, unknown>) => void;
  }[] = [];
  let buf = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      nl = buf.indexOf('\n');
      try {
        const l = JSON.parse(text) as Record<string, unknown>;
        lines.push(l);
        for (const w of [...waiters]) {
          if (w.pred(l)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(l);
          }
        }
      } catch {
        // human text on stdout would be a bug, but never a crash of the test
      }
    }
  });
  const p: FerryProcess = {
    proc,
    lines,
    stderr: '',
    exit: new Promise((resolve) =>
      proc.on('exit', (code, sig) => resolve(code ?? (sig ? 128 + 9 : -1))),
    ),
    waitFor(pred, ms = 30_000) {
      const found = lines.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`no matching line within ${ms} ms; stderr:\n${p.stderr}`)),
          ms,
        );
        waiters.push({
          pred,
          resolve: (l) => {
            clearTimeout(t);
            resolve(l);
          },
        });
        void p.exit.then(() => {
          setTimeout(() => {
            clearTimeout(t);
            reject(new Error(`process exited before a matching line; stderr:\n${p.stderr}`));
          }, 50);
        });
      });
    },
  };
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
    p.stderr += d;
  });
  return p;
}

/** Wait until the receiver's checkpoint on disk claims at least `bytes`, then SIGKILL it. */
export async function killWhenCheckpointed(
  p: FerryProcess,
  cfg: string,
  bytes: number,
): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const files = await readdir(join(cfg, 'sessions')).catch(() => [] as string[]);
    for (const f of files.filter((x) => x.endsWith('.json'))) {
      const cp = JSON.parse(await readFile(join(cfg, 'sessions', f), 'utf8').catch(() => '{}')) as {
        chunkSize?: number;
        files?: { leaves: { present: string } }[];
      };
      const present = cp.files?.[0]?.leaves.present;
      if (present && cp.chunkSize) {
        const bits = [...Buffer.from(present, 'base64')].reduce((s, b) => s + popcount(b), 0);
        if (bits * cp.chunkSize >= bytes) {
          p.proc.kill('SIGKILL');
          await p.exit;
          return;
        }
      }
    }
    if (p.proc.exitCode !== null)
      throw new Error(`receiver ended before it could be killed:\n${p.stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('receiver never checkpointed enough');
}

function popcount(b: number): number {
  let c = 0;
  for (let v = b; v; v &= v - 1) c++;
  return c;
}
