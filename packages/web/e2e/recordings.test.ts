// @vitest-environment node
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { ApiClient } from '@rclaude/client';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
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
 * The task page's terminal tabs and recording player end to end: a real `rclaude server` (embedded storage,
 * local sandboxes) and Debian's Chromium under the server's CSP. A second terminal opens beside the main one
 * and takes typing while the main one stays attached; the Recording tab replays the main session.
 */

let server: TestServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const pageErrors: string[] = [];
let taskId = '';

const api = () => new ApiClient({ baseUrl: server.url, token: server.token });

async function text(locator: Locator): Promise<string> {
  return (await locator.textContent()) ?? '';
}

/** Screenshots of `page` in light and dark (docs/screenshots/NAME-{light,dark}.png). */
async function shoot(p: Page, name: string): Promise<void> {
  mkdirSync(path.join(repoDir, 'docs/screenshots'), { recursive: true });
  for (const scheme of ['light', 'dark'] as const) {
    await p.emulateMedia({ colorScheme: scheme });
    await p.waitForFunction((dark) => document.documentElement.classList.contains('dark') === dark, scheme === 'dark');
    // Let the terminal redraw in the new theme before the picture.
    await p.waitForTimeout(400);
    await p.screenshot({ path: path.join(repoDir, 'docs/screenshots', `${name}-${scheme}.png`) });
  }
}

describe('terminal tabs and the recording player', { timeout: 120_000 }, () => {
  beforeAll(async () => {
    await ensureBuilt();
    server = await startServer();
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1440, height: 900 }, colorScheme: 'dark' });
    await context.addInitScript(() => window.localStorage.setItem('rclaude:terminal-renderer', 'dom'));
    // A CSP violation (the player needing eval or WebAssembly, say) is a console error, which fails the last test.
    await context.addInitScript(() =>
      document.addEventListener('securitypolicyviolation', (e) =>
        console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`),
      ),
    );
    page = await context.newPage();
    collectPageErrors(page, pageErrors);
    taskId = (await server.cli(['run', '--detach', '--name', 'web rec', '--', 'bash'])).trim();
    await page.goto(await server.loginUrl(`/tasks/${taskId}`));
  });

  afterAll(async () => {
    const crash = server?.crashed();
    if (crash) console.error(`${crash}\n--- server log ---\n${server.logTail()}`);
    await context?.close();
    await browser?.close();
    await server?.stop();
  });

  const mainPanel = () => page.locator('[data-testid="terminal"]').first();

  it('types into the main terminal', async () => {
    const main = mainPanel();
    await main.and(page.locator('[data-status="connected"]')).waitFor({ timeout: 60_000 });
    await main.locator('.xterm-screen').click();
    await page.keyboard.type("printf 'rec-%s\\n' $((6*7))");
    await page.keyboard.press('Enter');
    await waitFor(async () => (await text(main.locator('.xterm-rows'))).includes('rec-42'), 'rec-42 in the terminal');
  });

  it('opens a second terminal with "+", types into it, and keeps the first attached', async () => {
    await page.getByRole('button', { name: 'New terminal' }).click();
    const shellTab = page.getByRole('tab', { name: 'Shell 1' });
    await shellTab.waitFor();
    expect(await shellTab.getAttribute('aria-selected')).toBe('true');
    const shell = page.locator('[data-testid="terminal"]:visible');
    await shell.and(page.locator('[data-status="connected"]')).waitFor({ timeout: 60_000 });
    await shell.locator('.xterm-screen').click();
    await page.keyboard.type('echo shell-$((3*3))');
    await page.keyboard.press('Enter');
    await waitFor(async () => (await text(shell.locator('.xterm-rows'))).includes('shell-9'), 'shell-9 in the shell');
    // The main terminal did not see it, and is still attached.
    await page.getByRole('tab', { name: 'Main' }).click();
    const main = page.locator('[data-testid="terminal"]:visible');
    expect(await text(main.locator('.xterm-rows'))).not.toContain('shell-9');
    await main.and(page.locator('[data-status="connected"]')).waitFor();
    await main.locator('.xterm-screen').click();
    await page.keyboard.type('echo back-$((2+2))');
    await page.keyboard.press('Enter');
    await waitFor(
      async () => (await text(main.locator('.xterm-rows'))).includes('back-4'),
      'back-4 in the main terminal',
    );
    const { sessions } = await api().call('listTaskSessions', { params: { id: taskId } });
    expect(sessions.filter((s) => s.kind === 'shell' && s.status === 'running')).toHaveLength(1);
  });

  it('replays the main session in the Recording tab', async () => {
    await page.getByRole('tab', { name: 'Recording' }).click();
    const player = page.locator('[data-testid="recording-player"]');
    await player.waitFor({ timeout: 30_000 });
    await page.getByLabel('Speed').selectOption('8');
    await page.getByRole('button', { name: 'Play' }).click();
    await player.and(page.locator('[data-status="ended"]')).waitFor({ timeout: 60_000 });
    const screen = page.locator('[data-testid="recording-screen"] .xterm-rows');
    await waitFor(async () => (await text(screen)).includes('rec-42'), 'rec-42 in the replay');
    await shoot(page, 'player');
    await page.emulateMedia({ colorScheme: 'dark' });
    // Back to the start with the scrubber: the screen is replayed from nothing.
    await page.getByLabel('Position in the recording').fill('0');
    await waitFor(async () => !(await text(screen)).includes('rec-42'), 'the replay rewound');
  });

  it('closes a shell tab, ending its session', async () => {
    await page.getByRole('button', { name: 'Close Shell 1' }).click();
    await waitFor(async () => (await page.getByRole('tab', { name: 'Shell 1' }).count()) === 0, 'the tab to close');
    await waitFor(async () => {
      const { sessions } = await api().call('listTaskSessions', { params: { id: taskId } });
      return sessions.some((s) => s.kind === 'shell' && s.status === 'exited');
    }, 'the shell session to end');
  });

  it('logged no console errors, CSP violations included', () => {
    expect(pageErrors).toEqual([]);
  });
});
