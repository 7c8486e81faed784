import { defineConfig } from 'vitest/config';

// One run for the whole repo. Each package is a project so filters like `--project proxy` work.
// Integration tests start real processes (agents, proxies, bubblewrap), so they get generous timeouts
// but no timing assertions.
export default defineConfig({
  test: {
    projects: ['packages/*', 'infra'],
  },
});
