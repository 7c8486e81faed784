import {
  AppError,
  type CreateTaskRequest,
  type ExecuteResult,
  errorBodySchema,
  type ListFilesResponse,
  type SessionInfo,
  type Task,
  type TaskEvent,
} from '@rclaude/protocol';
import { CliError } from './errors.js';
import { resolveTarget } from './settings.js';

/** The REST API, as the CLI uses it. Errors come back as AppError with the server's code and message. */
export class ApiClient {
  constructor(
    readonly server: string,
    readonly token: string,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    init: { raw?: boolean; headers?: Record<string, string> } = {},
  ): Promise<T> {
    let res: Response;
    try {
      res = await this.fetchImpl(`${this.server}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body !== undefined && !init.raw ? { 'content-type': 'application/json' } : {}),
          ...init.headers,
        },
        ...(body === undefined ? {} : { body: init.raw ? (body as RequestInit['body']) : JSON.stringify(body) }),
        signal: AbortSignal.timeout(5 * 60_000),
        ...(init.raw && body !== undefined ? { duplex: 'half' } : {}),
      });
    } catch (err) {
      throw new CliError(
        `cannot reach the rclaude server at ${this.server} (${(err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).message})`,
        1,
        'is it running? start it with `rclaude server`, or point at another with --server / RCLAUDE_SERVER',
      );
    }
    if (!res.ok) throw await toError(res);
    if (res.status === 204) return undefined as T;
    if (init.raw) return res as T;
    return (await res.json()) as T;
  }

  createTask(req: CreateTaskRequest): Promise<Task> {
    return this.request('POST', '/api/tasks', req);
  }
  listTasks(query: { status?: string; all?: boolean; limit?: number } = {}): Promise<{ tasks: Task[] }> {
    const q = new URLSearchParams();
    if (query.status) q.set('status', query.status);
    if (query.all) q.set('all', 'true');
    q.set('limit', String(query.limit ?? 500));
    return this.request('GET', `/api/tasks?${q}`);
  }
  getTask(id: string): Promise<Task> {
    return this.request('GET', `/api/tasks/${encodeURIComponent(id)}`);
  }
  stopTask(id: string): Promise<Task> {
    return this.request('POST', `/api/tasks/${encodeURIComponent(id)}/stop`);
  }
  deleteTask(id: string): Promise<void> {
    return this.request('DELETE', `/api/tasks/${encodeURIComponent(id)}`);
  }
  events(id: string, after?: number): Promise<{ events: TaskEvent[] }> {
    return this.request(
      'GET',
      `/api/tasks/${encodeURIComponent(id)}/events${after === undefined ? '' : `?after=${after}`}`,
    );
  }
  execute(sessionId: string, command: string | string[], timeoutMs?: number): Promise<ExecuteResult> {
    return this.request('POST', `/api/sessions/${encodeURIComponent(sessionId)}/execute`, {
      command,
      ...(timeoutMs ? { timeoutMs } : {}),
    });
  }
  session(sessionId: string): Promise<SessionInfo> {
    return this.request('GET', `/api/sessions/${encodeURIComponent(sessionId)}`);
  }
  listFiles(taskId: string, dir: string): Promise<ListFilesResponse> {
    return this.request('GET', `/api/tasks/${encodeURIComponent(taskId)}/files?path=${encodeURIComponent(dir)}`);
  }

  /**
   * Finds a task by id or unique id prefix (like Docker), or by exact name.
   */
  async resolveTask(ref: string): Promise<Task> {
    if (/^[a-z0-9]{10}$/.test(ref)) {
      try {
        return await this.getTask(ref);
      } catch (err) {
        if (!(err instanceof AppError && err.code === 'NOT_FOUND')) throw err;
      }
    }
    const { tasks } = await this.listTasks();
    const byPrefix = tasks.filter((t) => t.id.startsWith(ref));
    const matches = byPrefix.length ? byPrefix : tasks.filter((t) => t.name === ref);
    if (matches.length === 1) return matches[0] as Task;
    if (matches.length === 0) throw new AppError('NOT_FOUND', `no task matches "${ref}"`);
    throw new CliError(
      `"${ref}" matches ${matches.length} tasks: ${matches
        .slice(0, 5)
        .map((t) => t.id)
        .join(', ')}${matches.length > 5 ? ', ...' : ''}`,
      1,
      'give more characters of the id',
    );
  }
}

async function toError(res: Response): Promise<Error> {
  const text = await res.text().catch(() => '');
  try {
    const parsed = errorBodySchema.safeParse(JSON.parse(text));
    if (parsed.success) return AppError.from(parsed.data.error);
  } catch {
    // Not JSON: a proxy in between, or not an rclaude server at all.
  }
  return new CliError(`the server answered ${res.status} ${res.statusText}${text ? `: ${text.slice(0, 200)}` : ''}`);
}

/** A client for the server and token a command should use (see {@link resolveTarget}). */
export function apiClientFor(opts: { server?: string | undefined }): ApiClient {
  const { server, token } = resolveTarget(opts);
  return new ApiClient(server, token);
}
