import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // The machine has 2 cores; transfer tests are CPU-bound.
    maxWorkers: 2,
    // ink draws no frames at all when it thinks it runs in CI (is-in-ci reads
    // CI / CONTINUOUS_INTEGRATION when ink is first imported); the TUI tests
    // check frames, so they must see a terminal's behaviour wherever they run.
    env: { CI: 'false', CONTINUOUS_INTEGRATION: 'false' },
  },
});
