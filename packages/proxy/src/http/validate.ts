import { AppError } from '@rclaude/protocol';
import type { z } from 'zod';

/**
 * Parses untrusted input with a protocol schema. A failure becomes BAD_REQUEST listing every problem,
 * so a client learns all it got wrong at once.
 */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, what = 'request'): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  const first = issues[0];
  const summary = first ? `${first.path ? `${first.path}: ` : ''}${first.message}` : 'invalid';
  return failBadRequest(`invalid ${what}: ${summary}`, issues);
}

function failBadRequest(message: string, issues: unknown): never {
  throw new AppError('BAD_REQUEST', message, { details: { issues } });
}
