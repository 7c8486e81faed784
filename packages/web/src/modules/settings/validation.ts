import {
  createApiTokenRequestSchema,
  createUserRequestSchema,
  putSecretRequestSchema,
  secretNameSchema,
  type UserRole,
} from '@rclaude/protocol';

// The settings forms check their input with the schemas the server parses the same requests with, so a form
// refuses exactly what the server would, with the same words. They bring zod along, which is why the
// settings page is loaded as its own chunk (app.tsx): the initial bundle stays free of it.

/** Secret names the server and the sandbox agent give a meaning to, with what each is for. */
export const wellKnownSecrets: readonly { name: string; purpose: string }[] = [
  { name: 'ANTHROPIC_API_KEY', purpose: 'Claude Code uses this Anthropic API key.' },
  {
    name: 'CLAUDE_CODE_OAUTH_TOKEN',
    purpose: 'Claude Code uses your Claude subscription (a token from claude setup-token).',
  },
  {
    name: 'GITHUB_TOKEN',
    purpose:
      'The server clones, pushes and opens pull requests with it for GitHub repositories; it never enters a sandbox.',
  },
  {
    name: 'GIT_TOKEN',
    purpose: 'The server clones and pushes with it for other Git hosts (user GIT_USERNAME); it never enters a sandbox.',
  },
];

/** A problem with a secret about to be stored, in words for a person, or null when the server will take it. */
export function checkSecret(name: string, value: string): string | null {
  if (!name) return 'Give the secret a name, such as ANTHROPIC_API_KEY.';
  const parsedName = secretNameSchema.safeParse(name);
  if (!parsedName.success) return parsedName.error.issues[0]?.message ?? 'That name cannot be used.';
  if (!value) return 'Enter the value to store.';
  if (!putSecretRequestSchema.safeParse({ value }).success) return 'A secret value is at most 64 KiB.';
  return null;
}

/** A problem with the name of a new API token, or null. */
export function checkTokenName(name: string): string | null {
  if (!name.trim()) return 'Give the token a name, such as the machine or script that will use it.';
  return createApiTokenRequestSchema.safeParse({ name }).success ? null : 'A token name is at most 100 characters.';
}

/** A problem with a new user, or null. */
export function checkNewUser(input: { username: string; password: string; role: UserRole }): string | null {
  const parsed = createUserRequestSchema.safeParse(input);
  if (parsed.success) return null;
  return parsed.error.issues[0]?.message ?? 'Check the username and password.';
}
