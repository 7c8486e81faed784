import { realpath } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { isJsonObject, type JsonObject, updateJsonFile } from './json-file.js';

/** What {@link seedClaudeConfig} needs to know about the sandbox. */
export interface SeedClaudeConfigOptions {
  /** The HOME Claude Code will run with; `.claude.json` and `.claude/settings.json` go there. */
  home: string;
  /** Absolute path of the workspace Claude Code will start in (its cwd); marked trusted. */
  workspace: string;
  /** The ANTHROPIC_API_KEY Claude Code will see, if any: pre-approved so it does not ask. */
  apiKey?: string;
}

/** How many trailing characters of an API key Claude Code remembers in `customApiKeyResponses`. */
export const API_KEY_SUFFIX_CHARS = 20;

/**
 * Global `.claude.json` flags that keep Claude Code 2.1 from showing a first-run or one-time screen:
 * - `hasCompletedOnboarding`: skips the theme picker and login flow; without it the TUI also runs a
 *   connectivity check against api.anthropic.com itself (not ANTHROPIC_BASE_URL) and exits when offline.
 * - `hasAcknowledgedCostThreshold`: the blocking "you have spent $5 on API usage" dialog.
 * - `hasSeenAutoDefaultNotice`, `hasSeenAutoModeEntryWarning`: the auto-mode banners.
 */
const GLOBAL_FLAGS = {
  hasCompletedOnboarding: true,
  hasAcknowledgedCostThreshold: true,
  hasSeenAutoDefaultNotice: true,
  hasSeenAutoModeEntryWarning: true,
} as const;

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/**
 * Seeds Claude Code's user configuration so that, started in `workspace` with this HOME, it goes straight
 * to its prompt: no onboarding, theme picker, folder-trust, API-key approval, cost or bypass-permissions
 * dialog. Merges into existing files and keeps every other key; idempotent.
 *
 * Writes `$HOME/.claude.json` (global flags, `projects[workspace].hasTrustDialogAccepted`, the key's last
 * 20 characters in `customApiKeyResponses.approved`) and `$HOME/.claude/settings.json`
 * (`skipDangerousModePermissionPrompt`, so `--dangerously-skip-permissions` starts without its warning).
 */
export async function seedClaudeConfig(options: SeedClaudeConfigOptions): Promise<void> {
  const workspace = resolve(options.workspace);
  // Claude Code looks the project up by its real path (symlinks resolved); keep both spellings.
  const projectKeys = new Set([workspace]);
  try {
    projectKeys.add(await realpath(workspace));
  } catch {
    // Not created yet: the resolved path is what Claude Code will see.
  }
  const suffix = options.apiKey ? options.apiKey.slice(-API_KEY_SUFFIX_CHARS) : null;

  await updateJsonFile(join(options.home, '.claude.json'), (config) => {
    Object.assign(config, GLOBAL_FLAGS);
    const projects: JsonObject = isJsonObject(config.projects) ? config.projects : {};
    for (const key of projectKeys) {
      const project = isJsonObject(projects[key]) ? projects[key] : {};
      projects[key] = { ...project, hasTrustDialogAccepted: true };
    }
    config.projects = projects;
    if (suffix) {
      const responses = isJsonObject(config.customApiKeyResponses) ? config.customApiKeyResponses : {};
      const approved = stringList(responses.approved);
      config.customApiKeyResponses = {
        ...responses,
        approved: approved.includes(suffix) ? approved : [...approved, suffix],
        rejected: stringList(responses.rejected).filter((k) => k !== suffix),
      };
    }
    return config;
  });

  await updateJsonFile(join(options.home, '.claude', 'settings.json'), (settings) => {
    settings.skipDangerousModePermissionPrompt = true;
    return settings;
  });
}
