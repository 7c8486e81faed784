import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { applyTaskEvent, applyTaskUpdate, queryKeys } from '../../api/queries.js';
import { useSocket } from '../../app-context.js';
import { subscribeToTasks } from '../../realtime/task-subscription.js';

/**
 * Keeps cached tasks current from `task:updated` / `task:event` pushes: every task of the user when
 * `taskId` is omitted, otherwise that one task (with its timeline). Refetches after a reconnect.
 */
export function useLiveTasks(taskId?: string): void {
  const socket = useSocket();
  const client = useQueryClient();
  useEffect(() => {
    const target = taskId ? { taskId } : ({ all: true } as const);
    return subscribeToTasks(socket, target, {
      updated: (task) => applyTaskUpdate(client, task),
      event: (event) => {
        applyTaskEvent(client, event);
        // A checkpoint taken (by anyone: the periodic timer, a stop, the CLI) changes the task's list of them.
        if (event.type === 'checkpoint')
          void client.invalidateQueries({ queryKey: queryKeys.checkpoints(event.taskId) });
      },
      resync: () => {
        void client.invalidateQueries({ queryKey: taskId ? queryKeys.task(taskId) : queryKeys.tasks });
        if (taskId) void client.invalidateQueries({ queryKey: queryKeys.taskEvents(taskId) });
      },
    });
  }, [socket, client, taskId]);
}

/**
 * The live connection's state for the header: `offline` only after it was once up, so the first
 * connect does not flash a warning.
 */
export function useSocketStatus(): 'connecting' | 'connected' | 'offline' {
  const socket = useSocket();
  const [status, setStatus] = useState<'connecting' | 'connected' | 'offline'>(
    socket.connected ? 'connected' : 'connecting',
  );
  useEffect(() => {
    const up = () => setStatus('connected');
    const down = () => setStatus('offline');
    socket.on('connect', up);
    socket.on('disconnect', down);
    if (socket.connected) setStatus('connected');
    return () => {
      socket.off('connect', up);
      socket.off('disconnect', down);
    };
  }, [socket]);
  return status;
}
