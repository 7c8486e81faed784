import fs from 'node:fs';
import path from 'node:path';
import { AppError, type SessionRepo } from '@rclaude/protocol';
import { claudeEnv } from './claude/claude-env.js';
import { EVENTS_SOCKET_ENV, SESSION_ID_ENV } from './claude/hooks-channel.js';
import { installActivityHooks } from './claude/hooks-install.js';
import { resolveClaudeBinary } from './claude/resolve-binary.js';
import { seedClaudeConfig } from './claude/seed-config.js';
import { builtScript } from './prompt/built-script.js';
import { writeRunSpec } from './prompt/run-spec.js';
import { finishMarkerPath } from './repo/finish.js';

/** What a session brings beyond its argv (see OpenSessionRequest). */
export interface SessionExtras {
  sessionId: string;
  /** The agent's event channel, passed on as RCLAUDE_EVENTS_SOCKET; null when it has none. */
  eventsSocket: string | null;
  /** Private folder where run specs (and finish markers, repo/finish.ts) are written. */
  runtimeDir: string;
  prompt?: string | undefined;
  repo?: SessionRepo | undefined;
  /** The proxy's approval timeout: Claude Code's permission prompts become approvals (none without it). */
  approvalTimeoutMs?: number | undefined;
}

/**
 * Turns a requested argv into what the PTY runs. `claude` becomes the Claude Code binary installed with the
 * agent, started with its user config seeded (no onboarding, theme, trust or key-approval screen) and the
 * sandbox environment it needs. Anything else runs as given, in the workspace, with HOME set.
 *
 * With `extras`, the session's processes learn where to report (RCLAUDE_EVENTS_SOCKET, RCLAUDE_SESSION_ID),
 * Claude Code gets rclaude's activity hooks, and a prompt task or a task with a repository runs under the
 * session runner (prompt/session-runner.ts), which clones, parses stream-json and records the diff.
 */
export async function prepareCommand(
  command: string[],
  ctx: { env: Record<string, string>; home: string; workspace: string },
  extras?: SessionExtras,
): Promise<{ command: string[]; env: Record<string, string> }> {
  const prepared = await prepareProgram(command, ctx);
  if (!extras) return prepared;
  // Every process of the session may report to the agent (a `claude` started from a shell too).
  const env: Record<string, string> = { ...prepared.env, [SESSION_ID_ENV]: extras.sessionId };
  if (extras.eventsSocket) env[EVENTS_SOCKET_ENV] = extras.eventsSocket;
  if (command[0] === 'claude') await installActivityHooks(ctx.home, extras.approvalTimeoutMs);
  if (extras.prompt === undefined && !extras.repo) return { command: prepared.command, env };
  // A prompt or a repository: the session runner sits between the PTY and the program.
  const spec = await writeRunSpec(extras.runtimeDir, {
    sessionId: extras.sessionId,
    workspace: ctx.workspace,
    command: prepared.command,
    prompt: extras.prompt ?? null,
    repo: extras.repo ?? null,
    ...(extras.repo ? { finishMarker: finishMarkerPath(extras.runtimeDir, extras.sessionId) } : {}),
  });
  return { command: [process.execPath, builtScript('prompt/run-session.js'), spec], env };
}

async function prepareProgram(
  command: string[],
  ctx: { env: Record<string, string>; home: string; workspace: string },
): Promise<{ command: string[]; env: Record<string, string> }> {
  const [program, ...args] = command;
  if (program !== 'claude') {
    if (program && !program.includes('/') && !onPath(program, ctx.env.PATH)) {
      throw new AppError('BAD_REQUEST', `command not found: ${program}`, { details: { exitCode: 127 } });
    }
    return { command, env: { TERM: 'xterm-256color', ...ctx.env, HOME: ctx.home } };
  }
  const env = claudeEnv(ctx.env, { home: ctx.home });
  await seedClaudeConfig({
    home: ctx.home,
    workspace: ctx.workspace,
    ...(env.ANTHROPIC_API_KEY ? { apiKey: env.ANTHROPIC_API_KEY } : {}),
  });
  return { command: [resolveClaudeBinary(), ...args], env };
}

function onPath(program: string, searchPath: string | undefined): boolean {
  for (const dir of (searchPath ?? '/usr/local/bin:/usr/bin:/bin').split(path.delimiter)) {
    try {
      fs.accessSync(path.join(dir || '.', program), fs.constants.X_OK);
      return true;
    } catch {
      // Not in this directory.
    }
  }
  return false;
}
