import type { TaskEvent } from '@rclaude/protocol';
import { describe, expect, it } from 'vitest';
import { notificationFor } from './notification-for.js';

const task = { id: 'abc123', name: 'fix-login' };
const event = (type: TaskEvent['type'], data: Record<string, unknown>, seq = 7): TaskEvent => ({
  seq,
  taskId: task.id,
  type,
  at: '2026-12-03T12:00:00.000Z',
  data,
});

describe('notificationFor: which task events tell the owner what', () => {
  it("says a waiting task's question, opening the task", () => {
    const plan = notificationFor(task, event('activity', { activity: 'waiting', message: 'Allow Bash: npm test?' }));
    expect(plan).toMatchObject({
      kind: 'waiting',
      key: 'event:abc123:7',
      notification: {
        kind: 'waiting',
        title: 'fix-login is waiting for you',
        body: 'Allow Bash: npm test?',
        taskId: 'abc123',
        url: '/tasks/abc123',
        tag: 'rclaude-abc123',
      },
    });
  });

  it('asks for an approval with Approve and Deny, carrying the approval id the buttons answer', () => {
    const plan = notificationFor(
      task,
      event('approval_requested', {
        approvalId: 'ap_k3v7q2mzx6ab',
        tool: 'Bash',
        summary: 'Bash rm -rf build',
        reason: null,
        expiresAt: '2026-12-03T12:10:00.000Z',
      }),
    );
    expect(plan).toMatchObject({
      kind: 'approval',
      key: 'event:abc123:7',
      notification: {
        kind: 'approval',
        title: 'fix-login wants to use Bash',
        body: 'Bash rm -rf build',
        approvalId: 'ap_k3v7q2mzx6ab',
        url: '/tasks/abc123',
      },
    });
    expect(plan?.notification.actions?.map((a) => a.action)).toEqual(['approve', 'deny']);
    // Without an id there is nothing a button could answer: no notification rather than a broken one.
    expect(notificationFor(task, event('approval_requested', { tool: 'Bash', summary: 'x' }))).toBeNull();
  });

  it('has words of its own when Claude gave none', () => {
    expect(notificationFor(task, event('activity', { activity: 'waiting' }))?.notification.body).toBe(
      'Claude Code needs input to go on.',
    );
  });

  it('stays quiet about working, done, and status changes that are not an end', () => {
    expect(notificationFor(task, event('activity', { activity: 'working' }))).toBeNull();
    expect(notificationFor(task, event('activity', { activity: 'done' }))).toBeNull();
    expect(notificationFor(task, event('status', { status: 'running', reason: 'agent connected' }))).toBeNull();
    expect(notificationFor(task, event('status', { status: 'stopped', reason: 'stopped by alice' }))).toBeNull();
    expect(notificationFor(task, event('info', { message: 'Claude Code started' }))).toBeNull();
    expect(notificationFor(task, event('error', { message: 'clone failed' }))).toBeNull();
    expect(notificationFor(task, event('assistant_text', { text: 'hi' }))).toBeNull();
  });

  it('says a task finished or failed, with the reason', () => {
    expect(notificationFor(task, event('status', { status: 'succeeded', reason: 'exited with code 0' }))).toMatchObject(
      { kind: 'finished', notification: { title: 'fix-login finished', body: 'exited with code 0' } },
    );
    expect(notificationFor(task, event('status', { status: 'failed', reason: 'sandbox gone' }))).toMatchObject({
      kind: 'failed',
      notification: { title: 'fix-login failed', body: 'sandbox gone' },
    });
  });

  it('warns before hibernation once per idle spell, whichever proxy recorded the warning', () => {
    const warning = { message: 'hibernating in 1 min', hibernateAt: '2026-12-03T12:01:00.000Z' };
    const one = notificationFor(task, event('info', warning, 8));
    const other = notificationFor(task, event('info', { ...warning, hibernateAt: '2026-12-03T12:01:02.000Z' }, 9));
    expect(one).toMatchObject({ kind: 'stopping', notification: { title: 'fix-login will hibernate soon' } });
    expect(other?.key).toBe(one?.key);
  });

  it('says when the budget stops Claude', () => {
    const plan = notificationFor(
      task,
      event('error', { message: 'model request refused: monthly budget reached', reason: 'budget' }),
    );
    expect(plan).toMatchObject({ kind: 'budget', key: 'budget:abc123' });
  });

  it('bounds what it sends, whatever the event holds', () => {
    const long = notificationFor(
      { id: 'abc123', name: 'n'.repeat(200) },
      event('activity', { activity: 'waiting', message: 'm'.repeat(5000) }),
    );
    expect(long?.notification.title.length).toBeLessThanOrEqual(120);
    expect(long?.notification.body.length).toBeLessThanOrEqual(600);
    expect(notificationFor(task, event('activity', { activity: 'waiting', message: 42 }))?.notification.body).toBe(
      'Claude Code needs input to go on.',
    );
  });
});
