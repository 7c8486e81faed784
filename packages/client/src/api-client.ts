// Subpaths, not the package's index: a command that calls one route loads the table (no schemas) and that
// route's schemas only (see routeSchemas), not every schema of the protocol.
import { AppError, type ErrorCode, errorBodySchema } from '@rclaude/protocol/errors';
import {
  type RouteName,
  type RouteSchemas,
  type RouteSpec,
  type Routes,
  routeSchemas,
  routes,
  type SchemasOf,
} from '@rclaude/protocol/routes';
import type { TaskStatus } from '@rclaude/protocol/tasks';
import type { z } from 'zod';

/** The subset of `fetch` the client needs; injected so tests and other hosts can supply their own. */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface ApiClientOptions {
  /** Prefix of every path, e.g. `https://rclaude.example.com`; empty for the page's own origin. */
  baseUrl?: string;
  /** Defaults to the global `fetch`. */
  fetch?: FetchLike;
  /**
   * An API token, sent as `Authorization: Bearer`. Without one the client is in cookie mode (the browser):
   * the session travels in its httpOnly cookie and the CSRF token set with {@link ApiClient.setCsrfToken}
   * goes in `x-csrf-token` on every request but GET and HEAD.
   */
  token?: string;
  /** Each request fails with TIMEOUT after this many ms; unset waits as long as fetch does. */
  timeoutMs?: number;
}

/** Per-call options. */
export interface CallInit {
  signal?: AbortSignal;
  /** Extra request headers (e.g. `content-length` of a streamed upload). */
  headers?: Record<string, string>;
}

type Empty = Record<never, never>;
type Route<N extends RouteName> = Routes[N];

type ParamsPart<R extends RouteSpec> =
  SchemasOf<R> extends { params: infer P extends z.ZodType } ? { params: z.input<P> } : Empty;
type QueryPart<R extends RouteSpec> =
  SchemasOf<R> extends { query: infer Q extends z.ZodType }
    ? Empty extends z.input<Q>
      ? { query?: z.input<Q> }
      : { query: z.input<Q> }
    : Empty;
type BodyPart<R extends RouteSpec> =
  SchemasOf<R> extends { body: infer B extends z.ZodType }
    ? R extends { bodyOptional: true }
      ? { body?: z.input<B> }
      : { body: z.input<B> }
    : R extends { rawBody: 'octet' | 'multipart' }
      ? { body: BodyInit }
      : Empty;

/** What a call of route `N` takes: `params`, `query` and `body` where the route has them. */
export type CallInput<N extends RouteName> = ParamsPart<Route<N>> & QueryPart<Route<N>> & BodyPart<Route<N>>;

/** What a call of route `N` gives: the parsed JSON answer, the Response of a non-JSON answer, or nothing (204). */
export type CallResult<N extends RouteName> =
  SchemasOf<Route<N>> extends { response: infer S extends z.ZodType }
    ? z.output<S>
    : Route<N> extends { rawResponse: object }
      ? Response
      : undefined;

type CallArgs<N extends RouteName> =
  Empty extends CallInput<N> ? [input?: CallInput<N>, init?: CallInit] : [input: CallInput<N>, init?: CallInit];

/** The request never got an answer: the server is down, the network is off, the name does not resolve. */
export class ApiNetworkError extends Error {
  constructor(
    readonly url: string,
    options: { cause: unknown },
  ) {
    super(`cannot reach the rclaude server at ${new URL(url, 'http://this-page').origin} (${reason(options.cause)})`, {
      cause: options.cause,
    });
    this.name = 'ApiNetworkError';
  }
}

/** True when `error` means the request never got an answer. */
export function isNetworkError(error: unknown): error is ApiNetworkError {
  return error instanceof ApiNetworkError;
}

/**
 * The server answered a route with a body its response schema refuses: a server of another version, or
 * something else answering in its place. An AppError with code INTERNAL; `details.issues` says what.
 */
export class UnexpectedResponseError extends AppError {
  constructor(route: RouteName, message: string, issues: unknown) {
    super('INTERNAL', `unexpected answer to ${route} (${routes[route].method} ${routes[route].path}): ${message}`, {
      details: { route, issues },
    });
    this.name = 'UnexpectedResponseError';
  }
}

/** Codes for an error answer that is not the error shape (a reverse proxy's page), by HTTP status. */
const codeByStatus: Record<number, ErrorCode> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  429: 'RATE_LIMITED',
  504: 'TIMEOUT',
};

