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
 * Share links end to end: a real `rclaude server` (embedded Postgres, a bubblewrap sandbox, the real agent),
 * the real CLI (`rclaude share`, `share ls`, `share rm`) and Debian's Chromium with no session at all opening
 * the printed link. The viewer sees the live terminal and cannot type into it (the sandbox's reader records
 * every line it gets: none); what the page receives never names the owner's other task; revoking cuts the
 * viewer off; an expired link is refused.
 */

const screenshotsDir = path.join(repoDir, 'docs/screenshots');
const TYPED_LOG = '/tmp/rclaude-share-typed.log';
/**
 * The shared task: prints a numbered line every second (live output to watch), and records every line its
 * terminal receives as input (what a viewer's typing would become).
 */
const SHARED_SCRIPT = [
  `: > ${TYPED_LOG}.ready`,
  "printf '\\033[1mrclaude share demo\\033[0m: building the release…\\n'",
  '(i=0; while true; do i=$((i+1)); echo "step $i: ok"; sleep 1; done) &',
  `while IFS= read -r line; do echo "got:$line" >> ${TYPED_LOG}; done`,
].join('\n');

let server: TestServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const pageErrors: string[] = [];
let taskId = '';
let otherTaskId = '';
/** Everything the viewer page received from the server: API bodies and WebSocket frames. */
const received: string[] = [];

async function terminalText(p: Page): Promise<string> {
  return (await p.locator('[data-testid="terminal"] .xterm-rows').textContent()) ?? '';
}

/** The highest "step N" the viewer's terminal shows, or 0. */
async function lastStep(p: Page): Promise<number> {
  const steps = [...(await terminalText(p)).matchAll(/step (\d+): ok/g)].map((m) => Number(m[1]));
  return steps.length ? Math.max(...steps) : 0;
}

