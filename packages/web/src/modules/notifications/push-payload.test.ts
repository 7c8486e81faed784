import { describe, expect, it } from 'vitest';
import { approvalRequest, notificationData, notificationFromPush, safePath } from './push-payload.js';

describe('what the service worker shows for a push message', () => {
  it('shows the title, body and tag, and keeps where a tap goes', () => {
    const shown = notificationFromPush({
      kind: 'waiting',
      title: 'fix-login is waiting for you',
      body: 'Allow Bash?',
      taskId: 'abc123',
      url: '/tasks/abc123',
      tag: 'rclaude-abc123',
      actions: [{ action: 'open', title: 'Open' }],
    });
    expect(shown).toEqual({
      title: 'fix-login is waiting for you',
      options: {
        body: 'Allow Bash?',
        tag: 'rclaude-abc123',
        icon: '/icon-192.png',
        badge: '/badge-96.png',
        data: { url: '/tasks/abc123', taskId: 'abc123', approvalId: null },
        actions: [{ action: 'open', title: 'Open' }],
      },
    });
  });

  it('opens only paths on this origin', () => {
    expect(safePath('/tasks/x')).toBe('/tasks/x');
    expect(safePath('//evil.example/x')).toBe('/');
    expect(safePath('https://evil.example/')).toBe('/');
    expect(safePath('/\\evil.example')).toBe('/');
    expect(safePath(42)).toBe('/');
  });

  it('drops unknown actions, and approval buttons without the approval they answer', () => {
    const shown = notificationFromPush({
      title: 't',
      actions: [
        { action: 'approve', title: 'Approve' },
        { action: 'explode', title: 'Boom' },
      ],
    });
    expect(shown?.options.actions).toEqual([]);
    expect(notificationFromPush('not an object')).toBeNull();
    expect(notificationFromPush({})?.title).toBe('rclaude');
  });

  it("turns Approve and Deny into the approvals route's request", () => {
    const data = notificationData({ url: '/tasks/t1', taskId: 't1', approvalId: 'a/1' });
    expect(approvalRequest(data, 'approve')).toEqual({
      path: '/api/tasks/t1/approvals/a%2F1',
      body: { decision: 'allow' },
    });
    expect(approvalRequest(data, 'deny')?.body).toEqual({ decision: 'deny' });
    expect(approvalRequest(data, 'open')).toBeNull();
    expect(approvalRequest({ ...data, approvalId: null }, 'approve')).toBeNull();
  });
});
