import { randomBytes } from 'node:crypto';
import { AppError } from '@rclaude/protocol';

/**
 * An absolute file path inside a message: a `/` that starts a word (not part of a URL, a ratio or another path)
 * followed by path characters. `https://host/x` is left alone (its slashes follow `:` or `/` or a letter).
 */
const ABSOLUTE_PATH = /(?<![\w.:/~-])\/(?=[^\s/])[^\s'"`,;()[\]{}<>]+/g;

/** `message` with every absolute server path replaced by `<path>`: what a user may read of a server error. */
export function withoutServerPaths(message: string): string {
  return message.replace(ABSOLUTE_PATH, '<path>');
}

/** A short id that ties what a user is told to the server log line with the detail. */
export function newErrorReference(): string {
  return randomBytes(6).toString('hex');
}

/**
 * What a user is told when their sandbox could not start: the provider's reason as it is when it names no server
 * path (ECS's "no Fargate capacity ... try again shortly" reads best unadorned); otherwise the reason without
 * the paths (a non-AppError says nothing of itself) and the reference of the log line that keeps the detail.
 */
export function startFailureReason(err: unknown, reference: string): string {
  if (!(err instanceof AppError)) return `the sandbox could not be started (server log reference ${reference})`;
  const reason = withoutServerPaths(err.message);
  return reason === err.message ? reason : `${reason} (server log reference ${reference})`;
}
