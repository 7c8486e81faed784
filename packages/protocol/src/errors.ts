import { z } from 'zod';

/**
 * Stable, machine-readable error codes. Clients switch on these; never rename one.
 * Each maps to exactly one HTTP status in {@link errorStatus}.
 */
export const errorCodes = [
  'BAD_REQUEST',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'ORIGIN_REFUSED',
  'NOT_FOUND',
  'CONFLICT',
  'TASK_NOT_RUNNING',
  'SESSION_EXITED',
  'READ_ONLY',
  'PATH_REFUSED',
  'PAYLOAD_TOO_LARGE',
  'RATE_LIMITED',
  'BUDGET_EXCEEDED',
  'TOO_MANY_TASKS',
  'SANDBOX_START_FAILED',
  'PROVIDER_UNAVAILABLE',
  'AGENT_UNAVAILABLE',
  'TIMEOUT',
  'CHECKPOINT_FAILED',
  'CHECKPOINT_CORRUPT',
  'UPSTREAM_FAILED',
  'INTERNAL',
] as const;

export const errorCodeSchema = z.enum(errorCodes);
export type ErrorCode = z.infer<typeof errorCodeSchema>;

/** The one table from error code to HTTP status. */
export const errorStatus: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  ORIGIN_REFUSED: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  TASK_NOT_RUNNING: 409,
  SESSION_EXITED: 409,
  READ_ONLY: 403,
  PATH_REFUSED: 400,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  BUDGET_EXCEEDED: 402,
  TOO_MANY_TASKS: 429,
  SANDBOX_START_FAILED: 502,
  PROVIDER_UNAVAILABLE: 503,
  AGENT_UNAVAILABLE: 503,
  TIMEOUT: 504,
  CHECKPOINT_FAILED: 502,
  CHECKPOINT_CORRUPT: 422,
  /** A service the server calls for the user (GitHub's API, a git remote) refused or failed. */
  UPSTREAM_FAILED: 502,
  INTERNAL: 500,
};

/** What a client may show a person about an error: the code, a message, optional structured details. */
export const errorInfoSchema = z.object({
  code: errorCodeSchema,
  message: z.string(),
  /** Field-level problems for BAD_REQUEST, retry hints for RATE_LIMITED, and the like. */
  details: z.unknown().optional(),
});
export type ErrorInfo = z.infer<typeof errorInfoSchema>;

/** Every non-2xx REST response has this body. */
export const errorBodySchema = z.object({ error: errorInfoSchema });
export type ErrorBody = z.infer<typeof errorBodySchema>;

/**
 * An error with a stable code and a message safe to show a user. Internal detail goes in `cause`
 * (logged, never sent).
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.details = options?.details;
  }

  get status(): number {
    return errorStatus[this.code];
  }

  toInfo(): ErrorInfo {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }

  static from(info: ErrorInfo): AppError {
    return new AppError(info.code, info.message, { details: info.details });
  }
}

/** Result carried by every Socket.io acknowledgement. */
export type Ack<T> = { ok: true; data: T } | { ok: false; error: ErrorInfo };
export type AckCallback<T> = (result: Ack<T>) => void;

export function ackOk<T>(data: T): Ack<T> {
  return { ok: true, data };
}

export function ackError(error: unknown): Ack<never> {
  if (error instanceof AppError) return { ok: false, error: error.toInfo() };
  return { ok: false, error: { code: 'INTERNAL', message: 'internal error' } };
}
