import {
  apiTokenIdSchema,
  browserSessionResponseSchema,
  continueTaskRequestSchema,
  createApiTokenRequestSchema,
  createApiTokenResponseSchema,
  createBrowserSessionRequestSchema,
  createSessionRequestSchema,
  createTaskRequestSchema,
  createUserRequestSchema,
  deleteFileQuerySchema,
  errorBodySchema,
  executeRequestSchema,
  executeResultSchema,
  filePathQuerySchema,
  fileTargetQuerySchema,
  listApiTokensResponseSchema,
  listFilesResponseSchema,
  listSecretsResponseSchema,
  listTaskEventsQuerySchema,
  listTaskEventsResponseSchema,
  listTasksQuerySchema,
  listTasksResponseSchema,
  listUsersResponseSchema,
  loginRequestSchema,
  loginResponseSchema,
  putSecretRequestSchema,
  readFileQuerySchema,
  secretInfoSchema,
  secretNameSchema,
  sessionIdSchema,
  sessionInfoSchema,
  setPasswordRequestSchema,
  taskIdSchema,
  taskSchema,
  uploadFilesQuerySchema,
  uploadFilesResponseSchema,
  usageResponseSchema,
  userIdSchema,
  userSchema,
  writeFileResponseSchema,
} from '@rclaude/protocol';
import { z } from 'zod';

/** `GET /readyz`: each dependency's check (`database`, and `redis` when configured). */
const readyResponseSchema = z.object({
  ok: z.boolean(),
  checks: z.record(z.string(), z.object({ ok: z.boolean(), latencyMs: z.number(), error: z.string().optional() })),
});

type Op = {
  method: 'get' | 'post' | 'put' | 'delete';
  path: string;
  summary: string;
  /** The schemas that validate each `{param}` of the path. */
  params?: Record<string, z.ZodType>;
  /** The schema that validates the query string (an object of optional or required strings). */
  query?: z.ZodObject;
  /** The JSON body's schema. */
  body?: z.ZodType;
  /** The body may be left out (it then defaults to `{}`). */
  bodyOptional?: true;
  response?: z.ZodType;
  status?: number;
  /** A body that is not JSON: raw bytes (`octet`) or a multipart upload. */
  rawRequest?: 'octet' | 'multipart';
  /** An answer that is not JSON. */
  rawResponse?: { type: string; description: string };
  /** Works without credentials. */
  public?: true;
};

const taskParams = { id: taskIdSchema };

