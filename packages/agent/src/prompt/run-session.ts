#!/usr/bin/env node
/**
 * The session runner's entry point: `node run-session.js <spec-file>`, started by the agent in a session's
 * PTY (see session-runner.ts). Exits with the code the session should report.
 */
import process from 'node:process';
import { connectEventChannel, EVENTS_SOCKET_ENV } from '../claude/hooks-channel.js';
import { readRunSpec } from './run-spec.js';
import { runSession } from './session-runner.js';

// The program gets these from the terminal too; the runner outlives it to report its exit and the diff.
for (const sig of ['SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => undefined);

async function main(): Promise<number> {
  const specPath = process.argv[2];
  if (!specPath) {
    process.stderr.write('usage: run-session.js SPEC_FILE\n');
    return 2;
  }
  const spec = await readRunSpec(specPath);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  const channel = await connectEventChannel(env[EVENTS_SOCKET_ENV]);
  try {
    return await runSession(spec, { stdout: process.stdout, env, channel, color: process.stdout.isTTY === true });
  } finally {
    await channel?.close();
  }
}

main().then(
  (code) => {
    process.stdout.write('', () => process.exit(code));
  },
  (err: unknown) => {
    process.stderr.write(`rclaude: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
