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
  it("returns a login link's token and removes it from the address bar, keeping the rest of the URL", () => {
    window.history.replaceState(null, '', '/tasks/abc?tab=files#token=rcl_secret');
    expect(takeLoginToken(window.location, window.history)).toBe('rcl_secret');
    expect(window.location.pathname + window.location.search + window.location.hash).toBe('/tasks/abc?tab=files');
    expect(window.location.href).not.toContain('rcl_secret');
  });

  it('also takes the token of an older `?token=` link', () => {
    window.history.replaceState(null, '', '/tasks/abc?token=rct_secret&tab=files#top');
    expect(takeLoginToken(window.location, window.history)).toBe('rct_secret');
    expect(window.location.pathname + window.location.search + window.location.hash).toBe('/tasks/abc?tab=files#top');
  });

  it('returns null and leaves the URL alone when there is no token', () => {
    window.history.replaceState(null, '', '/?status=failed#section');
    expect(takeLoginToken(window.location, window.history)).toBeNull();
    expect(window.location.search).toBe('?status=failed');
    expect(window.location.hash).toBe('#section');
  });
});

describe('signing in', () => {
  beforeEach(() => window.history.replaceState(null, '', '/'));
  afterEach(() => window.history.replaceState(null, '', '/'));

  it('exchanges the login URL token for a session and shows the dashboard', async () => {
    const { requests } = renderApp([route('POST', '/api/auth/session', () => json(session))], 'rcl_from_url');
    await screen.findByRole('heading', { name: 'Tasks' });
    const exchange = calls(requests, 'POST', '/api/auth/session');
    expect(exchange).toHaveLength(1);
    expect(exchange[0]?.body).toEqual({ token: 'rcl_from_url' });
    // The token was used instead of asking about an existing cookie.
    expect(calls(requests, 'GET', '/api/auth/session')).toHaveLength(0);
    expect(screen.getByText('ada')).toBeTruthy();
    // The header shows this month's spending against the budget.
    await screen.findByText('$1.25');
    expect(screen.getByText(/of \$50\.00/)).toBeTruthy();
  });

  it('explains a used login link and offers the password form', async () => {
    renderApp(
      [
        route('POST', '/api/auth/session', () =>
          json({ error: { code: 'UNAUTHENTICATED', message: 'already used', details: { reason: 'used' } } }, 401),
        ),
        route('GET', '/api/auth/session', () =>
          json({ error: { code: 'UNAUTHENTICATED', message: 'no session' } }, 401),
        ),
      ],
      'rcl_used',
    );
    await screen.findByText(/This sign-in link was already used\./);
    expect(screen.getByText(/run `rclaude web` for a new one/)).toBeTruthy();
    expect(screen.getByLabelText('Username')).toBeTruthy();
  });

  it('says an expired link did nothing and lets a still signed-in person carry on', async () => {
    const { requests } = renderApp(
      [
        route('POST', '/api/auth/session', () =>
          json({ error: { code: 'UNAUTHENTICATED', message: 'expired', details: { reason: 'expired' } } }, 401),
        ),
        route('GET', '/api/auth/session', () => json(session)),
      ],
      'rcl_old',
    );
    await screen.findByText(/This sign-in link has expired\./);
    fireEvent.click(screen.getByRole('button', { name: 'Continue as ada' }));
    await screen.findByRole('heading', { name: 'Tasks' });
    expect(calls(requests, 'POST', '/api/auth/session')).toHaveLength(1);
  });

  it('asks before a link for another account switches, and switches only when told to', async () => {
    const grace = { user: { ...testUser, id: 'u2', username: 'grace' }, csrfToken: 'csrf-grace' };
    const { requests } = renderApp(
      [
        route('POST', '/api/auth/session', (request) =>
          (request.body as { switchAccount?: boolean }).switchAccount
            ? json(grace)
            : json(
                {
                  error: {
                    code: 'CONFLICT',
                    message: 'you are signed in as ada',
                    details: { signedInAs: 'ada', linkFor: 'grace' },
                  },
                },
                409,
              ),
        ),
      ],
      'rcl_for_grace',
    );
    await screen.findByText(/You are signed in as/);
    expect(screen.getByRole('region', { name: 'Switch account?' }).textContent).toContain(
      'You are signed in as ada. Switch to grace?',
    );
    expect(screen.queryByRole('heading', { name: 'Tasks' })).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: 'Switch to grace' }));
    await screen.findByRole('heading', { name: 'Tasks' });
    expect(screen.getByText('grace')).toBeTruthy();
    expect(calls(requests, 'POST', '/api/auth/session').map((r) => r.body)).toEqual([
      { token: 'rcl_for_grace' },
      { token: 'rcl_for_grace', switchAccount: true },
    ]);
  });

  it('stays signed in as before when the person declines the switch', async () => {
    const { requests } = renderApp(
      [
        route('POST', '/api/auth/session', () =>
          json(
            {
              error: {
                code: 'CONFLICT',
                message: 'you are signed in as ada',
                details: { signedInAs: 'ada', linkFor: 'mallory' },
              },
            },
            409,
          ),
        ),
        route('GET', '/api/auth/session', () => json(session)),
      ],
      'rcl_from_mallory',
    );
    fireEvent.click(await screen.findByRole('button', { name: 'Stay signed in as ada' }));
    await screen.findByRole('heading', { name: 'Tasks' });
    expect(screen.getByText('ada')).toBeTruthy();
    expect(calls(requests, 'POST', '/api/auth/session')).toHaveLength(1);
  });

  it('signs in with a username and password straight to a session, making no API token', async () => {
    const { requests } = renderApp(
      [
        route('GET', '/api/auth/session', () =>
          json({ error: { code: 'UNAUTHENTICATED', message: 'no session' } }, 401),
        ),
        route('POST', '/api/auth/session', () => json(session)),
      ],
      null,
    );
    fireEvent.change(await screen.findByLabelText('Username'), { target: { value: ' ada ' } });
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'correct horse' } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));

    await screen.findByRole('heading', { name: 'Tasks' });
    expect(calls(requests, 'POST', '/api/auth/session')[0]?.body).toEqual({
      username: 'ada',
      password: 'correct horse',
    });
    expect(calls(requests, 'POST', '/api/auth/login')).toHaveLength(0);
  });

  it('shows why a password sign-in failed', async () => {
    renderApp(
      [
        route('GET', '/api/auth/session', () =>
          json({ error: { code: 'UNAUTHENTICATED', message: 'no session' } }, 401),
        ),
        route('POST', '/api/auth/session', () =>
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
