import { defineProject } from 'vitest/config';

export default defineProject({
  // Workspace packages resolve to their TypeScript sources, so tests never run stale builds.
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'], externalConditions: ['source'] } },
  test: {
    name: 'cli',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // End-to-end tests start real servers (embedded Postgres), sandboxes and the real Claude Code, several
    // files at once on two cores: a server restart inside one test can take a minute there. A limit only
    // matters when something hangs.
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
