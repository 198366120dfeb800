import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // The machine has 2 cores; transfer tests are CPU-bound.
    maxWorkers: 2,
  },
});
