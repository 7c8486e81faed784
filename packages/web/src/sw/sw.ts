/// <reference lib="webworker" />
/**
 * The service worker of the installable web app: shows Web Push notifications (with every tab closed), and
 * opens the task a tapped notification is about, or answers an approval from its buttons. It caches nothing:
 * the app needs its server anyway. Built by Vite as its own entry, to `/sw.js` (scope `/`).
 */
import {
  approvalRequest,
  type NotificationData,
  notificationData,
  notificationFromPush,
} from '../modules/notifications/push-payload.js';

declare const self: ServiceWorkerGlobalScope;

self.addEventListener('install', () => {
  void self.skipWaiting();
});

self.addEventListener('activate', (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener('push', (event) => {
  let json: unknown = null;
  try {
    json = event.data?.json() ?? null;
  } catch {
    json = null;
  }
  const shown = notificationFromPush(json) ?? notificationFromPush({ title: 'rclaude', body: '', url: '/' });
  if (shown) event.waitUntil(self.registration.showNotification(shown.title, shown.options));
});

/** Focuses a tab of this app (showing the task if it can), or opens one. */
async function openPage(url: string): Promise<void> {
  const target = new URL(url, self.location.origin).href;
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const exact = windows.find((w) => w.url === target);
  const any = exact ?? windows.find((w) => new URL(w.url).origin === self.location.origin);
  if (any) {
    const shown = exact ?? (await any.navigate(target)) ?? any;
    await shown.focus().catch(() => undefined);
    return;
  }
  await self.clients.openWindow(target);
}

/** The CSRF token of this browser's session, which every mutating API request carries. */
async function csrfToken(): Promise<string | null> {
  const res = await fetch('/api/auth/session', { credentials: 'same-origin' });
  if (!res.ok) return null;
  const body: unknown = await res.json();
  const token = typeof body === 'object' && body !== null ? (body as { csrfToken?: unknown }).csrfToken : null;
  return typeof token === 'string' ? token : null;
}

/** Answers an approval with the browser's session, then says how it went in a notification of its own. */
async function answerApproval(data: NotificationData, action: string, tag: string): Promise<void> {
  const request = approvalRequest(data, action);
  if (!request) return openPage(data.url);
  let said: string;
  try {
    const token = await csrfToken();
    if (!token) throw new Error('sign in to rclaude in this browser first');
    const res = await fetch(request.path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-csrf-token': token },
      body: JSON.stringify(request.body),
    });
    if (!res.ok) {
      const error: unknown = await res.json().catch(() => null);
      const message =
        typeof error === 'object' && error !== null
          ? (error as { error?: { message?: unknown } }).error?.message
          : null;
      throw new Error(typeof message === 'string' ? message : `the server answered ${res.status}`);
    }
    said = request.body.decision === 'allow' ? 'Approved' : 'Denied';
  } catch (err) {
    said = `Not answered: ${err instanceof Error ? err.message : String(err)}`;
  }
  await self.registration.showNotification(said, {
    body: 'Tap to open the task.',
    tag,
    icon: '/icon-192.png',
    data: { ...data, approvalId: null },
  });
}

self.addEventListener('notificationclick', (event) => {
  const data = notificationData(event.notification.data);
  event.notification.close();
  // Started before waitUntil: an event dispatched by a script (not the browser) refuses waitUntil, and the work
  // must happen all the same.
  const done =
    event.action === 'approve' || event.action === 'deny'
      ? answerApproval(data, event.action, event.notification.tag)
      : openPage(data.url);
  event.waitUntil(done);
});
