import tailwindcss from '@tailwindcss/vite';
import react from '@vitejs/plugin-react';
import { defaultClientConditions, defineConfig } from 'vite';

// The dev server forwards API and Socket.io traffic to a running `rclaude server`, rewriting Origin so the
// server's browser-origin check sees its own origin (the page itself is served from Vite's port).
const devServer = process.env.RCLAUDE_DEV_SERVER ?? 'http://127.0.0.1:7878';

export default defineConfig({
  plugins: [react(), tailwindcss()],
  // Bundle @rclaude/protocol from its TypeScript sources, so the web app never needs its dist built.
  resolve: { conditions: ['source', ...defaultClientConditions] },
  server: {
    host: '127.0.0.1',
    proxy: {
      '/api': { target: devServer, changeOrigin: true, headers: { origin: devServer } },
      '/socket.io': { target: devServer, changeOrigin: true, ws: true, headers: { origin: devServer } },
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 800,
    rolldownOptions: {
      // The service worker is its own entry, at `/sw.js` (a worker's scope is its folder: the whole app).
      input: { main: 'index.html', sw: 'src/sw/sw.ts' },
      output: {
        entryFileNames: (chunk) => (chunk.name === 'sw' ? 'sw.js' : 'assets/[name]-[hash].js'),
        // zod and the module that turns its eval probe off, in one chunk of their own, in that order: with
        // code splitting, a shared chunk holding zod and module-level schemas would otherwise run before the
        // entry's first import, and the probe would be a CSP violation (see src/zod-without-eval.ts).
        advancedChunks: {
          groups: [{ name: 'zod', test: /node_modules[\\/]zod[\\/]|src[\\/]zod-without-eval/ }],
        },
      },
      // The protocol package defines zod schemas at module level; the browser uses those the REST client
      // parses answers with (the route table's), its error class and stream helpers. Treating schema
      // construction as pure lets the bundler drop every other schema. The client package is
      // treated the same way.
      treeshake: {
        manualPureFunctions: ['z'],
        moduleSideEffects: [{ test: /packages\/(protocol|client)\/src\//, sideEffects: false }],
      },
    },
  },
});