/** Every HTTP route, with the same zod schemas that validate its requests. */
const operations: Op[] = [
  {
    method: 'get',
    path: '/healthz',
    summary: 'The process is up',
    response: z.object({ ok: z.literal(true) }),
    public: true,
  },
  {
    method: 'get',
    path: '/readyz',
    summary: 'Postgres (and Redis, when configured) answer; 503 with the failing check otherwise',
    response: readyResponseSchema,
    public: true,
  },
  {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics of this proxy process',
    rawResponse: { type: 'text/plain', description: 'Prometheus text exposition format' },
    public: true,
  },
  {
    method: 'get',
    path: '/api/openapi.json',
    summary: 'This document',
    rawResponse: { type: 'application/json', description: 'OpenAPI 3 document' },
    public: true,
  },
  {
    method: 'post',
    path: '/api/auth/login',
    summary: 'Sign in with a password; returns an API token',
    body: loginRequestSchema,
    response: loginResponseSchema,
    public: true,
  },
  {
    method: 'post',
    path: '/api/auth/session',
    summary: 'Exchange a token for a browser session cookie',
    body: createBrowserSessionRequestSchema,
    response: browserSessionResponseSchema,
    public: true,
  },
  { method: 'get', path: '/api/auth/session', summary: 'The browser session', response: browserSessionResponseSchema },
  { method: 'delete', path: '/api/auth/session', summary: 'Sign out', status: 204 },
  { method: 'get', path: '/api/me', summary: 'The signed-in user', response: userSchema },
  { method: 'get', path: '/api/users', summary: 'All users (admin)', response: listUsersResponseSchema },
  {
    method: 'post',
    path: '/api/users',
    summary: 'Create a user (admin)',
    body: createUserRequestSchema,
    response: userSchema,
    status: 201,
  },
  {
    method: 'put',
    path: '/api/users/{id}/password',
    summary: "Set a user's password (admins: anyone's; others: their own)",
    params: { id: userIdSchema },
    body: setPasswordRequestSchema,
    status: 204,
  },
  { method: 'get', path: '/api/tokens', summary: 'Your API tokens', response: listApiTokensResponseSchema },
  {
    method: 'post',
    path: '/api/tokens',
    summary: 'Create an API token (shown once)',
    body: createApiTokenRequestSchema,
    response: createApiTokenResponseSchema,
    status: 201,
  },
  {
    method: 'delete',
    path: '/api/tokens/{id}',
    summary: 'Revoke an API token',
    params: { id: apiTokenIdSchema },
    status: 204,
  },
  { method: 'get', path: '/api/secrets', summary: 'Your secrets, by name only', response: listSecretsResponseSchema },
  {
    method: 'put',
    path: '/api/secrets/{name}',
    summary: 'Store a secret (encrypted at rest)',
    params: { name: secretNameSchema },
    body: putSecretRequestSchema,
    response: secretInfoSchema,
  },
  {
    method: 'delete',
    path: '/api/secrets/{name}',
    summary: 'Delete a secret',
    params: { name: secretNameSchema },
    status: 204,
  },
  {
    method: 'post',
    path: '/api/tasks',
    summary: 'Create a task: starts a sandbox running Claude Code or a command',
    body: createTaskRequestSchema,
    response: taskSchema,
    status: 201,
  },
  {
    method: 'get',
    path: '/api/tasks',
    summary: 'Your tasks, newest first',
    query: listTasksQuerySchema,
    response: listTasksResponseSchema,
  },
  { method: 'get', path: '/api/tasks/{id}', summary: 'One task', params: taskParams, response: taskSchema },
  {
    method: 'delete',
    path: '/api/tasks/{id}',
    summary: 'Delete a task (stops it first)',
    params: taskParams,
    status: 204,
  },
  {
    method: 'post',
    path: '/api/tasks/{id}/stop',
    summary: 'Stop a task and its sandbox',
    params: taskParams,
    response: taskSchema,
  },
  {
    method: 'get',
    path: '/api/tasks/{id}/events',
    summary: "The task's timeline",
    params: taskParams,
    query: listTaskEventsQuerySchema,
    response: listTaskEventsResponseSchema,
  },
  {
    method: 'post',
    path: '/api/tasks/{id}/continue',
    summary: "Continue a finished prompt task's conversation in Claude Code (a new session, or the one already open)",
    params: taskParams,
    body: continueTaskRequestSchema,
    bodyOptional: true,
    response: sessionInfoSchema,
    status: 201,
  },
  {
    method: 'get',
    path: '/api/tasks/{id}/sessions',
    summary: "The task's sessions",
    params: taskParams,
    response: z.object({ sessions: z.array(sessionInfoSchema) }),
  },
  {
    method: 'get',
    path: '/api/tasks/{id}/files',
    summary: 'List a workspace directory',
    params: taskParams,
    query: filePathQuerySchema,
    response: listFilesResponseSchema,
  },
  {
    method: 'get',
    path: '/api/tasks/{id}/files/content',
    summary: 'Read a file (bytes; offset/length for ranges)',
    params: taskParams,
    query: readFileQuerySchema,
    rawResponse: { type: 'application/octet-stream', description: 'The bytes asked for' },
  },
  {
    method: 'put',
    path: '/api/tasks/{id}/files/content',
    summary: 'Write a file (raw body)',
    params: taskParams,
    query: fileTargetQuerySchema,
    rawRequest: 'octet',
    response: writeFileResponseSchema,
  },
  {
    method: 'delete',
    path: '/api/tasks/{id}/files',
    summary: 'Delete a file or directory',
    params: taskParams,
    query: deleteFileQuerySchema,
    status: 204,
  },
  {
    method: 'post',
    path: '/api/tasks/{id}/files/upload',
    summary: 'Upload files (multipart/form-data, one part per file)',
    params: taskParams,
    query: uploadFilesQuerySchema,
    rawRequest: 'multipart',
    response: uploadFilesResponseSchema,
  },
  {
    method: 'get',
    path: '/api/tasks/{id}/files/download',
    summary: 'Download a file as an attachment',
    params: taskParams,
    query: fileTargetQuerySchema,
    rawResponse: { type: 'application/octet-stream', description: 'The file, with Content-Disposition: attachment' },
  },
  {
    method: 'get',
    path: '/api/usage',
    summary: 'Your spending this calendar month (UTC): compute and model cost, tokens, budget',
    response: usageResponseSchema,
  },
  {
    method: 'post',
    path: '/api/sessions',
    summary: "Open another PTY in a running task's sandbox",
    body: createSessionRequestSchema,
    response: sessionInfoSchema,
    status: 201,
  },
  {
    method: 'get',
    path: '/api/sessions/{id}',
    summary: "A session's live state",
    params: { id: sessionIdSchema },
    response: sessionInfoSchema,
  },
  {
    method: 'post',
    path: '/api/sessions/{id}/execute',
    summary: 'Run a command to completion in the sandbox',
    params: { id: sessionIdSchema },
    body: executeRequestSchema,
    response: executeResultSchema,
  },
];