describe('share links, end to end', () => {
  let expiringUrl = '';
  let expiringCreatedAt = 0;

  beforeAll(async () => {
    mkdirSync(screenshotsDir, { recursive: true });
    await ensureBuilt();
    server = await startServer();
    browser = await launchBrowser();
    otherTaskId = (
      await server.cli(['run', '--detach', '--name', 'owner-private-project', '--', 'sleep', '600'])
    ).trim();
    taskId = (
      await server.cli(['run', '--detach', '--name', 'release build', '--', 'bash', '-c', SHARED_SCRIPT])
    ).trim();
    // A one-minute link, created first: it has expired by the last test.
    expiringUrl = (await server.cli(['share', taskId, '--expires', '1m'])).trim();
    expiringCreatedAt = Date.now();
  }, 240_000);

  afterAll(async () => {
    await context?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await server?.stop();
  }, 60_000);

  it('prints a link with `rclaude share`, lists it, and refuses a bad --expires', async () => {
    const url = (await server.cli(['share', taskId])).trim();
    expect(url).toMatch(new RegExp(`^${server.url}/share/sh_[a-z0-9]{16}#[A-Za-z0-9_-]{43}$`));
    const listed = JSON.parse(await server.cli(['share', 'ls', '--json'])) as { id: string; state: string }[];
    const id = /\/share\/(sh_[a-z0-9]{16})#/.exec(url)?.[1];
    expect(listed.find((s) => s.id === id)?.state).toBe('active');
    // The listing never shows a secret.
    expect(JSON.stringify(listed)).not.toContain(url.split('#')[1]);
    await expect(server.cli(['share', taskId, '--expires', '30d'])).rejects.toThrow(/1m to 7d/);
    await expect(server.cli(['share', 'rm', 'not-an-id'])).rejects.toThrow(/not a share link id/);
  }, 60_000);

  it('shows a viewer without an account the live terminal; typing reaches nothing', async () => {
    const url = (await server.cli(['share', taskId, '--json'])).trim();
    const { url: shareUrl, share } = JSON.parse(url) as { url: string; share: { id: string } };
    context = await browser.newContext({ viewport: { width: 1280, height: 760 } });
    // The DOM renderer keeps the terminal's text in the page, where the test can read it.
    await context.addInitScript(() => window.localStorage.setItem('rclaude:terminal-renderer', 'dom'));
    page = await context.newPage();
    collectPageErrors(page, pageErrors);
    page.on('response', (response) => {
      if (response.url().includes('/api/'))
        void response.text().then(
          (t) => received.push(t),
          () => undefined,
        );
    });
    page.on('websocket', (ws) => {
      ws.on('framereceived', ({ payload }) => {
        received.push(typeof payload === 'string' ? payload : payload.toString('utf8'));
      });
    });
    const requests: string[] = [];
    page.on('request', (request) => requests.push(request.url()));

    await page.goto(shareUrl);
    await page.getByTestId('share-banner').waitFor({ timeout: 30_000 });
    // The secret left the address bar at once, and no request carried it in a URL.
    expect(page.url()).toBe(`${server.url}/share/${share.id}`);
    const secret = shareUrl.split('#')[1] ?? '';
    expect(requests.filter((r) => r.includes(secret))).toEqual([]);
    expect(await page.getByTestId('share-task-name').textContent()).toBe('release build');
    expect(await context.cookies()).toEqual([]);

    await waitFor(async () => (await lastStep(page)) > 0, 'the shared terminal to show output', 60_000);
    const first = await lastStep(page);
    await waitFor(async () => (await lastStep(page)) > first + 1, 'live output to keep arriving', 30_000);
    expect(await page.getByTestId('terminal').getAttribute('data-readonly')).toBe('true');

    // Typing into the page: xterm takes no input, and the server would refuse it anyway.
    await page.locator('[data-testid="terminal"] .xterm').click();
    await page.keyboard.type('echo viewer-was-here\n');
    await page.keyboard.press('Control+C');
    const seen = await lastStep(page);
    await waitFor(async () => (await lastStep(page)) > seen + 1, 'the task to keep running after the keys', 30_000);
    // The reader's own marker shows `exec` looks at the same /tmp as the task's terminal.
    expect(
      (
        await server.cli([
          'exec',
          taskId,
          `test -e ${TYPED_LOG}.ready && (cat ${TYPED_LOG} 2>/dev/null || echo no-input)`,
        ])
      ).trim(),
    ).toBe('no-input');
    expect(await terminalText(page)).not.toContain('viewer-was-here');

    // Nothing the page received names the owner's other task.
    const all = received.join('\n');
    expect(all).toContain('release build');
    expect(all).not.toContain(otherTaskId);
    expect(all).not.toContain('owner-private-project');
  }, 180_000);

  it('takes screenshots of the share view, light and dark', async () => {
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.waitForFunction(
        (dark) => document.documentElement.classList.contains('dark') === dark,
        scheme === 'dark',
      );
      // Let the terminal redraw in the new theme before the picture.
      await page.waitForTimeout(400);
      await page.screenshot({ path: path.join(screenshotsDir, `share-${scheme}.png`) });
    }
    await page.emulateMedia({ colorScheme: 'light' });
  }, 60_000);

  it("lets the owner create, copy and revoke links from the task page's Share dialog, and see who watches", async () => {
    const ownerContext = await browser.newContext({ viewport: { width: 1280, height: 760 } });
    const viewerContext = await browser.newContext({ viewport: { width: 1280, height: 760 } });
    try {
      const owner = await ownerContext.newPage();
      collectPageErrors(owner, pageErrors);
      await owner.goto(await server.loginUrl(`/tasks/${taskId}`));
      await owner.getByTestId('share-task').click();
      // The link the anonymous viewer above has open is listed, with its viewer.
      const openId = /\/share\/(sh_[a-z0-9]{16})/.exec(page.url())?.[1] ?? '';
      const openRow = owner.getByTestId('share-row').filter({ hasText: openId });
      await waitFor(
        async () => (await openRow.getByTestId('share-viewers').textContent()) === '1 watching',
        'the viewer to be counted',
      );
      await owner.getByRole('combobox', { name: 'Link works for' }).selectOption({ label: '1 hour' });
      await owner.getByTestId('create-share').click();
      const url = await owner.getByTestId('share-url').inputValue();
      expect(url).toMatch(new RegExp(`^${server.url}/share/sh_[a-z0-9]{16}#[A-Za-z0-9_-]{43}$`));
      const newId = /\/share\/(sh_[a-z0-9]{16})#/.exec(url)?.[1] ?? '';

      const viewer = await viewerContext.newPage();
      collectPageErrors(viewer, pageErrors);
      await viewer.goto(url);
      await viewer.getByTestId('share-banner').waitFor({ timeout: 30_000 });
      const newRow = owner.getByTestId('share-row').filter({ hasText: newId });
      await waitFor(
        async () => (await newRow.getByTestId('share-viewers').textContent()) === '1 watching',
        'the new viewer to be counted',
      );
      await newRow.getByRole('button', { name: 'Revoke' }).click();
      await viewer.getByTestId('share-refused').waitFor({ timeout: 30_000 });
      expect(await viewer.getByTestId('share-refused').getAttribute('data-reason')).toBe('revoked');
      await waitFor(async () => (await newRow.count()) === 0, 'the revoked link to leave the list');
    } finally {
      await viewerContext.close();
      await ownerContext.close();
    }
  }, 120_000);

  it('cuts the viewer off when `rclaude share rm` revokes the link', async () => {
    const ids = JSON.parse(await server.cli(['share', 'ls', '--json'])) as { id: string; state: string }[];
    const openId = /\/share\/(sh_[a-z0-9]{16})/.exec(page.url())?.[1] ?? '';
    expect(ids.some((s) => s.id === openId)).toBe(true);
    expect((await server.cli(['share', 'rm', openId])).trim()).toBe(`${openId} revoked`);
    await page.getByTestId('share-refused').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('share-refused').getAttribute('data-reason')).toBe('revoked');
    expect(await page.getByTestId('terminal').count()).toBe(0);
  }, 60_000);

  it('refuses an expired link', async () => {
    const viewer = await context.newPage();
    // This test is about time passing: the link was made to last one minute.
    await waitFor(async () => Date.now() - expiringCreatedAt > 61_000, 'the one-minute link to expire', 90_000);
    await viewer.goto(expiringUrl);
    await viewer.getByTestId('share-refused').waitFor({ timeout: 30_000 });
    expect(await viewer.getByTestId('share-refused').getAttribute('data-reason')).toBe('expired');
    await viewer.close();
    await server.cli(['stop', taskId]);
    await server.cli(['stop', otherTaskId]);
    // The refusals (401 on the view after revoking and expiry) are expected; nothing else went wrong.
    const expected =
      /HTTP 401 for POST .*\/api\/share\/|Failed to load resource: the server responded with a status of 401/;
    expect(pageErrors.filter((e) => !expected.test(e))).toEqual([]);
  }, 150_000);
});
