import { z } from 'zod';
import { commandSchema } from './tasks.js';

/** A live process inside a task's sandbox: the main PTY or an extra shell. */
export const sessionKindSchema = z.enum(['main', 'shell']);
export type SessionKind = z.infer<typeof sessionKindSchema>;

export const sessionStatusSchema = z.enum(['starting', 'running', 'exited']);
export type SessionStatus = z.infer<typeof sessionStatusSchema>;

export const sessionIdSchema = z.string().regex(/^[a-z0-9_]{4,64}$/, 'not a session id');

/** A session's live state, as `GET /api/sessions/:id` returns it. Offsets are byte offsets of PTY output. */
export const sessionInfoSchema = z.object({
  id: z.string(),
  taskId: z.string(),
  kind: sessionKindSchema,
  status: sessionStatusSchema,
  command: z.array(z.string()),
  /** Bytes of output produced and stored so far. */
  outputEnd: z.number().int().nonnegative(),
  /** Oldest offset still held in the bounded output log. */
  outputStart: z.number().int().nonnegative(),
  cols: z.number().int().positive(),
  rows: z.number().int().positive(),
  exitCode: z.number().int().nullable(),
  /** Whether an agent is connected and serving this session right now. */
  agentConnected: z.boolean(),
  /** Clients attached to it across all proxies. */
  clients: z.number().int().nonnegative(),
});
export type SessionInfo = z.infer<typeof sessionInfoSchema>;

export const createSessionRequestSchema = z
  .object({
    taskId: z.string().min(1).max(64),
    /** argv; defaults to a login shell. */
    command: commandSchema.optional(),
    cols: z.number().int().min(1).max(1000).optional(),
    rows: z.number().int().min(1).max(1000).optional(),
  })
  .strict();
export type CreateSessionRequest = z.infer<typeof createSessionRequestSchema>;

export const executeRequestSchema = z
  .object({
    /** A shell command line (run with `sh -c`) or an argv. */
    command: z.union([
      z
        .string()
        .min(1)
        .max(64 * 1024),
      commandSchema,
    ]),
    timeoutMs: z.number().int().min(1).max(3_600_000).default(60_000),
    /** Working directory relative to the workspace. */
    cwd: z.string().max(4096).optional(),
  })
  .strict();
export type ExecuteRequest = z.infer<typeof executeRequestSchema>;

export const executeResultSchema = z.object({
  exitCode: z.number().int(),
  /** Signal name if the process was killed by one (e.g. SIGKILL after the timeout). */
  signal: z.string().nullable(),
  stdout: z.string(),
  stderr: z.string(),
  /** True when stdout or stderr was cut at the size cap. */
  truncated: z.boolean(),
  timedOut: z.boolean(),
  durationMs: z.number().nonnegative(),
});
export type ExecuteResult = z.infer<typeof executeResultSchema>;

/** Path parameters of the routes under `/api/sessions/:id`. */
export const sessionParamsSchema = z.object({ id: sessionIdSchema }).strict();

/** `GET /api/tasks/:id/sessions`. */
export const listSessionsResponseSchema = z.object({ sessions: z.array(sessionInfoSchema) });
