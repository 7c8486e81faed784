// @vitest-environment node
import type { Browser, BrowserContext, CDPSession, Page, Worker } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectPageErrors, ensureBuilt, launchBrowser, startServer, type TestServer, waitFor } from './harness.js';

/**
 * The installable app and the phone, end to end against a real `rclaude server` in Debian's Chromium:
 * - the real service worker of the built app, registered by the app, shows a Web Push message delivered to it
 *   through the DevTools protocol (Chromium's own push service is Google's, which tests never reach; the proxy's
 *   side of Web Push is tested against a push service on loopback in packages/proxy/test/push.test.ts), and a
 *   click on the notification opens its task;
 * - on a 390 px wide touch screen, the terminal's key row sends the bytes a phone keyboard lacks to a program
 *   in the sandbox that prints every byte it reads in hex.
 */

let server: TestServer;
let browser: Browser;

beforeAll(async () => {
  await ensureBuilt();
  server = await startServer();
  browser = await launchBrowser();
}, 600_000);

afterAll(async () => {
  const crash = server?.crashed();
  if (crash) console.error(`${crash}\n--- server log ---\n${server.logTail()}`);
  await browser?.close();
  await server?.stop();
}, 120_000);

/** A shown notification, as `registration.getNotifications()` reports it. */
interface Shown {
  title: string;
  body: string;
  tag: string;
  data: { url?: string; taskId?: string | null; approvalId?: string | null };
  actions: { action: string; title: string }[];
}

async function shownNotifications(page: Page): Promise<Shown[]> {
  return page.evaluate(async () => {
    const registration = await navigator.serviceWorker.ready;
    return (await registration.getNotifications()).map((n) => ({
      title: n.title,
      body: n.body,
      tag: n.tag,
      data: n.data as Shown['data'],
      actions: ((n as unknown as { actions?: { action: string; title: string }[] }).actions ?? []).map((a) => ({
        action: a.action,
        title: a.title,
      })),
    }));
  });
}

