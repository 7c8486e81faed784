import { AppError, type LoginLinkRefusal, loginLinkRefusalSchema } from '@rclaude/protocol';

/** What a person reads about a login link that did not work. */
export function linkRefusalText(reason: LoginLinkRefusal['reason']): string {
  const what = {
    used: 'This sign-in link was already used.',
    expired: 'This sign-in link has expired.',
    invalid: 'This sign-in link is not valid.',
  }[reason];
  return `${what} A link works once, for 10 minutes: run \`rclaude web\` for a new one, or sign in with your password.`;
}

/** The reason the server gave for refusing a login link, or null for any other error. */
export function linkRefusalOf(error: unknown): LoginLinkRefusal['reason'] | null {
  if (!(error instanceof AppError) || error.code !== 'UNAUTHENTICATED') return null;
  const details = loginLinkRefusalSchema.safeParse(error.details);
  return details.success ? details.data.reason : null;
}
