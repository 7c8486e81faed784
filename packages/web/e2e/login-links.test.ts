// @vitest-environment node
import { createLoginUrl } from '@rclaude/testkit';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectPageErrors, ensureBuilt, launchBrowser, startServer, type TestServer } from './harness.js';

/**
 * One-time login links in Debian's Chromium against a real `rclaude server` (issue 16): the token leaves the
 * address bar at once, a link for another account asks before switching (login CSRF), and a used link says
 * so and offers to sign in.
 */

let server: TestServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let bobToken: string;
const pageErrors: string[] = [];

async function api(method: string, urlPath: string, token: string, body?: unknown): Promise<Response> {
  return fetch(`${server.url}${urlPath}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** The username the app's header shows, once the dashboard is up. */
async function signedInAs(): Promise<string> {
  await page.getByRole('heading', { name: 'Tasks', exact: true }).waitFor();
  return (await page.getByTitle('Signed in').textContent()) ?? '';
}

describe('login links, end to end', { timeout: 90_000 }, () => {
  beforeAll(async () => {
    await ensureBuilt();
    server = await startServer();
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    collectPageErrors(page, pageErrors);
    const created = await api('POST', '/api/users', server.token, { username: 'bob', password: 'bob-password' });
    expect(created.status).toBe(201);
    const login = await fetch(`${server.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'bob', password: 'bob-password' }),
    });
    bobToken = ((await login.json()) as { token: string }).token;
  });

  afterAll(async () => {
    const crash = server?.crashed();
    if (crash) console.error(`${crash}\n--- server log ---\n${server.logTail()}`);
    await browser?.close();
    await server?.stop();
  });

  it("signs in with `rclaude web`'s link and takes the token out of the address bar at once", async () => {
    const { url } = JSON.parse(await server.cli(['web', '--json'])) as { url: string };
    expect(url).toContain('#token=rcl_');
    // The address as the page's own code first sees it, before any request of the app.
    await context.addInitScript(() => {
      (window as unknown as { firstAddress: string }).firstAddress = window.location.href;
    });
    await page.goto(url);
    expect(await signedInAs()).toBe('admin');
    expect(page.url()).toBe(`${server.url}/`);
    expect(await page.evaluate(() => window.location.href)).not.toContain('token');
    // It was there when the page started (so the check above means something), and gone without a reload.
    expect(await page.evaluate(() => (window as unknown as { firstAddress: string }).firstAddress)).toContain(
      '#token=rcl_',
    );
  });

  it('asks before a link for another account switches, and stays when told to', async () => {
    const bobLink = await createLoginUrl(server.url, bobToken);
    await page.goto(bobLink);
    const question = page.getByRole('region', { name: 'Switch account?' });
    await question.waitFor();
    expect(await question.textContent()).toContain('You are signed in as admin. Switch to bob?');
    expect(page.url()).not.toContain('token');
    await page.getByRole('button', { name: 'Stay signed in as admin' }).click();
    expect(await signedInAs()).toBe('admin');

    // Declining left the link unused: it still works, when the person agrees.
    await page.goto(bobLink);
    await question.waitFor();
    await page.getByRole('button', { name: 'Switch to bob' }).click();
    expect(await signedInAs()).toBe('bob');
    const me = await page.evaluate(async () => (await (await fetch('/api/me')).json()) as { username: string });
    expect(me.username).toBe('bob');

    // Used now: it says so, and bob carries on.
    await page.goto(bobLink);
    await page.getByText('This sign-in link was already used.').waitFor();
    await page.getByRole('button', { name: 'Continue as bob' }).click();
    expect(await signedInAs()).toBe('bob');

    // Signed out, a used link offers the password form.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to rclaude' }).waitFor();
    await page.goto(bobLink);
    await page.getByText('This sign-in link was already used.').waitFor();
    await page.getByLabel('Username').fill('bob');
    await page.getByLabel('Password').fill('bob-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    expect(await signedInAs()).toBe('bob');
    // The refusals above are answers the page expects (409, 401); nothing else went wrong.
    expect(pageErrors.filter((e) => !/\/api\/auth\/session|Failed to load resource/.test(e))).toEqual([]);
  });
});
