import type { Approval } from '@rclaude/protocol';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { ApiClient } from '../../api/api-client.js';
import { AppDependenciesProvider, SocketProvider } from '../../app-context.js';
import { createFakeFetch, json, route } from '../../test/fake-fetch.js';
import { FakeSocket } from '../../test/fake-socket.js';
import { ApprovalCards, TaskApprovalBadge } from './approval-card.js';

const TASK = 'aaaa1111';

function approval(over: Partial<Approval> = {}): Approval {
  return {
    id: 'ap_aaaaaaaaaaaa',
    taskId: TASK,
    sessionId: null,
    tool: 'Bash',
    summary: 'Bash: npm publish',
    input: { command: 'npm publish' },
    reason: 'Publish the package',
    status: 'pending',
    createdAt: new Date().toISOString(),
    expiresAt: new Date(Date.now() + 5 * 60_000).toISOString(),
    answeredAt: null,
    answeredBy: null,
    message: null,
    ...over,
  };
}

function renderWith(node: React.ReactNode, approvals: () => Approval[]) {
  const socket = new FakeSocket();
  const { fetch, requests } = createFakeFetch([
    route('GET', `/api/tasks/${TASK}/approvals`, () => json({ approvals: approvals() })),
    route('GET', '/api/approvals', () => json({ approvals: approvals().filter((a) => a.status === 'pending') })),
    route('POST', `/api/tasks/${TASK}/approvals/ap_aaaaaaaaaaaa`, (req) =>
      json({ ...approval(), status: 'allowed', answeredBy: 'alice', message: null, ...(req.body as object) }),
    ),
  ]);
  render(
    <AppDependenciesProvider
      value={{ api: new ApiClient({ fetch }), createSocket: () => socket.asClientSocket(), storage: null }}
    >
      <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
        <SocketProvider>{node}</SocketProvider>
      </QueryClientProvider>
    </AppDependenciesProvider>,
  );
  return { socket, requests };
}

describe('ApprovalCards', () => {
  it('shows a pending approval with its command and reason, and Approve answers it', async () => {
    let current = [approval(), approval({ id: 'ap_bbbbbbbbbbbb', status: 'denied', summary: 'Bash: rm -rf /' })];
    const { requests, socket } = renderWith(<ApprovalCards taskId={TASK} />, () => current);
    const card = await screen.findByTestId('approval-card');
    expect(card.textContent).toContain('npm publish');
    expect(card.textContent).toContain('Publish the package');
    // Only pending approvals get a card.
    expect(screen.getAllByTestId('approval-card')).toHaveLength(1);

    fireEvent.click(screen.getByRole('button', { name: 'Approve' }));
    await waitFor(() => expect(requests.some((r) => r.method === 'POST')).toBe(true));
    const post = requests.find((r) => r.method === 'POST');
    expect(post?.url).toContain(`/api/tasks/${TASK}/approvals/ap_aaaaaaaaaaaa`);
    expect(post?.body).toEqual({ decision: 'allow' });

    // Answered (here or anywhere): the timeline event refreshes the list and the card goes.
    current = [approval({ status: 'allowed', answeredBy: 'alice' })];
    socket.serverEmit('task:event', { seq: 9, taskId: TASK, type: 'approval_answered', at: '', data: {} });
    await waitFor(() => expect(screen.queryByTestId('approval-card')).toBeNull());
  });

  it('Deny sends a denial', async () => {
    const { requests } = renderWith(<ApprovalCards taskId={TASK} />, () => [approval()]);
    fireEvent.click(await screen.findByRole('button', { name: 'Deny' }));
    await waitFor(() => expect(requests.find((r) => r.method === 'POST')?.body).toEqual({ decision: 'deny' }));
  });
});

describe('TaskApprovalBadge', () => {
  it("counts the task's pending approvals, and shows nothing without any", async () => {
    renderWith(
      <>
        <TaskApprovalBadge taskId={TASK} />
        <TaskApprovalBadge taskId="other123" />
      </>,
      () => [approval(), approval({ id: 'ap_cccccccccccc' })],
    );
    const badge = await screen.findByTestId('approval-badge');
    expect(badge.textContent).toBe('2 to approve');
    expect(screen.getAllByTestId('approval-badge')).toHaveLength(1);
  });
});
