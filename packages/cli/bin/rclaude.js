#!/usr/bin/env node
// The `rclaude` command. This file is committed (not built) so that npm links the bin at install time, before
// the first build, and so a rebuild never takes its execute bit away. The program itself is dist/main.js.
const entry = new URL('../dist/main.js', import.meta.url);
try {
  await import(entry.href);
} catch (err) {
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes(entry.pathname)) {
    process.stderr.write(
      'rclaude: the CLI is not built yet.\nhint: run `npm run build` (or `npm start`) at the root of the rclaude repository\n',
    );
    process.exit(1);
  }
  throw err;
}