/**
 * The AppError of a non-2xx answer: the server's own `{ error }` when it sent one, otherwise a code from
 * the HTTP status (a reverse proxy's HTML 502 or 401 page, say), with the status and the start of the body
 * in `details`.
 */
export async function errorFromResponse(response: Response): Promise<AppError> {
  const text = await response.text().catch(() => '');
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON: handled below from the status.
  }
  const parsed = errorBodySchema.safeParse(body);
  if (parsed.success) return AppError.from(parsed.data.error);
  const status = response.status;
  const code = codeByStatus[status] ?? (status >= 500 ? 'INTERNAL' : 'BAD_REQUEST');
  const message =
    status >= 500
      ? `the server answered ${status} ${response.statusText}`.trim()
      : `the request failed with status ${status}${response.statusText ? ` ${response.statusText}` : ''}`;
  return new AppError(code, message, { details: { status, body: text.slice(0, 200) } });
}

function reason(cause: unknown): string {
  const code = (cause as { cause?: { code?: unknown } } | null)?.cause?.code;
  if (typeof code === 'string') return code;
  return cause instanceof Error ? cause.message : String(cause);
}

/** `/api/tasks/:id` with `{ id: 'ab12' }` -> `/api/tasks/ab12`, each value URL-encoded. */
export function routePath(path: string, params: Record<string, unknown> = {}): string {
  return path.replace(/:(\w+)/g, (_m, name: string) => {
    const value = params[name];
    if (value === undefined || value === null) throw new Error(`${path}: no value for :${name}`);
    return encodeURIComponent(String(value));
  });
}

function queryString(query: Record<string, unknown> | undefined): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null) search.set(key, String(value));
  }
  return search.size > 0 ? `?${search.toString()}` : '';
}

/**
 * The typed REST client, derived from the protocol's route table: `call(name, input)` for any route,
 * answers parsed with the route's response schema, every failure an AppError with the server's code (or
 * {@link ApiNetworkError} when there was no answer). Browser-safe.
 */
export class ApiClient {
  readonly baseUrl: string;
  readonly #token: string | null;
  readonly #fetch: FetchLike;
  readonly #timeoutMs: number | undefined;
  #csrfToken: string | null = null;

  constructor(options: ApiClientOptions = {}) {
    this.baseUrl = (options.baseUrl ?? '').replace(/\/+$/, '');
    this.#token = options.token || null;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#timeoutMs = options.timeoutMs;
  }

  /** Cookie mode: remembers (or forgets, with null) the CSRF token of the browser session. */
  setCsrfToken(token: string | null): void {
    this.#csrfToken = token;
  }

  /** The URL of a route, e.g. for a download link the browser follows with its cookie. */
  url<N extends RouteName>(name: N, ...[input]: CallArgs<N>): string {
    const route: RouteSpec = routes[name];
    const { params, query } = (input ?? {}) as { params?: Record<string, unknown>; query?: Record<string, unknown> };
    return `${this.baseUrl}${routePath(route.path, params)}${queryString(query)}`;
  }

