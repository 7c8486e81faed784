// @vitest-environment node
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Locator, Page, WebSocketRoute } from 'playwright-core';
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
 * The web app end to end: a real `rclaude server` (embedded Postgres, local sandboxes), the real CLI,
 * and Debian's Chromium driven by playwright-core. The tests run in order and share one task, like a
 * person would: sign in, watch a task arrive, type in it, browse and change its files, stop it.
 */

const screenshotsDir = path.join(repoDir, 'docs/screenshots');

/** A file worth looking at in the viewer screenshots. */
const SAMPLE_SOURCE = `import { createServer } from 'node:http';

/** Answers every request with a greeting and the time it took. */
export function startServer(port: number): Promise<number> {
  const server = createServer((req, res) => {
    const started = performance.now();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ hello: req.url ?? '/', ms: performance.now() - started }));
  });
  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}
`;

let server: TestServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const pageErrors: string[] = [];
let taskId = '';

/** The text of an element (empty when it has none). */
async function text(locator: Locator): Promise<string> {
  return (await locator.textContent()) ?? '';
}

/** Runs a shell command line in the task's sandbox through `rclaude exec` and returns its stdout. */
function sandbox(commandLine: string): Promise<string> {
  return server.cli(['exec', taskId, commandLine]);
}

async function terminalText(p: Page): Promise<string> {
  return text(p.locator('[data-testid="terminal"] .xterm-rows'));
}

async function badgeStatus(p: Page, id: string): Promise<string | null> {
  return p.locator(`tr[data-task-id="${id}"] [data-status]`).first().getAttribute('data-status');
}

/** Writes docs/screenshots/<name>-light.png and -dark.png, of the page or of one element. */
async function screenshot(p: Page, name: string, element?: Locator): Promise<void> {
  for (const scheme of ['light', 'dark'] as const) {
    await p.emulateMedia({ colorScheme: scheme });
    await p.waitForFunction((dark) => document.documentElement.classList.contains('dark') === dark, scheme === 'dark');
    // Let transitions and the terminal's redraw settle before the picture.
    await p.waitForTimeout(400);
    const file = path.join(screenshotsDir, `${name}-${scheme}.png`);
    if (element) await element.screenshot({ path: file });
    else await p.screenshot({ path: file });
  }
  await p.emulateMedia({ colorScheme: 'light' });
}

