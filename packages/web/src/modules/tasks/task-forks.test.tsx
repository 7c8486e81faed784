import type { Task, TaskEvent } from '@rclaude/protocol';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import { describe, expect, it } from 'vitest';
import { ApiClient } from '../../api/api-client.js';
import { AppDependenciesProvider } from '../../app-context.js';
import { createFakeFetch, json, type RecordedRequest, route } from '../../test/fake-fetch.js';
import { FakeSocket } from '../../test/fake-socket.js';
import { makeTask } from '../../test/fixtures.js';
import { ForksPanel, latestDiffSummary } from './task-forks.js';

const diff = (summary: string) => ({
  type: 'diff' as const,
  data: { files: [], filesChanged: 1, additions: 1, deletions: 0, diffPath: '.rclaude/diff', diffBytes: 10, summary },
});

describe('latestDiffSummary', () => {
  it("is the summary of a fork's latest valid diff event, or null before any", () => {
    expect(latestDiffSummary([])).toBeNull();
    expect(latestDiffSummary([{ type: 'status', data: { status: 'running' } }])).toBeNull();
    expect(
      latestDiffSummary([
        diff('1 file changed, +1 -0'),
        diff('2 files changed, +10 -3'),
        { type: 'diff', data: { summary: 42 } },
        { type: 'info', data: { message: 'x' } },
      ]),
    ).toBe('2 files changed, +10 -3');
  });
});

describe('ForksPanel', () => {
  it('shows the forks side by side with status, cost and diff, each linked; Fork makes one more', async () => {
    const source = makeTask({ id: 'src00001', name: 'source' });
    const forks: Task[] = [
      makeTask({ id: 'fork0001', name: 'source (fork 1/2)', forkOf: source.id, status: 'idle', modelCostUsd: 0.12 }),
      makeTask({ id: 'fork0002', name: 'source (fork 2/2)', forkOf: source.id, status: 'succeeded' }),
    ];
    const events: Record<string, TaskEvent[]> = {
      fork0001: [{ seq: 1, taskId: 'fork0001', at: '2025-01-01T10:00:00.000Z', ...diff('3 files changed, +7 -1') }],
      fork0002: [],
    };
    const { fetch, requests } = createFakeFetch([
      route('GET', '/api/tasks', () => json({ tasks: forks })),
      (r: RecordedRequest) => {
        const m = /^\/api\/tasks\/(\w+)\/events$/.exec(new URL(r.url, 'http://x').pathname);
        return m?.[1] ? json({ events: events[m[1]] ?? [] }) : undefined;
      },
      route('POST', `/api/tasks/${source.id}/fork`, () => {
        const made = makeTask({ id: 'fork0003', name: 'source (fork 1/1)', forkOf: source.id, status: 'queued' });
        forks.push(made);
        events.fork0003 = [];
        return json({ checkpointId: 'cp_abcdefgh', tasks: [made] }, 201);
      }),
    ]);
    render(
      <AppDependenciesProvider
        value={{ api: new ApiClient({ fetch }), createSocket: () => new FakeSocket().asClientSocket(), storage: null }}
      >
        <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
          <MemoryRouter>
            <ForksPanel task={source} />
          </MemoryRouter>
        </QueryClientProvider>
      </AppDependenciesProvider>,
    );
    await waitFor(() => expect(screen.getAllByTestId('fork-card')).toHaveLength(2));
    const list = requests.find((r) => new URL(r.url, 'http://x').pathname === '/api/tasks');
    expect(new URL(list?.url ?? '', 'http://x').searchParams.get('forkOf')).toBe(source.id);
    const [first, second] = screen.getAllByTestId('fork-card');
    if (!first || !second) throw new Error('no cards');
    await waitFor(() => expect(within(first).getByText('3 files changed, +7 -1')).toBeTruthy());
    expect(within(first).getByText('$0.12')).toBeTruthy();
    expect(within(first).getAllByRole('link')[0]?.getAttribute('href')).toBe('/tasks/fork0001');
    await waitFor(() => expect(within(second).getByText('No diff recorded yet')).toBeTruthy());

    fireEvent.click(screen.getByTestId('fork-task'));
    await waitFor(() => expect(screen.getAllByTestId('fork-card')).toHaveLength(3));
    const post = requests.find((r) => r.method === 'POST');
    expect(post?.body).toEqual({ count: 1 });
  });
});
