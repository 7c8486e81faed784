import type { Task, TaskEvent } from '@rclaude/protocol';
import type { QueryClient } from '@tanstack/react-query';
import type { ApiClient } from './api-client.js';

/**
 * Query factories, one per resource: each returns the key and the fetcher together so every component
 * asks for the same data the same way, and cache updates from live events find the right entries.
 */

/** How many tasks the dashboard loads; filtering and search then happen in the browser, instantly. */
export const DASHBOARD_TASK_LIMIT = 500;

export const queryKeys = {
  session: ['session'] as const,
  tasks: ['tasks'] as const,
  task: (id: string) => ['task', id] as const,
  taskEvents: (id: string) => ['task', id, 'events'] as const,
  checkpoints: (id: string) => ['task', id, 'checkpoints'] as const,
  files: (taskId: string) => ['task', taskId, 'files'] as const,
  dir: (taskId: string, path: string) => ['task', taskId, 'files', 'dir', path] as const,
  fileContent: (taskId: string, path: string) => ['task', taskId, 'files', 'content', path] as const,
  usage: ['usage'] as const,
  secrets: ['secrets'] as const,
  allowHosts: ['allow-hosts'] as const,
  apiTokens: ['api-tokens'] as const,
  pushSubscriptions: ['push-subscriptions'] as const,
  users: ['users'] as const,
};

export function sessionQuery(api: ApiClient) {
  return { queryKey: queryKeys.session, queryFn: () => api.getSession(), staleTime: Number.POSITIVE_INFINITY };
}

/**
 * Live events keep the list current; the slow poll only catches what has no event (a task deleted from
 * another tab or the CLI) and updates missed while the socket was down.
 */
const SAFETY_REFETCH_MS = 30_000;

export function tasksQuery(api: ApiClient) {
  return {
    queryKey: queryKeys.tasks,
    queryFn: () => api.listTasks({ limit: DASHBOARD_TASK_LIMIT }),
    refetchInterval: SAFETY_REFETCH_MS,
  };
}

export function taskQuery(api: ApiClient, id: string) {
  return { queryKey: queryKeys.task(id), queryFn: () => api.getTask(id) };
}

export function taskEventsQuery(api: ApiClient, id: string) {
  return { queryKey: queryKeys.taskEvents(id), queryFn: () => api.listTaskEvents(id) };
}

export function checkpointsQuery(api: ApiClient, id: string) {
  return { queryKey: queryKeys.checkpoints(id), queryFn: () => api.listCheckpoints(id) };
}

export function dirQuery(api: ApiClient, taskId: string, path: string) {
  return { queryKey: queryKeys.dir(taskId, path), queryFn: () => api.listFiles(taskId, path) };
}

/** Largest file the viewer reads; bigger files show their beginning and a note. */
export const VIEWER_MAX_BYTES = 1024 * 1024;

export function fileContentQuery(api: ApiClient, taskId: string, path: string) {
  return {
    queryKey: queryKeys.fileContent(taskId, path),
    queryFn: () => api.readFile(taskId, path, VIEWER_MAX_BYTES),
  };
}

export function usageQuery(api: ApiClient) {
  return { queryKey: queryKeys.usage, queryFn: () => api.getUsage(), staleTime: 60_000 };
}

export function secretsQuery(api: ApiClient) {
  return { queryKey: queryKeys.secrets, queryFn: () => api.listSecrets() };
}

export function allowHostsQuery(api: ApiClient) {
  return { queryKey: queryKeys.allowHosts, queryFn: () => api.listAllowHosts() };
}

export function apiTokensQuery(api: ApiClient) {
  return { queryKey: queryKeys.apiTokens, queryFn: () => api.listApiTokens() };
}

export function pushSubscriptionsQuery(api: ApiClient) {
  return { queryKey: queryKeys.pushSubscriptions, queryFn: () => api.listPushSubscriptions() };
}

export function usersQuery(api: ApiClient) {
  return { queryKey: queryKeys.users, queryFn: () => api.listUsers() };
}

/** Puts a task pushed by `task:updated` into the list and its own entry, so pages update without a fetch. */
export function applyTaskUpdate(client: QueryClient, task: Task): void {
  client.setQueryData<Task[]>(queryKeys.tasks, (tasks) => {
    if (!tasks) return tasks;
    const index = tasks.findIndex((t) => t.id === task.id);
    if (index === -1) return [task, ...tasks];
    const next = tasks.slice();
    next[index] = task;
    return next;
  });
  client.setQueryData<Task>(queryKeys.task(task.id), (current) => (current ? task : current));
}

/** Drops a deleted task from the caches. */
export function applyTaskRemoval(client: QueryClient, id: string): void {
  client.setQueryData<Task[]>(queryKeys.tasks, (tasks) => tasks?.filter((t) => t.id !== id));
  client.removeQueries({ queryKey: queryKeys.task(id) });
}

/** Appends a timeline event pushed by `task:event`, ignoring one already held (same seq). */
export function applyTaskEvent(client: QueryClient, event: TaskEvent): void {
  client.setQueryData<TaskEvent[]>(queryKeys.taskEvents(event.taskId), (events) => {
    if (!events) return events;
    if (events.some((e) => e.seq === event.seq)) return events;
    return [...events, event].sort((a, b) => a.seq - b.seq);
  });
}
