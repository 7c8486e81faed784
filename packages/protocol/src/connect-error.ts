import { z } from 'zod';
import { AppError } from './errors.js';

/**
 * What the server puts in `err.data` of a Socket.io `connect_error` when it refuses a handshake (the
 * `/client` namespace's auth middleware). `err.message` carries the same message.
 */
export const connectErrorDataSchema = z.object({
  // RATE_LIMITED: a share link that has as many viewers as it may have (see shares.ts).
  code: z.enum(['ORIGIN_REFUSED', 'UNAUTHENTICATED', 'RATE_LIMITED', 'INTERNAL']),
  message: z.string(),
});
export type ConnectErrorData = z.infer<typeof connectErrorDataSchema>;

/**
 * The server's refusal carried by a `connect_error` as an AppError, or null when the error is not one
 * (the server could not be reached, a transport failure): those the client retries or reports itself.
 */
export function connectErrorOf(err: unknown): AppError | null {
  const parsed = connectErrorDataSchema.safeParse((err as { data?: unknown } | null)?.data);
  return parsed.success ? new AppError(parsed.data.code, parsed.data.message) : null;
}
