/**
 * A task's own egress hosts through the API: names and patterns are kept on the task; addresses, ranges and `*`
 * (which would open the server's private networks or everything) are refused before anything is created.
 */
import type { Task } from '@rclaude/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack, type TestUser } from '../../test/test-stack.js';

describe("a task's allowed hosts", () => {
  let stack: TestStack;
  let alice: TestUser;

  beforeAll(async () => {
    stack = await startTestStack('embedded');
    alice = await stack.createUser('alice');
  });
  afterAll(async () => {
    await stack?.close();
  });

  const create = (allowHosts: unknown) =>
    stack.api(alice.token, 'POST', '/api/tasks', { body: { command: ['sh'], name: 'hosts', allowHosts } });

  it('keeps host names and patterns on the task', async () => {
    const created = await create(['example.com', '*.example.org:8443']);
    expect(created.status, created.text).toBe(201);
    expect((created.body as Task).allowHosts).toEqual(['example.com', '*.example.org:8443']);
    const read = await stack.api(alice.token, 'GET', `/api/tasks/${(created.body as Task).id}`);
    expect((read.body as Task).allowHosts).toEqual(['example.com', '*.example.org:8443']);
  });

  it('refuses addresses, ranges and * with a message naming them, and creates nothing', async () => {
    const before = ((await stack.api(alice.token, 'GET', '/api/tasks')).body as Task[]).length;
    for (const bad of [['10.0.0.0/8'], ['169.254.169.254'], ['*'], ['example.com', 'not a host']]) {
      const refused = await create(bad);
      expect(refused.status, refused.text).toBe(400);
      expect(refused.body.error.code).toBe('BAD_REQUEST');
      expect(refused.body.error.message).toContain(`"${bad.at(-1)}"`);
    }
    expect((await create(Array.from({ length: 33 }, (_, i) => `h${i}.example.com`))).status).toBe(400);
    expect(((await stack.api(alice.token, 'GET', '/api/tasks')).body as Task[]).length).toBe(before);
  });
});
