import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'infra',
    include: ['test/**/*.test.ts'],
    // Synthesizing the stacks takes a few seconds on a cold module cache.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
