// @vitest-environment node
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectPageErrors, ensureBuilt, launchBrowser, startServer, type TestServer } from './harness.js';

/**
 * The Settings page against a real `rclaude server` (embedded Postgres) in Debian's Chromium: a secret
 * stored in the browser is what the API then lists, and its value never comes back to the page.
 */

let server: TestServer;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

describe('settings page, end to end', { timeout: 90_000 }, () => {
  beforeAll(async () => {
    await ensureBuilt();
    server = await startServer();
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    collectPageErrors(page, pageErrors);
  });

  afterAll(async () => {
    const crash = server?.crashed();
    if (crash) console.error(`${crash}\n--- server log ---\n${server.logTail()}`);
    await browser?.close();
    await server?.stop();
  });

  it('stores a secret from the Settings page, which the API then lists by name', async () => {
    const value = 'ghp_e2e-value-that-must-not-come-back';
    await page.goto(await server.loginUrl());
    await page.getByRole('heading', { name: 'Tasks', exact: true }).waitFor();
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/settings');

    const form = page.getByRole('form', { name: 'Store a secret' });
    await form.getByRole('button', { name: 'GITHUB_TOKEN' }).click();
    await form.getByLabel('Value').fill(value);
    await form.getByRole('button', { name: 'Save secret' }).click();

    const stored = page.getByRole('list', { name: 'Stored secrets' });
    await stored.getByText('GITHUB_TOKEN', { exact: true }).waitFor();
    await page.getByRole('status').filter({ hasText: 'Saved GITHUB_TOKEN' }).waitFor();
    expect(await form.getByLabel('Value').inputValue()).toBe('');
    expect(await page.content()).not.toContain(value);

    // The server has it, by name only; the value stays on the server.
    const response = await fetch(`${server.url}/api/secrets`, {
      headers: { authorization: `Bearer ${server.token}` },
    });
    expect(response.status).toBe(200);
    const body = await response.text();
    const { secrets } = JSON.parse(body) as { secrets: { name: string; updatedAt: string }[] };
    expect(secrets.map((s) => s.name)).toEqual(['GITHUB_TOKEN']);
    expect(body).not.toContain(value);

    // A reload lists it again from the server.
    await page.reload();
    await page.getByRole('list', { name: 'Stored secrets' }).getByText('GITHUB_TOKEN', { exact: true }).waitFor();
  });

  it('logged no console errors', () => {
    expect(pageErrors).toEqual([]);
  });
});
