import {
  type ApiToken,
  AppError,
  type BrowserSessionResponse,
  type CreateTaskRequest,
  type ErrorCode,
  type ErrorInfo,
  errorCodes,
  type ListFilesResponse,
  type LoginResponse,
  type SecretInfo,
  type SessionInfo,
  type Task,
  type TaskEvent,
  type TaskStatus,
  type UsageResponse,
  type User,
  type UserRole,
  type WriteFileResponse,
} from '@rclaude/protocol';

/** The subset of `fetch` the client needs; injected so tests (and other hosts) can supply their own. */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface ApiClientOptions {
  fetch: FetchLike;
  /** Prefix for every path, e.g. `https://rclaude.example.com`; empty for the page's own origin. */
  baseUrl?: string;
}

export interface ListTasksOptions {
  status?: TaskStatus;
  q?: string;
  /** At most this many tasks (the server caps it at 500). */
  limit?: number;
}

/** A file's bytes as read through `GET /api/tasks/:id/files/content`. */
export interface FileContent {
  bytes: Uint8Array;
  /** The whole file's size in bytes (`x-file-size`); larger than `bytes.length` when the read was capped. */
  size: number;
}

/** Answer of `POST /api/tokens`: the token itself, which the server never shows again, and its metadata. */
export interface CreatedApiToken {
  token: string;
  info: ApiToken;
}

/** Status codes a reverse proxy or a crashed server may answer with, and what they mean to a person. */
const fallbackCodes: Record<number, ErrorCode> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  429: 'RATE_LIMITED',
  504: 'TIMEOUT',
};

/** `details` of the AppError raised when the server cannot be reached at all. */
export const NETWORK_ERROR_DETAILS = { network: true } as const;

/** True when `error` means the request never got an answer (server down, offline). */
export function isNetworkError(error: unknown): boolean {
  return error instanceof AppError && error.details === NETWORK_ERROR_DETAILS;
}

/**
 * Turns a non-2xx response into an AppError: the server's own `{ error }` body when it sent one, otherwise
 * a code derived from the HTTP status (a reverse proxy's HTML 502 page, for instance).
 */
export async function errorFromResponse(response: Response): Promise<AppError> {
  let body: unknown = null;
  const text = await response.text().catch(() => '');
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  const info = readErrorInfo(body);
  if (info) return AppError.from(info);
  const code = fallbackCodes[response.status] ?? (response.status >= 500 ? 'INTERNAL' : 'BAD_REQUEST');
  const message =
    response.status >= 500
      ? `The server answered ${response.status} ${response.statusText}`.trim()
      : `The request failed with status ${response.status}`;
  return new AppError(code, message, { details: { status: response.status } });
}

/**
 * Reads `{ error: { code, message, details? } }` (the protocol's errorBodySchema) by hand: checking three
 * fields does not justify shipping a schema library in the initial bundle.
 */
function readErrorInfo(body: unknown): ErrorInfo | null {
  if (typeof body !== 'object' || body === null || !('error' in body)) return null;
  const error = (body as { error: unknown }).error;
  if (typeof error !== 'object' || error === null) return null;
  const { code, message, details } = error as Record<string, unknown>;
  if (typeof code !== 'string' || !(errorCodes as readonly string[]).includes(code) || typeof message !== 'string')
    return null;
  return details === undefined
    ? { code: code as ErrorInfo['code'], message }
    : { code: code as ErrorInfo['code'], message, details };
}

/**
 * Typed client for the rclaude REST API. Holds the CSRF token of the browser session and sends it on
 * every mutating request; the session itself travels in the httpOnly cookie.
 */
export class ApiClient {
  readonly #fetch: FetchLike;
  readonly #baseUrl: string;
  #csrfToken: string | null = null;

  constructor(options: ApiClientOptions) {
    this.#fetch = options.fetch;
    this.#baseUrl = options.baseUrl ?? '';
  }