describe('the installable app and its service worker', { timeout: 120_000 }, () => {
  let context: BrowserContext;
  let page: Page;
  let cdp: CDPSession;
  let worker: Worker;
  let registrationId = '';
  const pageErrors: string[] = [];

  beforeAll(async () => {
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.grantPermissions(['notifications'], { origin: server.url });
    page = await context.newPage();
    collectPageErrors(page, pageErrors);
    cdp = await context.newCDPSession(page);
    const registered = new Promise<string>((resolve) => {
      cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
        const ours = registrations.find((r) => r.scopeURL === `${server.url}/` && !r.isDeleted);
        if (ours) resolve(ours.registrationId);
      });
    });
    await cdp.send('ServiceWorker.enable');
    const workerSeen = context.waitForEvent('serviceworker');
    await page.goto(await server.loginUrl());
    await page.getByRole('heading', { name: 'Tasks', exact: true }).waitFor();
    registrationId = await registered;
    worker = context.serviceWorkers()[0] ?? (await workerSeen);
    // The worker claims open tabs once active, so a click can navigate this one.
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, { timeout: 30_000 });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
  });

  it('serves a manifest for an installable app and a CSP that allows only its own worker and manifest', async () => {
    const response = await page.request.get(`${server.url}/manifest.webmanifest`);
    expect(response.status()).toBe(200);
    const manifest = (await response.json()) as { display: string; icons: { sizes: string; purpose: string }[] };
    expect(manifest.display).toBe('standalone');
    expect(manifest.icons.map((i) => i.sizes)).toEqual(expect.arrayContaining(['192x192', '512x512']));
    expect(manifest.icons.some((i) => i.purpose === 'maskable')).toBe(true);
    const icon = await page.request.get(`${server.url}/icon-192.png`);
    expect(icon.headers()['content-type']).toBe('image/png');
    const csp = (await page.request.get(`${server.url}/`)).headers()['content-security-policy'] ?? '';
    expect(csp).toContain("worker-src 'self'");
    expect(csp).toContain("manifest-src 'self'");
    expect(worker.url()).toBe(`${server.url}/sw.js`);
  });

  it('shows a pushed message as a notification, and a click opens its task', async () => {
    const message = {
      kind: 'waiting',
      title: 'fix-login is waiting for you',
      body: 'Claude needs your permission to use Bash',
      taskId: 'pushtask1',
      url: '/tasks/pushtask1',
      tag: 'rclaude-pushtask1',
      actions: [{ action: 'open', title: 'Open' }],
    };
    await cdp.send('ServiceWorker.deliverPushMessage', {
      origin: server.url,
      registrationId,
      data: JSON.stringify(message),
    });
    let shown: Shown[] = [];
    await waitFor(async () => {
      shown = await shownNotifications(page);
      return shown.length === 1;
    }, 'the notification');
    expect(shown[0]).toMatchObject({
      title: message.title,
      body: message.body,
      tag: message.tag,
      data: { url: '/tasks/pushtask1', taskId: 'pushtask1' },
    });

    // There is no notification UI to click in headless Chromium: the test dispatches the click the browser would.
    await worker.evaluate(`(async () => {
      const [notification] = await self.registration.getNotifications();
      self.dispatchEvent(new NotificationEvent('notificationclick', { notification, action: '' }));
    })()`);
    await page.waitForURL(`${server.url}/tasks/pushtask1`, { timeout: 20_000 });
    expect(await shownNotifications(page)).toEqual([]);
  });

  it('never opens another site, whatever a message says', async () => {
    await page.goto(`${server.url}/`);
    await page.getByRole('heading', { name: 'Tasks', exact: true }).waitFor();
    await cdp.send('ServiceWorker.deliverPushMessage', {
      origin: server.url,
      registrationId,
      data: JSON.stringify({ title: 'x', body: 'y', url: '//evil.example/steal', tag: 't', taskId: null }),
    });
    await waitFor(async () => (await shownNotifications(page)).length === 1, 'the notification');
    const [shown] = await shownNotifications(page);
    expect(shown?.data.url).toBe('/');
    await worker.evaluate(`(async () => {
      const [notification] = await self.registration.getNotifications();
      self.dispatchEvent(new NotificationEvent('notificationclick', { notification, action: '' }));
    })()`);
    await waitFor(async () => (await shownNotifications(page)).length === 0, 'the notification to close');
    expect(new URL(page.url()).origin).toBe(server.url);
  });

  it("answers an approval's button with the browser's session and says how it went", async () => {
    await cdp.send('ServiceWorker.deliverPushMessage', {
      origin: server.url,
      registrationId,
      data: JSON.stringify({
        kind: 'waiting',
        title: 'deploy wants to run Bash',
        body: 'rm -rf build',
        taskId: 'pushtask2',
        url: '/tasks/pushtask2',
        tag: 'rclaude-pushtask2',
        approvalId: 'ap_k3v7q2mzx6ab',
        actions: [
          { action: 'approve', title: 'Approve' },
          { action: 'deny', title: 'Deny' },
        ],
      }),
    });
    await waitFor(async () => (await shownNotifications(page)).length === 1, 'the approval notification');
    const [shown] = await shownNotifications(page);
    expect(shown?.actions.map((a) => a.action)).toEqual(['approve', 'deny']);
    await worker.evaluate(`(async () => {
      const [notification] = await self.registration.getNotifications();
      self.dispatchEvent(new NotificationEvent('notificationclick', { notification, action: 'approve' }));
    })()`);
    // No such task here: the approvals route's own answer proves the worker's request passed the session cookie
    // and CSRF checks (which answer first) and reached the route with the approval's path and body.
    let result: Shown[] = [];
    await waitFor(async () => {
      result = await shownNotifications(page);
      return result.length === 1 && result[0]?.title !== 'deploy wants to run Bash';
    }, 'the answer notification');
    expect(result[0]?.title).toBe('Not answered: no approval ap_k3v7q2mzx6ab');
    expect(result[0]?.tag).toBe('rclaude-pushtask2');
  });
});

