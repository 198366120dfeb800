// Record other platforms' optional binary packages in package-lock.json.
//
// The registry mirror on our machines serves only this platform's binaries
// (e.g. @biomejs/cli-win32-x64 answers 404), so `npm install` cannot record
// the others and `npm ci` then refuses the lock as out of sync. This adds an
// entry for each missing optional dependency with the os/cpu/libc its name
// states, so `npm ci` sees the lock in sync and skips them on other platforms.
// Run after any `npm install` that changes the lock: `node scripts/lock-platforms.mjs`.
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const pkgs = lock.packages;

function platformOf(name) {
  const tail = name.split('/').pop();
  const os = ['android', 'darwin', 'linux', 'win32', 'freebsd', 'openbsd', 'sunos', 'aix'].find(
    (o) => tail.includes(`-${o}-`) || tail.endsWith(`-${o}`),
  );
  const cpu = tail.includes('universal')
    ? ['x64', 'arm64']
    : ['arm64', 'x64', 'ia32', 'arm', 'ppc64', 's390x', 'riscv64', 'loong64'].filter((c) =>
        new RegExp(`-${c}(-|$)`).test(tail),
      );
  const libc = tail.includes('musl') ? ['musl'] : tail.includes('gnu') ? ['glibc'] : undefined;
  return { os: os ? [os] : undefined, cpu: cpu.length ? cpu : undefined, libc };
}

let added = 0;
for (const [where, meta] of Object.entries(pkgs)) {
  for (const [dep, spec] of Object.entries(meta.optionalDependencies ?? {})) {
    const base = where === '' ? '' : `${where}/`;
    if (pkgs[`${base}node_modules/${dep}`] || pkgs[`node_modules/${dep}`]) continue;
    const { os, cpu, libc } = platformOf(dep);
    if (!os) continue; // not a platform binary: leave it to npm
    pkgs[`node_modules/${dep}`] = {
      version: spec,
      ...(meta.dev ? { dev: true } : {}),
      optional: true,
      os,
      ...(cpu ? { cpu } : {}),
      ...(libc ? { libc } : {}),
    };
    added++;
  }
}
lock.packages = Object.fromEntries(
  Object.entries(pkgs).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))),
);
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`lock-platforms: added ${added} optional platform package(s)`);
