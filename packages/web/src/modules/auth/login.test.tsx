import { QueryClient } from '@tanstack/react-query';
import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../api/api-client.js';
import { App } from '../../app.js';
import { createFakeFetch, json, type RecordedRequest, route } from '../../test/fake-fetch.js';
import { FakeSocket } from '../../test/fake-socket.js';
import { testUser } from '../../test/fixtures.js';
import { takeLoginToken } from './login-token.js';

const session = { user: testUser, csrfToken: 'csrf-abc' };

function renderApp(routes: Parameters<typeof createFakeFetch>[0], loginToken: string | null) {
  const { fetch, requests } = createFakeFetch([
    ...routes,
    route('GET', '/api/tasks', () => json({ tasks: [] })),
    route('GET', '/api/usage', () =>
      json({
        userId: 'u1',
        periodStart: '2025-01-01T00:00:00.000Z',
        periodEnd: '2025-02-01T00:00:00.000Z',
        tasks: 2,
        computeCostUsd: 0.5,
        modelCostUsd: 0.75,
        totalCostUsd: 1.25,
        usage: { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheCreationTokens: 0 },
        budgetUsd: 50,
        remainingUsd: 48.75,
      }),
    ),
  ]);
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <App
      dependencies={{
        api: new ApiClient({ fetch }),
        createSocket: () => new FakeSocket().asClientSocket(),
        storage: null,
      }}
      queryClient={queryClient}
      loginToken={loginToken}
    />,
  );
  return { requests };
}

const calls = (requests: RecordedRequest[], method: string, path: string) =>
  requests.filter((r) => r.method === method && new URL(r.url, 'http://x').pathname === path);

describe('takeLoginToken', () => {
  it('returns the token and removes it from the address bar, keeping the rest of the URL', () => {
    window.history.replaceState(null, '', '/tasks/abc?token=rct_secret&tab=files#top');
    expect(takeLoginToken(window.location, window.history)).toBe('rct_secret');
    expect(window.location.pathname + window.location.search + window.location.hash).toBe('/tasks/abc?tab=files#top');
  });

  it('returns null and leaves the URL alone when there is no token', () => {
    window.history.replaceState(null, '', '/?status=failed');
    expect(takeLoginToken(window.location, window.history)).toBeNull();
    expect(window.location.search).toBe('?status=failed');
  });
});

describe('signing in', () => {
  beforeEach(() => window.history.replaceState(null, '', '/'));
  afterEach(() => window.history.replaceState(null, '', '/'));

  it('exchanges the login URL token for a session and shows the dashboard', async () => {
    const { requests } = renderApp([route('POST', '/api/auth/session', () => json(session))], 'rct_from_url');
    await screen.findByRole('heading', { name: 'Tasks' });
    const exchange = calls(requests, 'POST', '/api/auth/session');
    expect(exchange).toHaveLength(1);
    expect(exchange[0]?.body).toEqual({ token: 'rct_from_url' });
    // The token was used instead of asking about an existing cookie.
    expect(calls(requests, 'GET', '/api/auth/session')).toHaveLength(0);
    expect(screen.getByText('ada')).toBeTruthy();
    // The header shows this month's spending against the budget.
    await screen.findByText('$1.25');
    expect(screen.getByText(/of \$50\.00/)).toBeTruthy();
  });

  it('explains a refused login link and offers the password form', async () => {
    renderApp(
      [
        route('POST', '/api/auth/session', () =>
          json({ error: { code: 'UNAUTHENTICATED', message: 'unknown token' } }, 401),
        ),
      ],
      'rct_stale',
    );
    await screen.findByText(/That login link is no longer valid/);
    expect(screen.getByLabelText('Username')).toBeTruthy();
  });

  it('signs in with a username and password: login, then the session exchange', async () => {
    const { requests } = renderApp(
      [
        route('GET', '/api/auth/session', () =>
          json({ error: { code: 'UNAUTHENTICATED', message: 'no session' } }, 401),
        ),
        route('POST', '/api/auth/login', () => json({ token: 'rct_login', user: testUser })),
        route('POST', '/api/auth/session', () => json(session)),
      ],
      null,
    );
    fireEvent.change(await screen.findByLabelText('Username'), { target: { value: ' ada ' } });
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'correct horse' } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));

    await screen.findByRole('heading', { name: 'Tasks' });
    expect(calls(requests, 'POST', '/api/auth/login')[0]?.body).toEqual({ username: 'ada', password: 'correct horse' });
    expect(calls(requests, 'POST', '/api/auth/session')[0]?.body).toEqual({ token: 'rct_login' });
  });

  it('shows why a password sign-in failed', async () => {
    renderApp(
      [
        route('GET', '/api/auth/session', () =>
          json({ error: { code: 'UNAUTHENTICATED', message: 'no session' } }, 401),
        ),
        route('POST', '/api/auth/login', () =>
          json({ error: { code: 'UNAUTHENTICATED', message: 'wrong username or password' } }, 401),
        ),
      ],
      null,
    );
    fireEvent.change(await screen.findByLabelText('Username'), { target: { value: 'ada' } });
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'nope nope' } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    await screen.findByText(/Wrong username or password/);
  });

  it('signs out: ends the session and returns to the login form', async () => {
    const { requests } = renderApp(
      [
        route('GET', '/api/auth/session', () => json(session)),
        route('DELETE', '/api/auth/session', () => new Response(null, { status: 204 })),
      ],
      null,
    );
    fireEvent.click(await screen.findByRole('button', { name: 'Sign out' }));
    await screen.findByRole('heading', { name: 'Sign in to rclaude' });
    const signOut = calls(requests, 'DELETE', '/api/auth/session');
    expect(signOut).toHaveLength(1);
    expect(signOut[0]?.headers.get('x-csrf-token')).toBe('csrf-abc');
    await waitFor(() => expect(screen.queryByRole('heading', { name: 'Tasks' })).toBeNull());
  });
});