  /** Remembers (or forgets, with null) the CSRF token returned when the browser session was created. */
  setCsrfToken(token: string | null): void {
    this.#csrfToken = token;
  }

  // ---- auth ----------------------------------------------------------------------------------

  /** The current browser session, or null when the browser is not signed in. */
  async getSession(): Promise<BrowserSessionResponse | null> {
    try {
      const session = await this.#json<BrowserSessionResponse>('GET', '/api/auth/session');
      this.#csrfToken = session.csrfToken;
      return session;
    } catch (error) {
      if (error instanceof AppError && error.code === 'UNAUTHENTICATED') return null;
      throw error;
    }
  }

  /** Exchanges an API/login token for a browser session cookie. */
  async createSession(token: string): Promise<BrowserSessionResponse> {
    const session = await this.#json<BrowserSessionResponse>('POST', '/api/auth/session', { token });
    this.#csrfToken = session.csrfToken;
    return session;
  }

  login(username: string, password: string): Promise<LoginResponse> {
    return this.#json<LoginResponse>('POST', '/api/auth/login', { username, password });
  }

  async signOut(): Promise<void> {
    await this.#send('DELETE', '/api/auth/session');
    this.#csrfToken = null;
  }

  // ---- tasks ---------------------------------------------------------------------------------

  async listTasks(options: ListTasksOptions = {}): Promise<Task[]> {
    const query = new URLSearchParams();
    if (options.status) query.set('status', options.status);
    if (options.q) query.set('q', options.q);
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    const suffix = query.size > 0 ? `?${query.toString()}` : '';
    const body = await this.#json<{ tasks: Task[] }>('GET', `/api/tasks${suffix}`);
    return body.tasks;
  }

  getTask(id: string): Promise<Task> {
    return this.#json<Task>('GET', `/api/tasks/${encodeURIComponent(id)}`);
  }

  createTask(request: CreateTaskRequest): Promise<Task> {
    return this.#json<Task>('POST', '/api/tasks', request);
  }

  stopTask(id: string): Promise<Task> {
    return this.#json<Task>('POST', `/api/tasks/${encodeURIComponent(id)}/stop`);
  }

  async deleteTask(id: string): Promise<void> {
    await this.#send('DELETE', `/api/tasks/${encodeURIComponent(id)}`);
  }

