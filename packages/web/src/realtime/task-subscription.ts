import type { Task, TaskEvent } from '@rclaude/protocol';
import type { ClientSocket } from './client-socket.js';

export interface TaskSubscriptionHandlers {
  updated?: (task: Task) => void;
  event?: (event: TaskEvent) => void;
  /** After a reconnect: updates may have been missed, so the caller refetches. */
  resync?: () => void;
}

/**
 * Subscribes to live task updates (every task of the user, or one task) and renews the subscription
 * after every reconnect. Returns a function that removes the listeners.
 */
export function subscribeToTasks(
  socket: ClientSocket,
  target: { all: true } | { taskId: string },
  handlers: TaskSubscriptionHandlers,
): () => void {
  const matches = (taskId: string) => 'all' in target || target.taskId === taskId;
  const onUpdated = (task: Task) => {
    if (matches(task.id)) handlers.updated?.(task);
  };
  const onEvent = (event: TaskEvent) => {
    if (matches(event.taskId)) handlers.event?.(event);
  };
  let connectedBefore = false;
  const subscribe = () => {
    socket.emit('task:subscribe', target, () => {});
    if (connectedBefore) handlers.resync?.();
    connectedBefore = true;
  };
  socket.on('task:updated', onUpdated);
  socket.on('task:event', onEvent);
  socket.on('connect', subscribe);
  if (socket.connected) subscribe();
  return () => {
    socket.off('task:updated', onUpdated);
    socket.off('task:event', onEvent);
    socket.off('connect', subscribe);
  };
}
