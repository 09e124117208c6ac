import { defineConfig } from 'vitest/config';

// Three projects by folder: unit (no services), integration and workflows (real PostgreSQL and
// the real Temporal dev server, started once by test/setup/global.ts; each file has its own
// database cloned from a migrated template and its own task queues, so files run in parallel).
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/workflows/**/*.test.ts'],
          globalSetup: ['test/setup/global.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          maxWorkers: 2,
        },
      },
    ],
  },
});
