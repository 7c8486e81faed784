/**
 * What happens to a task after its stop, on the test stack's fake agents: a resume soon after (the stopped
 * sandbox's timers must not touch the new one), and how long its output is kept.
 */
import { until } from '@rclaude/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack, type TestUser } from '../../test/test-stack.js';

describe('after a stop: a quick resume, and output retention', () => {
  let stack: TestStack;
  let carol: TestUser;

  beforeAll(async () => {
    stack = await startTestStack('embedded', {
      env: { AGENT_RECONNECT_GRACE_MS: '300', RCLAUDE_OUTPUT_RETENTION_MS: '400' },
    });
    carol = await stack.createUser('carol');
  });
  afterAll(async () => {
    await stack?.close();
  });

  // Regression: the stopped sandbox's agent dropping out armed its reconnect grace; when that ran out after a
  // resume, the task was failed for the old sandbox ("the sandbox stopped"), while its new one was starting.
  it('is not failed when the stopped sandbox’s reconnect grace runs out while the new one starts', async () => {
    const { task } = await stack.startTask(carol.token);
    expect((await stack.api(carol.token, 'POST', `/api/tasks/${task.id}/stop`)).body.status).toBe('stopped');
    stack.setAutoConnect(false);
    expect((await stack.api(carol.token, 'POST', `/api/tasks/${task.id}/resume`, { body: {} })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1000)); // the test is about a timer running out: grace is 300 ms
    expect((await stack.api(carol.token, 'GET', `/api/tasks/${task.id}`)).body.status).toBe('starting');
    const spec = stack.started.filter((s) => s.taskId === task.id).at(-1);
    await stack.agents.get(spec?.sandboxId ?? '')?.connect();
    stack.setAutoConnect(true);
    await until(
      'the resumed task to run',
      async () => (await stack.api(carol.token, 'GET', `/api/tasks/${task.id}`)).body.status === 'running',
      10_000,
    );
  });

  it('deletes an ended task’s output after its retention, and keeps a resumed one’s', async () => {
    const ended = await stack.startTask(carol.token);
    const resumed = await stack.startTask(carol.token);
    const outputEnd = async (sessionId: string) =>
      (await stack.api(carol.token, 'GET', `/api/sessions/${sessionId}`)).body.outputEnd as number;
    for (const t of [ended, resumed]) {
      t.agent.output(t.task.mainSessionId, `output of ${t.task.id}\r\n`);
      await until('the output to be stored', async () => (await outputEnd(t.task.mainSessionId)) > 0, 5000);
      await stack.api(carol.token, 'POST', `/api/tasks/${t.task.id}/stop`);
    }
    expect((await stack.api(carol.token, 'POST', `/api/tasks/${resumed.task.id}/resume`, { body: {} })).status).toBe(
      200,
    );
    await new Promise((r) => setTimeout(r, 1200)); // the test is about a retention running out: 400 ms
    expect(await outputEnd(ended.task.mainSessionId)).toBe(0);
    expect(await outputEnd(resumed.task.mainSessionId)).toBeGreaterThan(0);
  });
});
