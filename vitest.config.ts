import { defineConfig } from 'vitest/config';

// One run for the whole repo. Each package is a project so filters like `--project proxy` work.
// Integration tests start real processes (agents, proxies, bubblewrap), so they get generous timeouts
// but no timing assertions.
export default defineConfig({
  test: {
    projects: ['packages/*', 'infra'],
    // Most of the suite's time is spent waiting on real processes (servers starting, sandboxes, terminals,
    // the real Claude Code), not computing: vitest's default of one worker per core but one ran a single file
    // at a time on two cores while they sat half idle. Twice the cores keeps them busy.
    maxWorkers: 4,
  },
});
