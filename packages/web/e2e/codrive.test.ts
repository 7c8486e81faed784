// @vitest-environment node
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  collectPageErrors,
  ensureBuilt,
  launchBrowser,
  repoDir,
  startServer,
  type TestServer,
  waitFor,
} from './harness.js';

/**
 * Co-driving end to end (docs/sharing.md#co-driving): a real `rclaude server` with a bubblewrap sandbox running
 * bash, and two Chromium contexts. The owner makes a co-drive link in the Share dialog; a second user opens it,
 * signs in on the share page, asks to type; the owner accepts on the task page; the second user's keystrokes
 * in xterm run in the sandbox; the owner revokes, and the next keystrokes run nothing. Takes
 * `docs/screenshots/codrive-{share,request}-{light,dark}.png`.
 */

const screenshotsDir = path.join(repoDir, 'docs/screenshots');

let server: TestServer;
let browser: Browser;
let ownerContext: BrowserContext;
let guestContext: BrowserContext;
let owner: Page;
let guest: Page;
const pageErrors: string[] = [];
let taskId = '';

/** What a file in the sandbox holds, or `missing`. */
async function sandboxFile(file: string): Promise<string> {
  return (await server.cli(['exec', taskId, `cat ${file} 2>/dev/null || echo missing`])).trim();
}

async function shoot(page: Page, name: string): Promise<void> {
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.waitForFunction(
      (dark) => document.documentElement.classList.contains('dark') === dark,
      scheme === 'dark',
    );
    // Let the terminal redraw in the new theme before the picture.
    await page.waitForTimeout(400);
    await page.screenshot({ path: path.join(screenshotsDir, `${name}-${scheme}.png`) });
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

describe('co-drive links, end to end', () => {
  beforeAll(async () => {
    mkdirSync(screenshotsDir, { recursive: true });
    await ensureBuilt();
    server = await startServer();
    browser = await launchBrowser();
    taskId = (await server.cli(['run', '--detach', '--name', 'pairing session', '--', 'bash'])).trim();
    const created = await fetch(`${server.url}/api/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'bob', password: 'bob-password-1' }),
    });
    expect(created.status).toBe(201);
  }, 240_000);

  afterAll(async () => {
    await guestContext?.close().catch(() => undefined);
    await ownerContext?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await server?.stop();
  }, 60_000);

  it('lets a signed-in user type once the owner accepts, until the owner revokes them', async () => {
    ownerContext = await browser.newContext({ viewport: { width: 1280, height: 760 } });
    guestContext = await browser.newContext({ viewport: { width: 1280, height: 760 } });
    await guestContext.addInitScript(() => window.localStorage.setItem('rclaude:terminal-renderer', 'dom'));
    owner = await ownerContext.newPage();
    guest = await guestContext.newPage();
    collectPageErrors(owner, pageErrors);
    collectPageErrors(guest, pageErrors);

    await owner.goto(await server.loginUrl(`/tasks/${taskId}`));
    await owner.getByTestId('share-task').click();
    await owner.getByTestId('share-drive').check();
    await owner.getByTestId('create-share').click();
    const url = await owner.getByTestId('share-url').inputValue();
    expect(url).toMatch(new RegExp(`^${server.url}/share/sh_[a-z0-9]{16}#[A-Za-z0-9_-]{43}$`));
    await owner.getByRole('button', { name: 'Done' }).click();

    // Signed out, the link asks for an account first, then opens the task.
    await guest.goto(url);
    await guest.getByTestId('share-sign-in').waitFor({ timeout: 30_000 });
    await guest.getByLabel('Username').fill('bob');
    await guest.getByLabel('Password').fill('bob-password-1');
    await guest.getByRole('button', { name: 'Sign in' }).click();
    await guest.getByTestId('share-banner').waitFor({ timeout: 30_000 });
    expect(await guest.getByTestId('drive-state').getAttribute('data-state')).toBe('none');
    expect(await guest.getByTestId('terminal').getAttribute('data-readonly')).toBe('true');

    await guest.getByTestId('ask-to-type').click();
    await waitFor(
      async () => (await guest.getByTestId('drive-state').getAttribute('data-state')) === 'pending',
      'the request to be pending',
    );
    const card = owner.getByTestId('drive-request');
    await card.waitFor({ timeout: 30_000 });
    expect(await card.textContent()).toContain('bob asks to type');
    await shoot(owner, 'codrive-request');

    await card.getByRole('button', { name: 'Accept' }).click();
    await waitFor(
      async () => (await guest.getByTestId('drive-state').getAttribute('data-state')) === 'accepted',
      'the guest to hear they may type',
    );
    await waitFor(
      async () => (await guest.getByTestId('terminal').getAttribute('data-readonly')) === 'false',
      'the guest terminal to take input',
    );
    // The owner sees who is attached, the guest as typing.
    await waitFor(
      async () => ((await owner.getByTestId('presence').textContent()) ?? '').includes('bob · typing'),
      'the owner to see bob typing',
    );

    await guest.locator('[data-testid="terminal"] .xterm').click();
    await guest.keyboard.type('echo co-driven > /tmp/codrive.txt\n');
    await waitFor(
      async () => (await sandboxFile('/tmp/codrive.txt')) === 'co-driven',
      'the guest command to run',
      30_000,
    );
    await waitFor(
      async () =>
        ((await guest.locator('[data-testid="terminal"] .xterm-rows').textContent()) ?? '').includes('co-driven'),
      'the guest to see the command echoed',
    );
    await shoot(guest, 'codrive-share');

    // The owner revokes: the guest's next keystrokes run nothing, though the guest still watches.
    await owner.getByTestId('drive-request').getByRole('button', { name: 'Revoke' }).click();
    await waitFor(
      async () => (await guest.getByTestId('drive-state').getAttribute('data-state')) === 'revoked',
      'the guest to hear they were revoked',
    );
    // The page no longer sends keys (and the server refuses a revoked driver's input: share-links.test.ts).
    await guest.locator('[data-testid="terminal"] .xterm').click();
    await guest.keyboard.type('echo after-revoke > /tmp/after.txt\n');
    // The owner's own command afterwards marks when everything typed before it has run.
    await owner.locator('[data-testid="terminal"] .xterm').click();
    await owner.keyboard.type('echo owner-mark > /tmp/mark.txt\n');
    await waitFor(
      async () => (await sandboxFile('/tmp/mark.txt')) === 'owner-mark',
      'the owner command to run',
      30_000,
    );
    expect(await sandboxFile('/tmp/after.txt')).toBe('missing');
    // The share page asking whether the guest is signed in, before they were, is the one expected refusal.
    const expected =
      /HTTP 401 for GET .*\/api\/auth\/session|Failed to load resource: the server responded with a status of 401/;
    expect(pageErrors.filter((e) => !expected.test(e))).toEqual([]);
    await server.cli(['stop', taskId]);
  }, 240_000);
});
