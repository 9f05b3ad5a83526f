import { defineConfig } from 'vitest/config'

/**
 * Two tiers, both run by `npm test`:
 * - unit: the tests beside the modules they test (connector/, catalog/, policies/, test/support/), in
 *   the test process with real databases and HTTP on 127.0.0.1: `npm run test:unit`;
 * - e2e: whole connectors: test/e2e/ starts the built CLI and connector processes, test/integration/
 *   runs several connectors in the test process over real HTTP: `npm run test:e2e`.
 */
const e2e = ['test/e2e/**/*.test.ts', 'test/integration/**/*.test.ts']
/** Unit tests that install global telemetry providers before importing the module they measure: each needs a fresh module graph. */
const ownModules = ['connector/telemetry/transitions.test.ts', 'connector/federation/crawler-metrics.test.ts']

export default defineConfig({
  test: {
    exclude: ['node_modules/**', 'dist/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: test files that start processes and databases must not all run at once. Four e2e
    // workers were no faster than two on the shared machine (bench/RESULTS.md, "Test time").
    maxWorkers: 2,
    pool: 'forks',
    projects: [
      {
        extends: true,
        // Test files share a worker's module graph (a third of the tier's time went to importing it again
        // per file); each file still builds its own stores, apps and servers.
        test: { name: 'unit', include: ['**/*.test.ts'], exclude: ['node_modules/**', 'dist/**', ...e2e, ...ownModules], isolate: false },
      },
      {
        extends: true,
        test: { name: 'unit-isolated', include: ownModules },
      },
      {
        extends: true,
        // Processes run the built CLI: built once per run.
        // Each test starts Node processes: on a loaded two-core machine one start can take many seconds, so
        // the limits are for hung tests, not slow ones.
        test: { name: 'e2e', include: e2e, globalSetup: ['test/support/global-setup.ts'], testTimeout: 120_000, hookTimeout: 180_000 },
      },
    ],
  },
})
