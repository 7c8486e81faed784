import { type FetchLike, ApiClient as RestClient } from '@rclaude/client';
import { AppError, type RouteName, type RouteSpec, routeNames, routes, type Task } from '@rclaude/protocol';
import { CliError } from './errors.js';
import { resolveTarget } from './settings.js';

/** A request gives up after this long (a file copy included). */
const REQUEST_TIMEOUT_MS = 5 * 60_000;

/**
 * The REST client as the CLI uses it: `@rclaude/client`'s typed client with a bearer token, plus task
 * lookup by id prefix or name. Errors are AppErrors with the server's code (see `describe` in errors.ts).
 */
export class ApiClient extends RestClient {
  constructor(
    readonly server: string,
    readonly token: string,
    fetchImpl?: FetchLike,
  ) {
    super({
      baseUrl: server,
      token,
      timeoutMs: REQUEST_TIMEOUT_MS,
      ...(fetchImpl ? { fetch: fetchImpl } : {}),
    });
  }

  /** The task's timeline after `after`. */
  async events(id: string, after?: number) {
    return { events: await this.listTaskEvents(id, after) };
  }

  /**
   * A route of the table called by method and path, its answer parsed with the route's schema. Only for
   * callers not yet on {@link RestClient.call} (`terminal/prompt-view.ts`); use `call` or a named method.
   */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const [pathname = '', search = ''] = path.split('?');
    for (const name of routeNames) {
      const route: RouteSpec = routes[name];
      const params = route.method === method ? matchPath(route.path, pathname) : null;
      if (!params) continue;
      const query = Object.fromEntries(new URLSearchParams(search));
      const input = { params, query, ...(body === undefined ? {} : { body }) };
      return (await this.call(name as RouteName, input as never)) as T;
    }
    throw new AppError('NOT_FOUND', `no route ${method} ${pathname}`);
  }

  /** Finds a task by id or unique id prefix (like Docker), or by exact name. */
  async resolveTask(ref: string): Promise<Task> {
    if (/^[a-z0-9]{10}$/.test(ref)) {
      try {
        return await this.getTask(ref);
      } catch (err) {
        if (!(err instanceof AppError && err.code === 'NOT_FOUND')) throw err;
      }
    }
    const tasks = await this.listTasks({ limit: 500 });
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

/** The path parameters of `pathname` for the Express-style `pattern`, or null when it does not match. */
function matchPath(pattern: string, pathname: string): Record<string, string> | null {
  const names: string[] = [];
  const source = pattern.replace(/:(\w+)/g, (_m, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  const match = new RegExp(`^${source}$`).exec(pathname);
  if (!match) return null;
  return Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(match[i + 1] ?? '')]));
}

/** A client for the server and token a command should use (see {@link resolveTarget}). */
export function apiClientFor(opts: { server?: string | undefined }): ApiClient {
  const { server, token } = resolveTarget(opts);
  return new ApiClient(server, token);
}
