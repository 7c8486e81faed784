// @vitest-environment node
import { ApiClient } from '@rclaude/client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, launchBrowser, startServer, type TestServer, waitFor } from './harness.js';

/**
 * Port previews in Debian's Chromium against a real `rclaude server` and a bubblewrap sandbox (issue 14,
 * part 6): the Ports control on the task page makes a link that serves a port of the sandbox, and a page served
 * that way runs in a CSP sandbox, so its scripts cannot read the API with the user's session.
 */

const PORT = 8124;
/** A page that tries to read the user's tasks and cookie, and says what it got in its title. */
const SERVER_JS = `require('http').createServer((q, s) => {
  s.setHeader('content-type', 'text/html');
  s.end('<!doctype html><title>pending</title><h1>sandbox page</h1><script>' +
    'let c; try { c = document.cookie === "" ? "empty" : "read"; } catch (e) { c = "denied"; }' +
    'fetch("/api/tasks", { credentials: "include" }).then(' +
    '  (r) => r.text().then((t) => { document.title = "read " + r.status + " cookie=" + c; }),' +
    '  () => { document.title = "blocked cookie=" + c; });' +
    '</script>');
}).listen(${PORT}, '127.0.0.1');`;

let server: TestServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let taskId: string;

describe('port previews, end to end', { timeout: 180_000 }, () => {
  beforeAll(async () => {
    await ensureBuilt();
    server = await startServer();
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    const api = new ApiClient({ baseUrl: server.url, token: server.token });
    const task = await api.call('createTask', {
      body: { command: ['bash', '--norc'], name: 'preview', cols: 100, rows: 30 },
    });
    taskId = task.id;
    await waitFor(async () => (await api.call('getTask', { params: { id: taskId } })).status === 'running', 'the task');
    await server.cli([
      'exec',
      taskId,
      '--',
      'sh',
      '-c',
      `cat > page.js <<'EOF'\n${SERVER_JS}\nEOF\nnohup node page.js >/dev/null 2>&1 &`,
    ]);
  }, 240_000);

  afterAll(async () => {
    const crash = server?.crashed();
    if (crash) console.error(`${crash}\n--- server log ---\n${server.logTail()}`);
    await browser?.close();
    await server?.stop();
  });

  it('opens a port from the task page; the preview page cannot read the API or the cookie', async () => {
    await page.goto(await server.loginUrl(`/tasks/${taskId}`));
    const control = page.getByTestId('ports-control');
    await control.getByLabel('Port', { exact: true }).fill(String(PORT));
    await control.getByTestId('preview-port').click();
    const link = page.getByTestId('preview-link');
    await link.waitFor();
    const href = (await link.getAttribute('href')) ?? '';
    expect(href.startsWith(`${server.url}/preview/`)).toBe(true);
    expect(await link.getAttribute('rel')).toContain('noopener');

    // The app's own origin reads the API with the session: the control that the page's attempt could succeed.
    expect(await page.evaluate(async () => (await fetch('/api/tasks', { credentials: 'include' })).status)).toBe(200);

    const preview = await context.newPage();
    await preview.goto(href);
    await preview.getByRole('heading', { name: 'sandbox page' }).waitFor();
    await waitFor(async () => (await preview.title()) !== 'pending', 'the page script to finish');
    expect(await preview.title()).toBe('blocked cookie=denied');
    await preview.close();
  });
});
