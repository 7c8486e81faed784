import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SessionRepo } from '@rclaude/protocol';

/**
 * What the session runner (run-session.ts) does in a session's PTY. Handed over as a file in the agent's
 * private folder rather than as arguments: a prompt can be larger than one argument may be (128 KiB on
 * Linux), and it stays out of `ps`.
 */
export interface SessionRunSpec {
  sessionId: string;
  /** Absolute workspace path: the clone goes here and the command runs here. */
  workspace: string;
  /** The program to run, resolved (for Claude Code: its binary and arguments). */
  command: string[];
  /** A prompt task's prompt, given to `command` on stdin; its stdout is then stream-json. Null: run as is. */
  prompt: string | null;
  /** Clone before, record a diff after. */
  repo: SessionRepo | null;
  /**
   * Claimed (created) by whoever records the diff and pushes: the runner when the program exits, or the agent
   * first when the sandbox is stopped or hibernated (repo/finish.ts). Absent: the runner always does it.
   */
  finishMarker?: string;
}

/** Writes a spec (mode 0600) into `dir` and returns its path. */
export async function writeRunSpec(dir: string, spec: SessionRunSpec): Promise<string> {
  const path = join(dir, `run-${spec.sessionId}-${randomBytes(4).toString('hex')}.json`);
  await writeFile(path, JSON.stringify(spec), { mode: 0o600 });
  return path;
}

/** Reads a spec and deletes its file (it may hold the prompt). */
export async function readRunSpec(path: string): Promise<SessionRunSpec> {
  const spec = JSON.parse(await readFile(path, 'utf8')) as SessionRunSpec;
  await rm(path, { force: true });
  if (!Array.isArray(spec.command) || spec.command.length === 0 || typeof spec.workspace !== 'string') {
    throw new Error(`${path} is not a session run spec`);
  }
  return spec;
}
