import react from '@vitejs/plugin-react';
import { defineProject } from 'vitest/config';

// Component tests run in jsdom; the end-to-end tests in e2e/ declare `@vitest-environment node` themselves.
export default defineProject({
  plugins: [react()],
  resolve: { conditions: ['source'] },
  test: {
    name: 'web',
    environment: 'jsdom',
    setupFiles: ['./src/test/setup.ts'],
    include: ['src/**/*.test.ts', 'src/**/*.test.tsx', 'e2e/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 180_000,
  },
});