type JsonSchema = Record<string, unknown>;

function schema(s: z.ZodType, io: 'input' | 'output'): JsonSchema {
  return z.toJSONSchema(s, { io, unrepresentable: 'any', target: 'openapi-3.0' }) as JsonSchema;
}

/**
 * A request body's JSON schema, with the cross-field rules zod checks in refinements (which JSON Schema
 * generation cannot see) written out where OpenAPI 3.0 can say them.
 */
function bodySchema(s: z.ZodType): JsonSchema {
  const json = schema(s, 'input');
  // createTaskRequestSchema: "give a command or a prompt, not both".
  if (s === createTaskRequestSchema) return { ...json, not: { required: ['command', 'prompt'] } };
  return json;
}

function parameters(op: Op): JsonSchema[] {
  const inPath = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string);
  const path = inPath.map((name) => {
    const s = op.params?.[name];
    if (!s) throw new Error(`openapi: ${op.method} ${op.path} has no schema for {${name}}`);
    return { name, in: 'path', required: true, schema: schema(s, 'input') };
  });
  const query: JsonSchema[] = [];
  if (op.query) {
    const json = schema(op.query, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
    for (const [name, prop] of Object.entries(json.properties ?? {})) {
      const { description, ...rest } = prop;
      query.push({
        name,
        in: 'query',
        required: json.required?.includes(name) ?? false,
        ...(typeof description === 'string' ? { description } : {}),
        schema: rest,
      });
    }
  }
  return [...path, ...query];
}

/** `GET /api/tasks/{id}/files` -> `getApiTasksByIdFiles`. */
function operationId(op: Op): string {
  const words = op.path
    .split(/[/.]/)
    .filter(Boolean)
    .map((w) => {
      const param = /^\{(\w+)\}$/.exec(w)?.[1];
      const word = param ? `by-${param}` : w;
      return word
        .split('-')
        .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
        .join('');
    });
  return `${op.method}${words.join('')}`;
}

/** The OpenAPI 3 document, generated from the protocol's zod schemas. */
export function buildOpenApi(): unknown {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    const params = parameters(op);
    const status = String(op.status ?? 200);
    const responses: Record<string, unknown> = {
      [status]: op.response
        ? { description: 'OK', content: { 'application/json': { schema: schema(op.response, 'output') } } }
        : op.rawResponse
          ? { description: op.rawResponse.description, content: { [op.rawResponse.type]: {} } }
          : { description: 'Done' },
      default: {
        description: 'Error: `error.code` is one of the stable codes (see docs/api.md)',
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      },
    };
    const requestBody = op.body
      ? { required: op.bodyOptional !== true, content: { 'application/json': { schema: bodySchema(op.body) } } }
      : op.rawRequest === 'octet'
        ? { required: true, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } }
        : op.rawRequest === 'multipart'
          ? {
              required: true,
              content: {
                'multipart/form-data': {
                  schema: {
                    type: 'object',
                    properties: { file: { type: 'array', items: { type: 'string', format: 'binary' } } },
                  },
                },
              },
            }
          : null;
    const path = paths[op.path] ?? {};
    paths[op.path] = path;
    path[op.method] = {
      summary: op.summary,
      operationId: operationId(op),
      ...(params.length ? { parameters: params } : {}),
      ...(requestBody ? { requestBody } : {}),
      ...(op.public ? { security: [] } : {}),
      responses,
    };
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'rclaude API',
      version: '0.1.0',
      description:
        'Tasks, sessions and sandbox files. Live terminals use Socket.io at /socket.io (namespace /client); see docs/api.md.',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer' },
        cookie: { type: 'apiKey', in: 'cookie', name: 'rclaude_session' },
      },
      schemas: { Error: schema(errorBodySchema, 'output') },
    },
    security: [{ bearer: [] }, { cookie: [] }],
    paths,
  };
}