  async listTaskEvents(id: string, afterSeq?: number): Promise<TaskEvent[]> {
    const suffix = afterSeq === undefined ? '' : `?after=${afterSeq}`;
    const body = await this.#json<{ events: TaskEvent[] }>(
      'GET',
      `/api/tasks/${encodeURIComponent(id)}/events${suffix}`,
    );
    return body.events;
  }

  /**
   * Continues a finished prompt task's conversation in an interactive Claude Code session (or returns the
   * one already open); attach to the returned session.
   */
  continueTask(id: string, size: { cols?: number; rows?: number } = {}): Promise<SessionInfo> {
    return this.#json<SessionInfo>('POST', `/api/tasks/${encodeURIComponent(id)}/continue`, size);
  }

  /** This calendar month's spending of the caller. */
  getUsage(): Promise<UsageResponse> {
    return this.#json<UsageResponse>('GET', '/api/usage');
  }

  // ---- secrets, API tokens, users ----------------------------------------------------------

  /** The caller's secrets, by name only: the server never returns a value. */
  async listSecrets(): Promise<SecretInfo[]> {
    const body = await this.#json<{ secrets: SecretInfo[] }>('GET', '/api/secrets');
    return body.secrets;
  }

  /** Stores (or replaces) a secret; it reaches the caller's sandboxes started from now on. */
  putSecret(name: string, value: string): Promise<SecretInfo> {
    return this.#json<SecretInfo>('PUT', `/api/secrets/${encodeURIComponent(name)}`, { value });
  }

  async deleteSecret(name: string): Promise<void> {
    await this.#send('DELETE', `/api/secrets/${encodeURIComponent(name)}`);
  }

  async listApiTokens(): Promise<ApiToken[]> {
    const body = await this.#json<{ tokens: ApiToken[] }>('GET', '/api/tokens');
    return body.tokens;
  }

  createApiToken(name: string): Promise<CreatedApiToken> {
    return this.#json<CreatedApiToken>('POST', '/api/tokens', { name });
  }

  async revokeApiToken(id: string): Promise<void> {
    await this.#send('DELETE', `/api/tokens/${encodeURIComponent(id)}`);
  }

  /** Every user (admins only; others get FORBIDDEN). */
  async listUsers(): Promise<User[]> {
    const body = await this.#json<{ users: User[] }>('GET', '/api/users');
    return body.users;
  }

  /** Creates a user (admins only). */
  createUser(request: { username: string; password: string; role: UserRole }): Promise<User> {
    return this.#json<User>('POST', '/api/users', request);
  }

  // ---- files ---------------------------------------------------------------------------------

  listFiles(taskId: string, path: string): Promise<ListFilesResponse> {
    return this.#json<ListFilesResponse>('GET', this.#filesPath(taskId, '', { path }));
  }

  /** Reads at most `maxBytes` from the start of a file. */
  async readFile(taskId: string, path: string, maxBytes: number): Promise<FileContent> {
    const response = await this.#send('GET', this.#filesPath(taskId, '/content', { path, length: String(maxBytes) }));
    const bytes = new Uint8Array(await response.arrayBuffer());
    const header = Number(response.headers.get('x-file-size'));
    return { bytes, size: Number.isFinite(header) && header >= bytes.length ? header : bytes.length };
  }

  writeFile(taskId: string, path: string, content: string | Blob): Promise<WriteFileResponse> {
    return this.#json<WriteFileResponse>('PUT', this.#filesPath(taskId, '/content', { path }), content);
  }

  async deleteFile(taskId: string, path: string, recursive: boolean): Promise<void> {
    await this.#send('DELETE', this.#filesPath(taskId, '', { path, recursive: String(recursive) }));
  }

  async uploadFiles(taskId: string, dir: string, files: readonly File[]): Promise<WriteFileResponse[]> {
    const form = new FormData();
    for (const file of files) form.append('file', file, file.name);
    const body = await this.#json<{ files: WriteFileResponse[] }>(
      'POST',
      this.#filesPath(taskId, '/upload', { dir }),
      form,
    );
    return body.files;
  }

  /** A URL the browser can follow (with its cookie) to download a file as an attachment. */
  fileDownloadUrl(taskId: string, path: string): string {
    return `${this.#baseUrl}${this.#filesPath(taskId, '/download', { path })}`;
  }

  // ---- plumbing ------------------------------------------------------------------------------

  #filesPath(taskId: string, suffix: string, query: Record<string, string>): string {
    return `/api/tasks/${encodeURIComponent(taskId)}/files${suffix}?${new URLSearchParams(query).toString()}`;
  }

  async #json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.#send(method, path, body);
    return (await response.json()) as T;
  }

  async #send(method: string, path: string, body?: unknown): Promise<Response> {
    const headers = new Headers({ accept: 'application/json' });
    if (method !== 'GET' && this.#csrfToken) headers.set('x-csrf-token', this.#csrfToken);
    let payload: BodyInit | undefined;
    if (body instanceof FormData || body instanceof Blob) {
      payload = body;
    } else if (typeof body === 'string') {
      payload = body;
      headers.set('content-type', 'application/octet-stream');
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      headers.set('content-type', 'application/json');
    }
    let response: Response;
    try {
      response = await this.#fetch(`${this.#baseUrl}${path}`, {
        method,
        headers,
        body: payload,
        credentials: 'same-origin',
      });
    } catch (cause) {
      throw new AppError('INTERNAL', 'Cannot reach the rclaude server. Check that it is running, then try again.', {
        cause,
        details: NETWORK_ERROR_DETAILS,
      });
    }
    if (!response.ok) throw await errorFromResponse(response);
    return response;
  }
}