  /** Calls route `name` of the table. */
  async call<N extends RouteName>(name: N, ...[input, init]: CallArgs<N>): Promise<CallResult<N>> {
    const route: RouteSpec = routes[name];
    // The route's schemas load while the request is in flight; only the answer needs them.
    const schemas = routeSchemas(name);
    // Marked handled: when the request fails first, that failure is the one to report.
    schemas.catch(() => undefined);
    const { body } = (input ?? {}) as { body?: unknown };
    const url = this.url(name, ...([input] as CallArgs<N>));
    const headers: Record<string, string> = { accept: 'application/json', ...init?.headers };
    if (this.#token !== null) headers.authorization = `Bearer ${this.#token}`;
    else if (this.#csrfToken && route.method !== 'GET') headers['x-csrf-token'] = this.#csrfToken;
    let payload: BodyInit | undefined;
    if (route.rawBody) {
      payload = body as BodyInit;
      if (route.rawBody === 'octet') headers['content-type'] ??= 'application/octet-stream';
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      headers['content-type'] = 'application/json';
    }
    const signals = [
      init?.signal,
      this.#timeoutMs === undefined ? undefined : AbortSignal.timeout(this.#timeoutMs),
    ].filter((s): s is AbortSignal => s !== undefined);
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    const request: RequestInit & { duplex?: 'half' } = {
      method: route.method,
      headers,
      ...(signal ? { signal } : {}),
      ...(this.#token === null ? { credentials: 'same-origin' as const } : {}),
      ...(payload === undefined ? {} : { body: payload }),
      // A streamed body (Node's fetch) must say it is sent whole before the answer is read.
      ...(typeof ReadableStream !== 'undefined' && payload instanceof ReadableStream ? { duplex: 'half' } : {}),
    };
    let response: Response;
    try {
      response = await this.#fetch(url, request);
    } catch (cause) {
      if (init?.signal?.aborted) throw cause;
      if (signal?.aborted) {
        throw new AppError('TIMEOUT', `no answer to ${name} within ${this.#timeoutMs} ms`, { cause });
      }
      throw new ApiNetworkError(url, { cause });
    }
    if (!response.ok) throw await errorFromResponse(response);
    return (await this.#read(name, route, await schemas, response)) as CallResult<N>;
  }

  async #read(name: RouteName, route: RouteSpec, schemas: RouteSchemas, response: Response): Promise<unknown> {
    if (route.rawResponse) return response;
    if (!schemas.response) {
      await response.body?.cancel();
      return undefined;
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new UnexpectedResponseError(name, `not JSON: ${JSON.stringify(text.slice(0, 80))}`, []);
    }
    const parsed = schemas.response.safeParse(json);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
      const first = issues[0];
      throw new UnexpectedResponseError(
        name,
        first ? `${first.path || '(body)'}: ${first.message}` : 'invalid',
        issues,
      );
    }
    return parsed.data;
  }

  // ---- friendly methods for what every client does ----------------------------------------------------

  me() {
    return this.call('me');
  }
  version() {
    return this.call('version');
  }
  login(username: string, password: string) {
    return this.call('login', { body: { username, password } });
  }
  createTask(body: CallInput<'createTask'>['body']) {
    return this.call('createTask', { body });
  }
  /** Tasks, newest first; `all` lets an admin see every user's. */
  async listTasks(query: { status?: TaskStatus; q?: string; limit?: number; all?: boolean } = {}) {
    const { all, ...rest } = query;
    const { tasks } = await this.call('listTasks', {
      query: { ...rest, ...(all === undefined ? {} : { all: all ? 'true' : 'false' }) },
    });
    return tasks;
  }
  getTask(id: string) {
    return this.call('getTask', { params: { id } });
  }
  /**
   * Stops a task; the server checkpoints it first. When that checkpoint fails the stop fails with
   * CHECKPOINT_FAILED and the task runs on, unless `force` (the work since its last checkpoint is then lost).
   */
  stopTask(id: string, options: { force?: boolean } = {}) {
    return this.call('stopTask', { params: { id }, ...(options.force ? { body: { force: true } } : {}) });
  }
  /** Checkpoints a running task now (workspace and Claude's conversation). */
  createCheckpoint(id: string) {
    return this.call('createCheckpoint', { params: { id } });
  }
  /** The task's checkpoints, newest first. */
  async listCheckpoints(id: string) {
    return (await this.call('listCheckpoints', { params: { id } })).checkpoints;
  }
  /** Resumes a hibernated or ended task in a new sandbox from its latest checkpoint, or `at`. */
  resumeTask(id: string, body: CallInput<'resumeTask'>['body'] = {}) {
    return this.call('resumeTask', { params: { id }, body });
  }
  /** Restarts a running task's idle clock; answers when it would hibernate now. */
  keepTask(id: string) {
    return this.call('keepTask', { params: { id } });
  }
  deleteTask(id: string) {
    return this.call('deleteTask', { params: { id } });
  }
  async listTaskEvents(id: string, after?: number) {
    const { events } = await this.call('listTaskEvents', {
      params: { id },
      ...(after === undefined ? {} : { query: { after } }),
    });
    return events;
  }
  continueTask(id: string, size: { cols?: number; rows?: number } = {}) {
    return this.call('continueTask', { params: { id }, body: size });
  }
  createSession(body: CallInput<'createSession'>['body']) {
    return this.call('createSession', { body });
  }
  getSession(id: string) {
    return this.call('getSession', { params: { id } });
  }
  execute(sessionId: string, body: CallInput<'execute'>['body']) {
    return this.call('execute', { params: { id: sessionId }, body });
  }
  listFiles(taskId: string, path: string) {
    return this.call('listFiles', { params: { id: taskId }, query: { path } });
  }
}
