import type { Task } from '@rclaude/protocol';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { MemoryRouter, Route, Routes } from 'react-router';
import { describe, expect, it } from 'vitest';
import { ApiClient } from '../api/api-client.js';
import { AppDependenciesProvider, SocketProvider } from '../app-context.js';
import { createFakeFetch, json, route } from '../test/fake-fetch.js';
import { FakeSocket } from '../test/fake-socket.js';
import { makeTask } from '../test/fixtures.js';
import { DashboardPage } from './dashboard-page.js';

const tasks: Task[] = [
  makeTask({ id: 'aaaa1111', name: 'Fix login bug', status: 'running', createdAt: '2025-01-01T10:00:00Z' }),
  makeTask({ id: 'bbbb2222', name: 'Write docs', status: 'succeeded', createdAt: '2025-01-02T10:00:00Z' }),
  makeTask({ id: 'cccc3333', name: 'Login page redesign', status: 'failed', createdAt: '2025-01-03T10:00:00Z' }),
];

function renderDashboard(initialUrl = '/', extraRoutes: Parameters<typeof createFakeFetch>[0] = []) {
  const socket = new FakeSocket();
  const { fetch, requests } = createFakeFetch([
    ...extraRoutes,
    route('GET', '/api/tasks', () => json({ tasks })),
    route('GET', '/api/approvals', () => json({ approvals: [] })),
  ]);
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <AppDependenciesProvider
      value={{ api: new ApiClient({ fetch }), createSocket: () => socket.asClientSocket(), storage: null }}
    >
      <QueryClientProvider client={queryClient}>
        <MemoryRouter initialEntries={[initialUrl]}>
          <SocketProvider>
            <Routes>
              <Route path="/" element={<DashboardPage />} />
              <Route path="/tasks/:id" element={<p>task page</p>} />
            </Routes>
          </SocketProvider>
        </MemoryRouter>
      </QueryClientProvider>
    </AppDependenciesProvider>,
  );
  return { socket, requests };
}

const rowNames = () =>
  screen
    .queryAllByRole('row')
    .slice(1)
    .map((row) => within(row).getByRole('link').textContent);

describe('DashboardPage', () => {
  it('lists tasks newest first and filters by status', async () => {
    renderDashboard();
    await screen.findByRole('link', { name: 'Fix login bug' });
    expect(rowNames()).toEqual(['Login page redesign', 'Write docs', 'Fix login bug']);

    fireEvent.click(screen.getByRole('button', { name: /^Active/ }));
    expect(rowNames()).toEqual(['Fix login bug']);
    fireEvent.click(screen.getByRole('button', { name: /^Failed/ }));
    expect(rowNames()).toEqual(['Login page redesign']);
    expect(screen.getByRole('button', { name: /^Failed/ }).getAttribute('aria-pressed')).toBe('true');
  });

  it('searches by name and says so when nothing matches', async () => {
    renderDashboard();
    const search = await screen.findByRole('searchbox', { name: 'Search tasks by name' });
    await screen.findByRole('link', { name: 'Fix login bug' });
    fireEvent.change(search, { target: { value: 'login' } });
    expect(rowNames()).toEqual(['Login page redesign', 'Fix login bug']);

    fireEvent.change(search, { target: { value: 'nothing like this' } });
    expect(screen.getByText('No tasks match')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Clear filters' }));
    expect(rowNames()).toHaveLength(3);
  });

  it('takes the filter from the URL', async () => {
    renderDashboard('/?status=succeeded');
    await screen.findByRole('link', { name: 'Write docs' });
    expect(rowNames()).toEqual(['Write docs']);
  });

  it('subscribes to every task and applies pushed updates without refetching', async () => {
    const { socket, requests } = renderDashboard();
    await screen.findByRole('link', { name: 'Fix login bug' });
    expect(
      socket.emitted.some((e) => e.event === 'task:subscribe' && JSON.stringify(e.args[0]) === '{"all":true}'),
    ).toBe(true);
    const fetchesBefore = requests.length;

    socket.serverEmit('task:updated', { ...tasks[0], status: 'stopped', statusReason: 'stopped by user' });
    socket.serverEmit(
      'task:updated',
      makeTask({ id: 'dddd4444', name: 'Brand new task', createdAt: '2025-02-01T00:00:00Z' }),
    );

    await screen.findByRole('link', { name: 'Brand new task' });
    const row = screen.getByRole('link', { name: 'Fix login bug' }).closest('tr') as HTMLElement;
    expect(row.querySelector('[data-status]')?.getAttribute('data-status')).toBe('stopped');
    expect(within(row).getByText('stopped by user')).toBeTruthy();
    expect(rowNames()[0]).toBe('Brand new task');
    expect(requests.length).toBe(fetchesBefore);
  });

  it('says what to do when there are no tasks', async () => {
    const empty = renderDashboard('/', [route('GET', '/api/tasks', () => json({ tasks: [] }))]);
    await screen.findByText('No tasks yet');
    expect(screen.getByText('rclaude run')).toBeTruthy();
    expect(empty.requests).toHaveLength(1);
  });

  it('shows an error with a retry when the list cannot load', async () => {
    renderDashboard('/', [
      route('GET', '/api/tasks', () => json({ error: { code: 'INTERNAL', message: 'database down' } }, 500)),
    ]);
    await screen.findByText('Could not load your tasks');
    expect(screen.getByText('Database down.')).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Try again' })).toBeTruthy();
  });

  it('stops a task only after confirmation', async () => {
    const { requests } = renderDashboard('/', [
      route('POST', '/api/tasks/aaaa1111/stop', () => json({ ...tasks[0], status: 'stopping' })),
    ]);
    fireEvent.click(await screen.findByRole('button', { name: 'Stop Fix login bug' }));
    const dialog = await screen.findByRole('dialog');
    expect(within(dialog).getByText(/Its sandbox shuts down/)).toBeTruthy();
    expect(requests.some((r) => r.method === 'POST')).toBe(false);

    fireEvent.click(within(dialog).getByRole('button', { name: 'Stop task' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(requests.filter((r) => r.method === 'POST').map((r) => r.url)).toEqual(['/api/tasks/aaaa1111/stop']);
    const row = screen.getByRole('link', { name: 'Fix login bug' }).closest('tr') as HTMLElement;
    expect(row.querySelector('[data-status]')?.getAttribute('data-status')).toBe('stopping');
  });

  it('asks again before stopping a task whose checkpoint failed, and then stops it by force', async () => {
    const { requests } = renderDashboard('/', [
      route('POST', '/api/tasks/aaaa1111/stop', (r) =>
        (r.body as { force?: boolean } | undefined)?.force
          ? json({ ...tasks[0], status: 'stopped' })
          : json(
              { error: { code: 'CHECKPOINT_FAILED', message: 'could not checkpoint task aaaa1111: no answer' } },
              502,
            ),
      ),
    ]);
    fireEvent.click(await screen.findByRole('button', { name: 'Stop Fix login bug' }));
    fireEvent.click(within(await screen.findByRole('dialog')).getByRole('button', { name: 'Stop task' }));
    const again = await screen.findByRole('dialog', { name: /anyway/ });
    expect(within(again).getByTestId('stop-checkpoint-error').textContent).toContain('no answer');
    fireEvent.click(within(again).getByRole('button', { name: 'Stop anyway' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(requests.filter((r) => r.method === 'POST').map((r) => r.body ?? null)).toEqual([null, { force: true }]);
    const row = screen.getByRole('link', { name: 'Fix login bug' }).closest('tr') as HTMLElement;
    expect(row.querySelector('[data-status]')?.getAttribute('data-status')).toBe('stopped');
  });
});
