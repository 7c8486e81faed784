/**
 * The local provider in a process of its own, for tests that must run it as another user (`setpriv` a
 * non-root uid): reads one JSON line `{ dataDir, spec, limits? }` on stdin, starts that sandbox, prints
 * `{ "event": "started", "handle": ... }`, stops it when the line `stop` arrives, prints
 * `{ "event": "stopped" }` and exits. The provider logs to stderr. Runs the built provider (dist/), like the
 * bin does: build first.
 */
import path from 'node:path';
import readline from 'node:readline';
import { pino } from 'pino';
import { createLocalProvider } from '../dist/providers/local.js';

const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const first = await lines.next();
const { dataDir, spec, limits } = JSON.parse(first.value);
const provider = createLocalProvider({
  dataDir,
  confinement: 'bwrap',
  agentSocket: path.join(dataDir, 'run', 'agent.sock'),
  log: pino({ level: 'info' }, pino.destination(2)),
  ...(limits ? { limits } : {}),
});
const handle = await provider.start(spec);
process.stdout.write(`${JSON.stringify({ event: 'started', handle, uid: process.getuid() })}\n`);
for (;;) {
  const next = await lines.next();
  if (next.done || next.value === 'stop') break;
}
await provider.stop(handle, 'test done');
await provider.close();
process.stdout.write(`${JSON.stringify({ event: 'stopped' })}\n`);
process.exit(0);
