/**
 * This browser's side of Web Push: whether it can receive pushes, its current subscription, subscribing with the
 * server's VAPID key (which asks the person for permission), and a label for the device list.
 */

/** Why this browser cannot receive push notifications, or null when it can. */
export function pushUnsupportedReason(): string | null {
  if (typeof window === 'undefined' || !('serviceWorker' in navigator)) return 'This browser has no service workers.';
  if (!window.isSecureContext) return 'Push notifications need https (or localhost).';
  if (!('PushManager' in window) || typeof Notification === 'undefined') {
    return 'This browser cannot receive push notifications. On an iPhone or iPad, add rclaude to the Home Screen (Share → Add to Home Screen) and open it from there.';
  }
  return null;
}

/** A base64url VAPID key as the bytes `pushManager.subscribe` takes. */
export function base64UrlToBytes(text: string): Uint8Array<ArrayBuffer> {
  const b64 = text
    .replace(/-/g, '+')
    .replace(/_/g, '/')
    .padEnd(Math.ceil(text.length / 4) * 4, '=');
  const binary = atob(b64);
  const bytes = new Uint8Array(new ArrayBuffer(binary.length));
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** `Chrome on Android`, `Firefox on Linux`, `Safari on iPhone`: what the device list calls this browser. */
export function deviceLabel(userAgent: string): string {
  const browser = /Edg\//.test(userAgent)
    ? 'Edge'
    : /Firefox\//.test(userAgent)
      ? 'Firefox'
      : /Chrome\/|Chromium\//.test(userAgent)
        ? 'Chrome'
        : /Safari\//.test(userAgent)
          ? 'Safari'
          : 'Browser';
  const os = /iPhone/.test(userAgent)
    ? 'iPhone'
    : /iPad/.test(userAgent)
      ? 'iPad'
      : /Android/.test(userAgent)
        ? 'Android'
        : /Mac OS X/.test(userAgent)
          ? 'macOS'
          : /Windows/.test(userAgent)
            ? 'Windows'
            : /Linux/.test(userAgent)
              ? 'Linux'
              : null;
  return os ? `${browser} on ${os}` : browser;
}

function sameBytes(a: ArrayBuffer | null, b: Uint8Array): boolean {
  if (!a || a.byteLength !== b.length) return false;
  const view = new Uint8Array(a);
  return view.every((byte, i) => byte === b[i]);
}

async function registration(): Promise<ServiceWorkerRegistration> {
  return (await navigator.serviceWorker.getRegistration('/')) ?? navigator.serviceWorker.register('/sw.js');
}

/** The endpoint of this browser's current push subscription, or null. */
export async function currentEndpoint(): Promise<string | null> {
  if (pushUnsupportedReason()) return null;
  const reg = await navigator.serviceWorker.getRegistration('/');
  return (await reg?.pushManager.getSubscription())?.endpoint ?? null;
}

/** What the server needs to send to this browser: `PushSubscription.toJSON()`, checked. */
export interface BrowserSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

/**
 * Asks for permission (browsers allow that only from a click), then subscribes this browser with the server's
 * key. Throws with a message for people when the person says no or the browser cannot.
 */
export async function subscribeThisBrowser(publicKey: string): Promise<BrowserSubscription> {
  const unsupported = pushUnsupportedReason();
  if (unsupported) throw new Error(unsupported);
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') {
    throw new Error('Notifications are blocked for this site: allow them in the browser’s site settings first.');
  }
  const reg = await registration();
  await navigator.serviceWorker.ready;
  const key = base64UrlToBytes(publicKey);
  let existing = await reg.pushManager.getSubscription();
  // A subscription made for another server key (the server's pair changed) would be refused by the push service.
  if (existing && !sameBytes(existing.options.applicationServerKey, key)) {
    await existing.unsubscribe();
    existing = null;
  }
  const sub = existing ?? (await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key }));
  const json = sub.toJSON();
  const p256dh = json.keys?.p256dh;
  const auth = json.keys?.auth;
  if (!json.endpoint || !p256dh || !auth) throw new Error('The browser gave a subscription without keys.');
  return { endpoint: json.endpoint, keys: { p256dh, auth } };
}

/** Ends this browser's push subscription (after the server forgot it). */
export async function unsubscribeThisBrowser(): Promise<void> {
  const reg = await navigator.serviceWorker.getRegistration('/');
  await (await reg?.pushManager.getSubscription())?.unsubscribe();
}
