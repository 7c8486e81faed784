import { type FetchLike, ApiClient as RestClient } from '@rclaude/client/rest';
import { AppError } from '@rclaude/protocol/errors';
import type { Task } from '@rclaude/protocol/tasks';
import { CliError, EXIT } from './errors.js';
import { httpFetch } from './http-fetch.js';
import { safeText } from './output.js';
import { resolveTarget } from './settings.js';

/** A request gives up after this long (a file copy included). */
const REQUEST_TIMEOUT_MS = 5 * 60_000;

/**
 * The REST client as the CLI uses it: `@rclaude/client`'s typed client with a bearer token, plus task
 * lookup by id prefix or name, over node:http ({@link httpFetch}) unless told otherwise. Errors are AppErrors
 * with the server's code (see `describe` in describe-error.ts).
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
      fetch: fetchImpl ?? httpFetch,
    });
  }

  /** The task's timeline after `after`. */
  async events(id: string, after?: number) {
    return { events: await this.listTaskEvents(id, after) };
  }

  /** The session a command is about: `--session` (an id, or a unique prefix of one of the task's), or the main one. */
  async resolveSession(task: Task, ref: string | undefined): Promise<string> {
    if (!ref) return task.mainSessionId;
    const { sessions } = await this.call('listTaskSessions', { params: { id: task.id } });
    const exact = sessions.find((s) => s.id === ref);
    if (exact) return exact.id;
    const matches = sessions.filter((s) => s.id.startsWith(ref));
    if (matches.length === 1) return (matches[0] as { id: string }).id;
    const known = sessions.map((s) => `${s.id} (${s.kind}: ${s.command.join(' ') || 'shell'})`).join(', ');
    throw new CliError(
      matches.length ? `"${ref}" matches several sessions of ${task.id}` : `task ${task.id} has no session "${ref}"`,
      EXIT.error,
      `its sessions: ${safeText(known)}`,
    );
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

/** A client for the server and token a command should use (see {@link resolveTarget}). */
export function apiClientFor(opts: { server?: string | undefined }): ApiClient {
  const { server, token } = resolveTarget(opts);
  return new ApiClient(server, token);
}
