import type { Task } from '@rclaude/protocol';
import { useEffect, useState } from 'react';
import { useSocket } from '../../app-context.js';
import { subscribeToTasks } from '../../realtime/task-subscription.js';

/**
 * Decides which task updates deserve a browser notification: a task that starts waiting for its owner
 * (a permission prompt, a question), once per wait. `seen` remembers each task's last activity.
 */
export function waitingNotice(seen: Map<string, Task['activity']>, task: Task): { title: string; body: string } | null {
  const before = seen.get(task.id);
  seen.set(task.id, task.activity);
  if (task.activity !== 'waiting' || before === 'waiting') return null;
  return {
    title: `${task.name} is waiting for you`,
    body: task.statusReason ?? 'Claude Code needs input to go on.',
  };
}

type Permission = NotificationPermission | 'unsupported';

function currentPermission(): Permission {
  return typeof Notification === 'undefined' ? 'unsupported' : Notification.permission;
}

/**
 * Shows a browser notification when one of the user's tasks starts waiting for input, so a person can
 * leave the tab. Returns the permission state and a function to ask for it (browsers require a click).
 */
export function useWaitingNotifications(): { permission: Permission; enable: () => void } {
  const socket = useSocket();
  const [permission, setPermission] = useState<Permission>(currentPermission);
  useEffect(() => {
    if (permission !== 'granted') return;
    const seen = new Map<string, Task['activity']>();
    return subscribeToTasks(
      socket,
      { all: true },
      {
        updated: (task) => {
          const notice = waitingNotice(seen, task);
          if (notice) new Notification(notice.title, { body: notice.body, tag: `rclaude-${task.id}` });
        },
      },
    );
  }, [socket, permission]);
  const enable = () => {
    if (typeof Notification === 'undefined') return;
    void Notification.requestPermission().then(setPermission);
  };
  return { permission, enable };
}
