/**
 * A sandbox that cannot start: the user reads a reason without the server's paths and a reference; the server
 * log keeps the whole error under that reference. Unit checks of the path scrubbing, and the real app with a
 * provider that fails the way the local one does when its files are not where it expects.
 */
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { AppError, type Task } from '@rclaude/protocol';
import { until } from '@rclaude/testkit';
import express from 'express';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../../test/test-stack.js';
import { errorMiddleware } from '../auth/error-middleware.js';
import { startFailureReason, withoutServerPaths } from './start-failure.js';

describe('withoutServerPaths', () => {
  it('replaces absolute paths, quoted or bare, and leaves URLs, ratios and relative names alone', () => {
    expect(
      withoutServerPaths(
        "could not start a local sandbox: ENOENT: no such file or directory, open '/var/lib/rclaude/sandboxes/sb1/log'",
      ),
    ).toBe("could not start a local sandbox: ENOENT: no such file or directory, open '<path>'");
    expect(withoutServerPaths('spawn /usr/bin/bwrap EACCES (in /home/op/.rclaude)')).toBe(
      'spawn <path> EACCES (in <path>)',
    );
    expect(withoutServerPaths('could not bundle https://github.com/acme/app.git: 1/2 done, see workspace/x')).toBe(
      'could not bundle https://github.com/acme/app.git: 1/2 done, see workspace/x',
    );
    expect(withoutServerPaths('ECS could not place the sandbox task: RESOURCE:MEMORY')).toBe(
      'ECS could not place the sandbox task: RESOURCE:MEMORY',
    );
  });

  it('says nothing of an error that is not an AppError, and names the reference wherever it left something out', () => {
    expect(startFailureReason(new Error('at /srv/secret/x.js:1'), 'abc123')).toBe(
      'the sandbox could not be started (server log reference abc123)',
    );
    expect(startFailureReason(new AppError('SANDBOX_START_FAILED', 'no space in /data/ws'), 'r1')).toBe(
      'no space in <path> (server log reference r1)',
    );
    // Nothing left out: the provider's words as they are.
    const clean = 'ECS has no Fargate capacity for the sandbox right now (RESOURCE:CPU); try again shortly';
    expect(startFailureReason(new AppError('SANDBOX_START_FAILED', clean), 'r2')).toBe(clean);
  });
});

describe('a sandbox start that fails (embedded)', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startTestStack('embedded');
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("fails the task with a clean reason and a reference; the log keeps the server's path", async () => {
    const secretPath = '/var/lib/rclaude-test/sandboxes/sb_x/agent.log';
    stack.setStartFailure(
      new AppError(
        'SANDBOX_START_FAILED',
        `could not start a local sandbox: EACCES: permission denied, open '${secretPath}'`,
      ),
    );
    try {
      const created = await stack.api(stack.admin.token, 'POST', '/api/tasks', { body: { command: ['sh'] } });
      expect(created.status, created.text).toBe(201);
      const failed = await until('the task to fail', async () => {
        const t = (await stack.api(stack.admin.token, 'GET', `/api/tasks/${created.body.id}`)).body as Task;
        return t.status === 'failed' ? t : null;
      });
      expect(failed.statusReason).toMatch(
        /^could not start a local sandbox: EACCES: permission denied, open '<path>' \(server log reference [0-9a-f]{12}\)$/,
      );
      const events = (await stack.api(stack.admin.token, 'GET', `/api/tasks/${failed.id}/events`)).text;
      expect(events).not.toContain(secretPath);
      expect(events).not.toContain('/var/lib');
      const reference = /reference ([0-9a-f]{12})/.exec(failed.statusReason ?? '')?.[1] ?? '?';
      const line = stack
        .logs()
        .split('\n')
        .find((l) => l.includes('sandbox start failed') && l.includes(reference));
      expect(line).toContain(secretPath);
    } finally {
      stack.setStartFailure(null);
    }
  });
});

describe('a start failure answered to a request', () => {
  it('answers the reason without server paths and with the request id; the log line keeps the path', async () => {
    let logText = '';
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        logText += chunk.toString('utf8');
        callback();
      },
    });
    const app = express();
    app.use((_req, res, next) => {
      res.locals.requestId = 'req-start-1';
      next();
    });
    app.post('/api/tasks', () => {
      throw new AppError(
        'SANDBOX_START_FAILED',
        "could not bundle the repository: fatal: '/srv/rclaude/tmp/b1' is busy",
      );
    });
    app.use(errorMiddleware(pino({ level: 'info' }, sink)));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/api/tasks`, {
        method: 'POST',
      });
      expect(res.status).toBe(502);
      expect(await res.json()).toEqual({
        error: {
          code: 'SANDBOX_START_FAILED',
          message: "could not bundle the repository: fatal: '<path>' is busy",
          details: { requestId: 'req-start-1' },
        },
      });
      const line = logText.split('\n').find((l) => l.includes('req-start-1'));
      expect(line).toContain('/srv/rclaude/tmp/b1');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
