import { defineConfig } from 'vitest/config';

// One run for the whole repo. Each package is a project so filters like `--project proxy` work.
// Integration tests start real processes (agents, proxies, bubblewrap), so they get generous timeouts
// but no timing assertions.
export default defineConfig({
  test: {
    projects: ['packages/*', 'infra'],
    // Besides the console, every run leaves each file's duration in test-results/vitest.json, so where the
    // suite's time goes can be read after any run (`node scripts/test-times.mjs`).
    reporters: ['default', ['json', { outputFile: 'test-results/vitest.json' }]],
  },
});
