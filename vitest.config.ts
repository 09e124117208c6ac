import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Three projects by folder: unit (no services), integration and workflows (real PostgreSQL and
// the real Temporal dev server, started once by test/setup/global.ts; each file has its own
// database cloned from a migrated template and its own task queues, so files run in parallel).
export default defineConfig({
  // graphql 16 ships CJS (main) and ESM (module); Node loads the CJS build for Pothos and Apollo,
  // so tests must too, or two copies of graphql meet ("from another module or realm").
  resolve: { alias: [{ find: /^graphql$/, replacement: fileURLToPath(new URL('./node_modules/graphql/index.js', import.meta.url)) }] },
  test: {
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], sequence: { groupOrder: 0 } } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/workflows/**/*.test.ts'],
          globalSetup: ['test/setup/global.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
