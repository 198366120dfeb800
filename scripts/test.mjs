// `npm test`: typecheck, lint, then vitest. Vitest runs inside a fresh
// network namespace that has only loopback (`unshare -rn`) whenever the
// kernel allows it, so no test can reach a real interface, whatever a socket
// binds to (the QUIC binding's dial socket binds 0.0.0.0). Where namespaces
// are unavailable, tests run as they are and the QUIC tests skip with a reason.
import { spawnSync } from 'node:child_process';

const extra = process.argv.slice(2);
const step = (cmd, args) => {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

step(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json', '--noEmit']);
step(process.execPath, [
  'node_modules/@biomejs/biome/bin/biome',
  'check',
  '--error-on-warnings',
  '.',
]);

const vitest = [process.execPath, 'node_modules/vitest/vitest.mjs', 'run', ...extra];
const probe = spawnSync('unshare', ['-rn', 'sh', '-c', 'ip link set lo up'], { stdio: 'ignore' });
if (process.env.FERRY_NO_NETNS !== '1' && probe.status === 0) {
  console.log('ferry: running tests in a loopback-only network namespace (unshare -rn)');
  const quoted = vitest.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  step('unshare', ['-rn', 'sh', '-c', `ip link set lo up && exec ${quoted}`]);
} else {
  console.log('ferry: no network namespace available; tests that need one will skip');
  step(vitest[0], vitest.slice(1));
}
