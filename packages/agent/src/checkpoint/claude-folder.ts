import fs from 'node:fs/promises';
import path from 'node:path';
import { claudeProjectFolderName } from '@rclaude/protocol';

/**
 * Claude Code's conversation folder for a workspace: `$HOME/.claude/projects/<path>`, the workspace's real path
 * (Claude Code's cwd, symlinks resolved) with every character but ASCII letters and digits made `-`
 * (`/work/my_app` -> `-work-my-app`). Claude Code shortens names over 200 characters with a hash suffix we do
 * not reproduce; a sandbox's workspace path is short.
 */
export async function claudeProjectDir(home: string, workspace: string): Promise<string> {
  let real = path.resolve(workspace);
  try {
    real = await fs.realpath(real);
  } catch {
    // Not there yet: the resolved path is what Claude Code will see once it is made.
  }
  return path.join(home, '.claude', 'projects', encodeProjectPath(real));
}

/** See claudeProjectFolderName in the protocol (the CLI's pull and push use the same one). */
export function encodeProjectPath(absolute: string): string {
  return claudeProjectFolderName(absolute);
}
