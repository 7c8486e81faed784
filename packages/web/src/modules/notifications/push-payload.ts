import type { PushAction, PushNotification } from '@rclaude/protocol';

/**
 * What the service worker shows for a push message: the title and the options of `showNotification`. Pure and
 * free of DOM and worker globals, so the service worker and the tests share it.
 */
export interface ShownNotification {
  title: string;
  options: {
    body: string;
    tag: string;
    icon: string;
    badge: string;
    data: NotificationData;
    actions: { action: string; title: string }[];
  };
}

/** What a shown notification keeps for its click: where to go, and the approval its buttons answer. */
export interface NotificationData {
  url: string;
  taskId: string | null;
  approvalId: string | null;
}

const ACTIONS = new Set<PushAction['action']>(['open', 'approve', 'deny']);

function str(value: unknown, max: number): string | null {
  return typeof value === 'string' ? value.slice(0, max) : null;
}

/** A path on this origin only (`/tasks/abc`), never another site (`//evil.example`, `https://...`). */
export function safePath(value: unknown): string {
  const path = str(value, 300);
  if (!path?.startsWith('/') || path.startsWith('//') || path.includes('\\')) return '/';
  return path;
}

/**
 * Reads a push message's JSON (as the proxy's `PushNotification`) defensively: whatever arrives, the result is
 * a notification with bounded text, a same-origin path, and only the known actions. Null when it is not JSON.
 */
export function notificationFromPush(json: unknown): ShownNotification | null {
  if (typeof json !== 'object' || json === null) return null;
  const msg = json as Partial<Record<keyof PushNotification, unknown>>;
  const taskId = str(msg.taskId, 64);
  const approvalId = str(msg.approvalId, 64);
  const actions = Array.isArray(msg.actions)
    ? msg.actions.flatMap((a: unknown) => {
        if (typeof a !== 'object' || a === null) return [];
        const { action, title } = a as { action?: unknown; title?: unknown };
        if (typeof action !== 'string' || !ACTIONS.has(action as PushAction['action'])) return [];
        // Approve and deny need the approval they answer.
        if (action !== 'open' && (!approvalId || !taskId)) return [];
        return [{ action, title: str(title, 40) ?? action }];
      })
    : [];
  return {
    title: str(msg.title, 120) || 'rclaude',
    options: {
      body: str(msg.body, 600) ?? '',
      tag: str(msg.tag, 100) ?? 'rclaude',
      icon: '/icon-192.png',
      badge: '/badge-96.png',
      data: { url: safePath(msg.url), taskId, approvalId },
      actions: actions.slice(0, 2),
    },
  };
}

/** Reads back what {@link notificationFromPush} stored on a shown notification. */
export function notificationData(data: unknown): NotificationData {
  const d = typeof data === 'object' && data !== null ? (data as Record<string, unknown>) : {};
  return { url: safePath(d.url), taskId: str(d.taskId, 64), approvalId: str(d.approvalId, 64) };
}

/** The request a tapped Approve / Deny makes: `POST /api/tasks/:id/approvals/:approvalId`. */
export function approvalRequest(
  data: NotificationData,
  action: string,
): { path: string; body: { decision: 'allow' | 'deny' } } | null {
  if ((action !== 'approve' && action !== 'deny') || !data.taskId || !data.approvalId) return null;
  return {
    path: `/api/tasks/${encodeURIComponent(data.taskId)}/approvals/${encodeURIComponent(data.approvalId)}`,
    body: { decision: action === 'approve' ? 'allow' : 'deny' },
  };
}
