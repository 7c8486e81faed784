// @vitest-environment node
import { mkdirSync } from 'node:fs';
import path from 'node:path';
/**
 * An approval answered from the web app on a phone-sized screen, in real Chromium: a prompt task's Bash call
 * (the real Claude Code against the testkit's fake Anthropic API, `default` permission mode) waits; the task
 * page shows its card with the command; tapping Approve lets it run, and the card goes.
 */
import { ApiClient } from '@rclaude/client';
import {
  type FakeAnthropic,
  lastToolResults,
  lastUserText,
  type RclaudeServer,
  runCli,
  startFakeAnthropic,
  startRclaudeServer,
  toolUseReply,
  until,
} from '@rclaude/testkit';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectPageErrors, ensureBuilt, launchBrowser, repoDir } from './harness.js';

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

let server: RclaudeServer;
let fake: FakeAnthropic;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

describe('approvals in the web app', { timeout: 180_000 }, () => {
  beforeAll(async () => {
    await ensureBuilt();
    fake = await startFakeAnthropic({
      responder: ({ body }) => {
        if (lastToolResults(body).length > 0) return 'It ran.';
        return lastUserText(body).includes('tap to approve')
          ? toolUseReply('Bash', { command: 'echo tapped > tapped.txt', description: 'Write a marker file' })
          : undefined;
      },
    });
    server = await startRclaudeServer({
      env: {
        ANTHROPIC_BASE_URL: fake.url,
        ANTHROPIC_API_KEY: 'sk-ant-test-rclaude-0123456789abcdefghij',
        RCLAUDE_PROMPT_PERMISSION_MODE: 'default',
      },
      timeoutMs: 150_000,
    });
    browser = await launchBrowser();
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
    page = await context.newPage();
    collectPageErrors(page, pageErrors);
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await fake?.close();
  });

  it('approves a waiting Bash call from the card on the task page', async () => {
    const api = new ApiClient({ baseUrl: server.url, token: server.token });
    const run = runCli(['run', '-p', 'tap to approve'], { env: server.cliEnv(), timeoutMs: 150_000 });
    const approval = await until('the approval', async () => {
      const { approvals } = await api.call('listMyApprovals', { query: {} });
      return approvals[0] ?? null;
    });
    await page.goto(await server.createLoginUrl(`/tasks/${approval.taskId}`));
    const card = page.getByTestId('approval-card');
    await card.waitFor({ timeout: 30_000 });
    expect(await card.textContent()).toContain('echo tapped > tapped.txt');
    await shoot(page, 'approval');
    await card.getByRole('button', { name: 'Approve' }).tap();
    await card.waitFor({ state: 'detached', timeout: 30_000 });

    const done = await run;
    expect(done.code, done.stderr).toBe(0);
    const after = await api.call('getApproval', { params: { approvalId: approval.id } });
    expect(after.status).toBe('allowed');
    const file = await api.call('readFile', { params: { id: approval.taskId }, query: { path: 'tapped.txt' } });
    expect(await file.text()).toBe('tapped\n');
    expect(pageErrors).toEqual([]);
  });
});