describe('a phone', { timeout: 120_000 }, () => {
  let context: BrowserContext;
  let page: Page;
  let taskId = '';
  const pageErrors: string[] = [];

  beforeAll(async () => {
    context = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 3,
      isMobile: true,
      hasTouch: true,
    });
    await context.addInitScript(() => window.localStorage.setItem('rclaude:terminal-renderer', 'dom'));
    page = await context.newPage();
    collectPageErrors(page, pageErrors);
    // Prints every byte it reads in hex, one a line, raw: Ctrl-C and Escape are bytes to it, not signals or editing.
    const hexdump = `stty raw -echo opost onlcr; printf 'ready\\n'; exec od -An -v -tx1 -w1`;
    taskId = (await server.cli(['run', '--detach', '--name', 'phone keys', '--', 'bash', '-c', hexdump])).trim();
  }, 120_000);

  afterAll(async () => {
    if (taskId) await server.cli(['stop', taskId]).catch(() => undefined);
    await context?.close();
  });

  it('sends the keys a phone keyboard lacks from the row under the terminal', async () => {
    await page.goto(await server.loginUrl(`/tasks/${taskId}`));
    const terminal = page.locator('[data-testid="terminal"]');
    await terminal.and(page.locator('[data-status="connected"]')).waitFor({ timeout: 60_000 });
    const screen = () => terminal.locator('.xterm-rows').textContent();
    await waitFor(async () => ((await screen()) ?? '').includes('ready'), 'the program to start');

    const row = page.getByRole('toolbar', { name: 'Terminal keys' });
    const esc = row.getByRole('button', { name: 'Escape' });
    const box = await esc.boundingBox();
    expect(box?.height).toBeGreaterThanOrEqual(44);
    // Every key is on screen at once: none is scrolled out of a thumb's reach.
    const right = await row.getByRole('button', { name: 'Right arrow' }).boundingBox();
    expect((right?.x ?? 999) + (right?.width ?? 0)).toBeLessThanOrEqual(390);
    await esc.tap();
    await row.getByRole('button', { name: 'Tab', exact: true }).tap();
    await row.getByRole('button', { name: 'Shift-Tab (switch mode)' }).tap();
    await row.getByRole('button', { name: 'Up arrow' }).tap();
    await row.getByRole('button', { name: 'Left arrow' }).tap();
    await row.getByRole('button', { name: 'Control-C (interrupt)' }).tap();
    const ctrl = row.getByRole('button', { name: 'Control (for the next key)' });
    await ctrl.tap();
    expect(await ctrl.getAttribute('aria-pressed')).toBe('true');
    // The sticky Ctrl applies to the next key typed on the keyboard, then lets go.
    await page.keyboard.type('d');
    expect(await ctrl.getAttribute('aria-pressed')).toBe('false');
    await page.keyboard.type('x');
    const expected = '1b 09 1b 5b 5a 1b 5b 41 1b 5b 44 03 04 78';
    const bytes = async () => (((await screen()) ?? '').split('ready')[1]?.match(/\b[0-9a-f]{2}\b/g) ?? []).join(' ');
    await waitFor(async () => (await bytes()) === expected, `${expected} in the terminal`).catch(
      async (err: unknown) => {
        throw new Error(`the sandbox read ${await bytes()}`, { cause: err });
      },
    );
  });

  it('fits the task page in 390 px: no sideways scrolling, the panels as tabs', async () => {
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width).toBeLessThanOrEqual(390);
    await page.getByRole('tab', { name: 'Timeline' }).tap();
    await page.getByRole('tab', { name: 'Terminal' }).tap();
    await page.locator('[data-testid="terminal"][data-status="connected"]').waitFor();
    expect(pageErrors).toEqual([]);
  });
});
