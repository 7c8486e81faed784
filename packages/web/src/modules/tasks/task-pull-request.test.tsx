import type { Task } from '@rclaude/protocol';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { fireEvent, render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { ApiClient } from '../../api/api-client.js';
import { AppDependenciesProvider } from '../../app-context.js';
import { createFakeFetch, json, type Route, route } from '../../test/fake-fetch.js';
import { FakeSocket } from '../../test/fake-socket.js';
import { makeTask } from '../../test/fixtures.js';
import { TaskPullRequestActions } from './task-pull-request.js';
import { safeHttpUrl, summarizeEvent } from './task-timeline.js';

const commit = 'a'.repeat(40);

function renderActions(task: Task, routes: Route[]) {
  const { fetch, requests } = createFakeFetch(routes);
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <AppDependenciesProvider
      value={{ api: new ApiClient({ fetch }), createSocket: () => new FakeSocket().asClientSocket(), storage: null }}
    >
      <QueryClientProvider client={queryClient}>
        <TaskPullRequestActions task={task} />
      </QueryClientProvider>
    </AppDependenciesProvider>,
  );
  return requests;
}

describe('TaskPullRequestActions', () => {
  it('shows nothing for a task without a repository', () => {
    renderActions(makeTask(), []);
    expect(screen.queryByTestId('pull-request-actions')).toBeNull();
  });

  it('pushes, then opens the pull request and links to it', async () => {
    const task = makeTask({ repo: 'https://github.com/o/r' });
    const requests = renderActions(task, [
      route('POST', `/api/tasks/${task.id}/push`, () =>
        json({ branch: 'rclaude/abcd1234', commit, pushedTo: task.repo, upToDate: false }),
      ),
      route('POST', `/api/tasks/${task.id}/pull-request`, () =>
        json({
          url: 'https://github.com/o/r/pull/7',
          number: 7,
          repo: 'o/r',
          branch: 'rclaude/abcd1234',
          base: 'main',
          commit,
          created: true,
        }),
      ),
    ]);
    fireEvent.click(screen.getByTestId('push-task'));
    expect((await screen.findByTestId('push-result')).textContent).toBe('Pushed: rclaude/abcd1234 at aaaaaaaaaaaa');
    fireEvent.click(screen.getByTestId('open-pull-request'));
    const link = await screen.findByTestId('pull-request-link');
    expect(link.getAttribute('href')).toBe('https://github.com/o/r/pull/7');
    expect(link.textContent).toBe('Pull request #7');
    expect(screen.getByTestId('open-pull-request').textContent).toBe('Update pull request');
    expect(requests.filter((r) => r.method === 'POST').map((r) => new URL(r.url, 'http://x').pathname)).toEqual([
      `/api/tasks/${task.id}/push`,
      `/api/tasks/${task.id}/pull-request`,
    ]);
  });

  it("shows the server's error, such as a missing token", async () => {
    const task = makeTask({ repo: 'https://github.com/o/r' });
    renderActions(task, [
      route('POST', `/api/tasks/${task.id}/pull-request`, () =>
        json(
          {
            error: {
              code: 'BAD_REQUEST',
              message: 'no GitHub token stored: run `rclaude secret set GITHUB_TOKEN`',
            },
          },
          400,
        ),
      ),
    ]);
    fireEvent.click(screen.getByTestId('open-pull-request'));
    expect((await screen.findByRole('alert')).textContent).toContain(
      'No GitHub token stored: run `rclaude secret set GITHUB_TOKEN`',
    );
  });

  it('links an ended task to its pull request, without buttons', () => {
    const pullRequest = {
      url: 'https://github.com/o/r/pull/3',
      number: 3,
      repo: 'o/r',
      branch: 'b',
      base: 'main',
      commit,
      created: true,
    };
    renderActions(makeTask({ repo: '/srv/r.git', status: 'stopped', pullRequest }), []);
    expect(screen.getByTestId('pull-request-link').getAttribute('href')).toBe(pullRequest.url);
    expect(screen.queryByTestId('push-task')).toBeNull();
  });
});

describe('pull requests on the timeline', () => {
  it('summarizes the event and links only http(s) URLs', () => {
    expect(
      summarizeEvent({ type: 'pull_request', data: { number: 4, branch: 'b', base: 'main', created: false } }),
    ).toBe('Pushed to the open pull request #4 (b → main)');
    expect(safeHttpUrl('https://github.com/o/r/pull/4')).toBe('https://github.com/o/r/pull/4');
    expect(safeHttpUrl('javascript:alert(1)')).toBeNull();
    expect(safeHttpUrl(42)).toBeNull();
  });
});