describe('web app, end to end', { timeout: 90_000 }, () => {
  beforeAll(async () => {
    mkdirSync(screenshotsDir, { recursive: true });
    await ensureBuilt();
    server = await startServer();
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1440, height: 900 }, colorScheme: 'light' });
    // The DOM renderer keeps the terminal's text in the page, where the test can read it.
    await context.addInitScript(() => window.localStorage.setItem('rclaude:terminal-renderer', 'dom'));
    // The server's Content-Security-Policy must not block anything the app does: a violation is a console error.
    await context.addInitScript(() =>
      document.addEventListener('securitypolicyviolation', (e) =>
        console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`),
      ),
    );
    page = await context.newPage();
    collectPageErrors(page, pageErrors);
  });

  afterAll(async () => {
    const crash = server?.crashed();
    if (crash) console.error(`${crash}\n--- server log ---\n${server.logTail()}`);
    await context?.close();
    await browser?.close();
    await server?.stop();
  });

  it('signs in through the login URL and drops the token from the address bar', async () => {
    const loaded = await page.goto(await server.loginUrl());
    // The app runs under the server's CSP (scripts from its own origin only).
    expect(loaded?.headers()['content-security-policy']).toContain("script-src 'self';");
    await page.getByRole('heading', { name: 'Tasks', exact: true }).waitFor();
    expect(page.url()).not.toContain('token=');
    expect(page.url()).not.toContain(server.token);
    const cookies = await context.cookies();
    expect(cookies.find((c) => c.name === 'rclaude_session')?.httpOnly).toBe(true);
    await page.getByText('No tasks yet').waitFor();
  });

  it('shows a task started from the CLI on the dashboard without a reload', async () => {
    // A marker on window survives only as long as the page is not reloaded.
    await page.evaluate(() => {
      (window as unknown as { e2eMarker: number }).e2eMarker = 42;
    });
    taskId = (await server.cli(['run', '--detach', '--name', 'web e2e shell', '--', 'bash'])).trim();
    expect(taskId).toMatch(/^[a-z0-9]{4,32}$/);

    const row = page.locator(`tr[data-task-id="${taskId}"]`);
    await row.waitFor({ timeout: 30_000 });
    await expect(row.getByRole('link', { name: 'web e2e shell' }).isVisible()).resolves.toBe(true);
    await waitFor(async () => (await badgeStatus(page, taskId)) === 'running', 'the task to show as running');
    expect(await page.evaluate(() => (window as unknown as { e2eMarker?: number }).e2eMarker)).toBe(42);
  });

  it('runs what is typed in the task terminal', async () => {
    await page.getByRole('link', { name: 'web e2e shell' }).click();
    await page.waitForURL(`**/tasks/${taskId}`);
    const terminal = page.locator('[data-testid="terminal"]');
    await terminal.and(page.locator('[data-status="connected"]')).waitFor({ timeout: 30_000 });
    await terminal.locator('.xterm-screen').click();
    await page.keyboard.type('echo web-$((5*5))');
    await page.keyboard.press('Enter');
    await waitFor(async () => (await terminalText(page)).includes('web-25'), 'web-25 in the terminal');
  });

  it('rides out a dropped connection: a banner, no input, then the missed output once and nothing twice', async () => {
    const viewer = await context.newPage();
    collectPageErrors(viewer, pageErrors);
    // Every Socket.io connection of this page goes through this route, so the test can cut it at will.
    const open: WebSocketRoute[] = [];
    let blocked = false;
    await viewer.routeWebSocket(/\/socket\.io\//, (ws) => {
      if (blocked) {
        void ws.close({ code: 4000, reason: 'cut by the test' });
        return;
      }
      ws.connectToServer();
      open.push(ws);
    });
    try {
      await viewer.goto(`${server.url}/tasks/${taskId}`);
      const terminal = viewer.locator('[data-testid="terminal"]');
      await terminal.and(viewer.locator('[data-status="connected"]')).waitFor({ timeout: 30_000 });
      await waitFor(async () => (await terminalText(viewer)).includes('web-25'), 'the screen snapshot');

      await terminal.locator('.xterm-screen').click();
      await viewer.keyboard.type('sleep 2; echo while-away-$((4*4))');
      await viewer.keyboard.press('Enter');
      await waitFor(async () => (await terminalText(viewer)).includes('while-away-$((4*4))'), 'the command echo');

      blocked = true;
      for (const ws of open.splice(0)) await ws.close({ code: 4000, reason: 'cut by the test' });
      await terminal.and(viewer.locator('[data-status="reconnecting"]')).waitFor();
      await viewer.getByRole('status').filter({ hasText: 'Connection lost' }).waitFor();
      expect(await viewer.getByRole('button', { name: 'Paste into terminal' }).isDisabled()).toBe(true);
      // Give the command time to print while this viewer is away, so the output has to come from replay.
      await viewer.waitForTimeout(3000);

      blocked = false;
      await terminal.and(viewer.locator('[data-status="connected"]')).waitFor({ timeout: 30_000 });
      await waitFor(async () => (await terminalText(viewer)).includes('while-away-16'), 'the output missed while away');
      const screen = await terminalText(viewer);
      expect(screen.split('while-away-16').length - 1).toBe(1);
      expect(screen.split('web-25').length - 1).toBe(1);

      await terminal.locator('.xterm-screen').click();
      await viewer.keyboard.type('echo back-$((5+5))');
      await viewer.keyboard.press('Enter');
      await waitFor(async () => (await terminalText(viewer)).includes('back-10'), 'input after the reconnect');
    } finally {
      await viewer.close();
    }
  });

  it('opens a file that a command in the sandbox wrote', async () => {
    await sandbox(
      'mkdir -p notes && printf "hello from the sandbox\\nline two\\n" > notes/greeting.txt && printf "export const answer = 42;\\n" > notes/answer.ts',
    );
    const files = page.getByRole('region', { name: 'Files' });
    // The tree re-lists open folders every few seconds; no reload or click on Refresh needed.
    await files.getByRole('button', { name: 'notes', exact: true }).click({ timeout: 20_000 });
    await files.getByRole('button', { name: 'greeting.txt' }).click();
    const content = page.getByTestId('file-content');
    await waitFor(async () => (await text(content)).includes('hello from the sandbox'), 'the file content');
    expect(await text(page.getByRole('navigation', { name: 'File path' }))).toMatch(
      /workspace\s*notes\s*greeting\.txt/,
    );

    await files.getByRole('button', { name: 'answer.ts' }).click();
    await waitFor(async () => (await text(content)).includes('export const answer = 42;'), 'the TypeScript file');
    expect(await content.locator('.hljs-keyword').count()).toBeGreaterThan(0);
  });

  it('uploads a dropped file into the sandbox, and one picked with the upload button', async () => {
    const files = page.getByRole('region', { name: 'Files' });
    const dataTransfer = await page.evaluateHandle(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(['uploaded by drag and drop\n'], 'dropped.txt', { type: 'text/plain' }));
      return dt;
    });
    await files.dispatchEvent('dragenter', { dataTransfer });
    await files.dispatchEvent('dragover', { dataTransfer });
    await files.dispatchEvent('drop', { dataTransfer });
    await files.getByRole('button', { name: 'dropped.txt' }).waitFor({ timeout: 20_000 });
    expect(await sandbox('cat notes/dropped.txt')).toBe('uploaded by drag and drop\n');

    await page.getByLabel('Files to upload').setInputFiles({
      name: 'picked.md',
      mimeType: 'text/markdown',
      buffer: Buffer.from('# picked with the button\n'),
    });
    await files.getByRole('button', { name: 'picked.md' }).waitFor({ timeout: 20_000 });
    expect(await sandbox('cat notes/picked.md')).toBe('# picked with the button\n');
  });

  it('edits a small text file and saves it back to the sandbox', async () => {
    const files = page.getByRole('region', { name: 'Files' });
    await files.getByRole('button', { name: 'greeting.txt' }).click();
    const content = page.getByTestId('file-content');
    await waitFor(async () => (await text(content)).includes('hello from the sandbox'), 'the file to open');
    await page.getByRole('button', { name: 'Edit file' }).click();
    const editor = page.getByRole('textbox', { name: 'Contents of notes/greeting.txt' });
    await editor.press('ControlOrMeta+End');
    await editor.pressSequentially('edited in the browser\n');
    await editor.press('ControlOrMeta+s');
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    expect(await sandbox('cat notes/greeting.txt')).toBe('hello from the sandbox\nline two\nedited in the browser\n');
  });

  it('takes screenshots of the task page and the file browser, light and dark', async () => {
    await page.locator('[data-testid="terminal"]').locator('.xterm-screen').click();
    await page.keyboard.type('ls -la notes && cat notes/greeting.txt');
    await page.keyboard.press('Enter');
    await waitFor(async () => (await terminalText(page)).includes('edited in the browser'), 'ls output');
    await sandbox(`mkdir -p src && cat > src/server.ts <<'EOF'
${SAMPLE_SOURCE}EOF`);
    const files = page.getByRole('region', { name: 'Files' });
    await files.getByRole('button', { name: 'src', exact: true }).click({ timeout: 20_000 });
    await files.getByRole('button', { name: 'server.ts' }).click();
    await waitFor(async () => (await text(page.getByTestId('file-content'))).includes('createServer'), 'server.ts');
    await screenshot(page, 'task');
    await screenshot(page, 'files', page.getByTestId('file-browser'));
  });

  it('shows a task stopped from the CLI as stopped, live, and its terminal as read-only', async () => {
    await page.goto(`${server.url}/`);
    await page.getByRole('heading', { name: 'Tasks', exact: true }).waitFor();
    // A few more tasks in other states, so the dashboard shows what it looks like in use.
    const ok = (await server.cli(['run', '--detach', '--name', 'Run the unit tests', '--', 'true'])).trim();
    const bad = (
      await server.cli(['run', '--detach', '--name', 'Migrate the database', '--', 'bash', '-c', 'exit 3'])
    ).trim();
    const busy = (await server.cli(['run', '--detach', '--name', 'Refactor the auth module', '--', 'bash'])).trim();
    await waitFor(async () => (await badgeStatus(page, busy)) === 'running', 'the second running task');
    await waitFor(async () => (await badgeStatus(page, ok)) === 'succeeded', 'the succeeded task');
    await waitFor(async () => (await badgeStatus(page, bad)) === 'failed', 'the failed task');
    await page.evaluate(() => {
      (window as unknown as { e2eMarker: number }).e2eMarker = 7;
    });

    expect(await badgeStatus(page, taskId)).toBe('running');
    await server.cli(['stop', taskId]);
    await waitFor(async () => (await badgeStatus(page, taskId)) === 'stopped', 'the stopped status on the dashboard');
    expect(await page.evaluate(() => (window as unknown as { e2eMarker?: number }).e2eMarker)).toBe(7);
    await screenshot(page, 'dashboard');

    await page.getByRole('link', { name: 'web e2e shell' }).click();
    const terminal = page.locator('[data-testid="terminal"]');
    await waitFor(
      async () => ['exited', 'connected', 'failed'].includes((await terminal.getAttribute('data-status')) ?? ''),
      'the terminal of the stopped task to settle',
    );
    expect(await page.getByRole('button', { name: 'Delete' }).isVisible()).toBe(true);
    await expect(page.getByRole('button', { name: 'Paste into terminal' }).isDisabled()).resolves.toBe(true);
  });

  it("shows the stopped task's files from its checkpoint, resumes it: the files come back, and the Checkpoints tab lists both", async () => {
    const panels = page.getByRole('tablist', { name: 'Task panels' });
    // With no sandbox, the Files tab shows the checkpoint's workspace, read-only.
    await panels.getByRole('tab', { name: 'Files' }).click();
    await page.getByTestId('files-from-checkpoint').waitFor();
    const saved = page.getByRole('region', { name: 'Files' });
    await saved.getByRole('button', { name: 'notes', exact: true }).click({ timeout: 20_000 });
    await saved.getByRole('button', { name: 'greeting.txt' }).click();
    await waitFor(
      async () => (await text(page.getByTestId('file-content'))).includes('edited in the browser'),
      'the saved greeting.txt',
    );
    await panels.getByRole('tab', { name: 'Checkpoints' }).click();
    const rows = page.getByTestId('checkpoint-row');
    await rows.first().waitFor();
    expect(await text(rows.first())).toContain('Stop');
    await page.getByTestId('resume-task').click();
    await waitFor(async () => (await page.locator('[data-status="running"]').count()) > 0, 'the resumed task to run');
    // What the browser wrote before the stop is in the new sandbox.
    expect(await sandbox('cat notes/greeting.txt')).toContain('edited in the browser');
    await page.getByTestId('checkpoint-now').click();
    await page.getByTestId('checkpoint-result').waitFor({ timeout: 60_000 });
    await waitFor(async () => (await rows.count()) >= 2, 'the new checkpoint in the list');
    expect(await text(rows.first())).toContain('Manual');
    await screenshot(page, 'checkpoints');
    await server.cli(['stop', taskId]);
    await waitFor(async () => (await page.locator('[data-status="stopped"]').count()) > 0, 'the task to stop again');
  });

  it('filters by status and searches by name', async () => {
    await page.goto(`${server.url}/?status=failed`);
    await page.getByRole('link', { name: 'Migrate the database' }).waitFor();
    expect(await page.locator('tbody tr').count()).toBe(1);
    await page.getByRole('button', { name: /^All/ }).click();
    await page.getByRole('searchbox', { name: 'Search tasks by name' }).fill('unit');
    await waitFor(async () => (await page.locator('tbody tr').count()) === 1, 'one search hit');
    expect(await text(page.locator('tbody tr'))).toContain('Run the unit tests');
  });

  it('starts a task from the New task form, keeps up with a flood of output, and stops it after confirming', async () => {
    await page.goto(`${server.url}/`);
    await page.getByRole('button', { name: 'New task' }).click();
    const dialog = page.getByRole('dialog', { name: 'New task' });
    await dialog.getByRole('textbox', { name: 'Name' }).fill('Started from the form');
    await dialog.getByRole('textbox', { name: 'Command' }).fill('bash --norc');
    await dialog.getByLabel('Provider').selectOption('local');
    await dialog.getByRole('button', { name: 'Start task' }).click();
    await page.waitForURL(/\/tasks\/[a-z0-9]+$/);
    const formTaskId = page.url().split('/').at(-1) ?? '';

    const terminal = page.locator('[data-testid="terminal"]');
    await terminal.and(page.locator('[data-status="connected"]')).waitFor({ timeout: 30_000 });
    // Focus went to the terminal on its own: typing needs no click.
    await waitFor(
      () => page.evaluate(() => document.activeElement?.classList.contains('xterm-helper-textarea') ?? false),
      'the terminal to take focus',
    );
    // Flow control: 2.5 MB of output as fast as the PTY can make it. The tab acknowledges what it drew,
    // so it keeps up and stays usable; the marker after the flood proves nothing stalled.
    await page.keyboard.type('seq 1 400000; echo flood-$((6*7))');
    await page.keyboard.press('Enter');
    await waitFor(async () => (await terminalText(page)).includes('flood-42'), 'the end of the flood', 90_000);
    await page.keyboard.type('echo after-$((6*7))');
    await page.keyboard.press('Enter');
    await waitFor(async () => (await terminalText(page)).includes('after-42'), 'input after the flood');

    await page.getByRole('button', { name: 'Stop', exact: true }).click();
    const confirm = page.getByRole('dialog', { name: /^Stop/ });
    await confirm.getByRole('button', { name: 'Cancel' }).waitFor();
    expect(await confirm.getByRole('button', { name: 'Cancel' }).evaluate((el) => el === document.activeElement)).toBe(
      true,
    );
    await confirm.getByRole('button', { name: 'Stop task' }).click();
    await waitFor(
      async () => (await page.locator('h1 + [data-status]').getAttribute('data-status')) === 'stopped',
      'the task page to show the task stopped',
    );
    await waitFor(
      async () => (await terminal.getAttribute('data-readonly')) === 'true',
      'the terminal to turn read-only',
    );
    expect(await page.getByRole('button', { name: 'Paste into terminal' }).isDisabled()).toBe(true);

    await page.getByRole('tab', { name: 'Timeline' }).click();
    const timeline = page.getByRole('region', { name: 'Timeline' });
    await timeline
      .getByText(/Stopped/)
      .first()
      .waitFor();
    expect(await timeline.locator('[data-event-type="status"]').count()).toBeGreaterThanOrEqual(3);
    expect(formTaskId).not.toBe(taskId);
  });

  it('fits a phone screen', async () => {
    const phone = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
      storageState: await context.storageState(),
    });
    await phone.addInitScript(() => window.localStorage.setItem('rclaude:terminal-renderer', 'dom'));
    const small = await phone.newPage();
    collectPageErrors(small, pageErrors);
    try {
      await small.goto(`${server.url}/`);
      await small.getByRole('heading', { name: 'Tasks', exact: true }).waitFor();
      await small.getByRole('link', { name: 'Refactor the auth module' }).waitFor();
      const overflow = () => small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(await overflow()).toBeLessThanOrEqual(0);
      await screenshot(small, 'phone-dashboard');

      await small.getByRole('link', { name: 'Refactor the auth module' }).click();
      const tabs = small.getByRole('tablist', { name: 'Task panels' });
      await tabs.getByRole('tab', { name: 'Terminal' }).waitFor();
      await small.locator('[data-testid="terminal"][data-status="connected"]').waitFor({ timeout: 30_000 });
      expect(await overflow()).toBeLessThanOrEqual(0);
      await screenshot(small, 'phone-task');
      await tabs.getByRole('tab', { name: 'Files' }).click();
      await small.getByRole('region', { name: 'Files' }).waitFor();
      await tabs.getByRole('tab', { name: 'Timeline' }).click();
      await small.getByRole('region', { name: 'Timeline' }).waitFor();
    } finally {
      await phone.close();
    }
  });

  it('signs out', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to rclaude' }).waitFor();
    const cookies = await context.cookies();
    expect(cookies.find((c) => c.name === 'rclaude_session')).toBeUndefined();
  });

  it('logged no console errors on any page', () => {
    expect(pageErrors).toEqual([]);
  });
});
