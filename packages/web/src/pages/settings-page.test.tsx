import type { ApiToken, SecretInfo, User } from '@rclaude/protocol';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../api/api-client.js';
import { App } from '../app.js';
import { AppDependenciesProvider } from '../app-context.js';
import { createFakeFetch, json, type RecordedRequest, type Route, route } from '../test/fake-fetch.js';
import { FakeSocket } from '../test/fake-socket.js';
import { testUser } from '../test/fixtures.js';
import { SettingsPage } from './settings-page.js';

const admin = testUser;
const member: User = { id: 'u2', username: 'grace', role: 'user', createdAt: '2025-01-02T00:00:00.000Z' };
const oldToken: ApiToken = {
  id: 'tok1',
  name: 'server login',
  prefix: 'rct_ab12cd',
  createdAt: '2025-01-01T00:00:00.000Z',
  lastUsedAt: null,
};

/**
 * A small in-memory server behind the fake fetch: secrets, tokens and users change as the requests say,
 * so what the page shows after a change is what a fresh GET would answer.
 */
function fakeServer(user: User) {
  const secrets: SecretInfo[] = [{ name: 'ANTHROPIC_API_KEY', updatedAt: '2025-01-01T00:00:00.000Z' }];
  const values = new Map<string, string>();
  const tokens: ApiToken[] = [oldToken];
  const users: User[] = [admin, member];
  const secretPath = (r: RecordedRequest) => /^\/api\/secrets\/([^/?]+)$/.exec(new URL(r.url, 'http://x').pathname);
  const routes: Route[] = [
    route('GET', '/api/auth/session', () => json({ user, csrfToken: 'csrf-abc' })),
    route('GET', '/api/secrets', () => json({ secrets })),
    (r) => {
      const match = secretPath(r);
      if (r.method !== 'PUT' || !match?.[1]) return undefined;
      const name = decodeURIComponent(match[1]);
      values.set(name, (r.body as { value: string }).value);
      const info = { name, updatedAt: new Date().toISOString() };
      secrets.splice(0, secrets.length, ...secrets.filter((s) => s.name !== name), info);
      return json(info);
    },
    (r) => {
      const match = secretPath(r);
      if (r.method !== 'DELETE' || !match?.[1]) return undefined;
      const name = decodeURIComponent(match[1]);
      secrets.splice(0, secrets.length, ...secrets.filter((s) => s.name !== name));
      return new Response(null, { status: 204 });
    },
    route('GET', '/api/tokens', () => json({ tokens })),
    route('GET', '/api/push/subscriptions', () =>
      json({
        subscriptions: [
          {
            id: 'sub1phone',
            endpoint: 'https://push.example.com/s/1',
            label: 'Chrome on Android',
            kinds: ['waiting', 'failed'],
            createdAt: '2025-01-01T00:00:00.000Z',
            lastSentAt: null,
          },
        ],
      }),
    ),
    route('POST', '/api/tokens', (r) => {
      const info: ApiToken = {
        id: 'tok2',
        name: (r.body as { name: string }).name,
        prefix: 'rct_zz99yy',
        createdAt: new Date().toISOString(),
        lastUsedAt: null,
      };
      tokens.push(info);
      return json({ token: 'rct_zz99yyTHE-WHOLE-TOKEN-shown-only-once-000000', info }, 201);
    }),
    route('GET', '/api/users', () =>
      user.role === 'admin' ? json({ users }) : json({ error: { code: 'FORBIDDEN', message: 'admins only' } }, 403),
    ),
    route('POST', '/api/users', (r) => {
      const body = r.body as { username: string; role: User['role'] };
      const created: User = { id: 'u3', username: body.username, role: body.role, createdAt: new Date().toISOString() };
      users.push(created);
      return json(created, 201);
    }),
  ];
  return { routes, values };
}

function renderSettings(user: User = admin, extraRoutes: Route[] = []) {
  const server = fakeServer(user);
  const { fetch, requests } = createFakeFetch([...extraRoutes, ...server.routes]);
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <AppDependenciesProvider
      value={{ api: new ApiClient({ fetch }), createSocket: () => new FakeSocket().asClientSocket(), storage: null }}
    >
      <QueryClientProvider client={queryClient}>
        <MemoryRouter initialEntries={['/settings']}>
          <SettingsPage />
        </MemoryRouter>
      </QueryClientProvider>
    </AppDependenciesProvider>,
  );
  return { requests, values: server.values };
}

const calls = (requests: RecordedRequest[], method: string, path: string) =>
  requests.filter((r) => r.method === method && new URL(r.url, 'http://x').pathname === path);

const section = (name: string) => screen.getByRole('region', { name });

/** True when `text` appears anywhere on the page: in its text or in any field's value. */
function pageShows(text: string): boolean {
  const inputs = Array.from(document.querySelectorAll('input, textarea')) as HTMLInputElement[];
  return (document.body.textContent ?? '').includes(text) || inputs.some((input) => input.value.includes(text));
}

describe('SettingsPage', () => {
  afterEach(() => {
    Reflect.deleteProperty(navigator, 'clipboard');
  });

  it('stores a secret: the PUT carries the value, then the list shows the name and never the value', async () => {
    const { requests, values } = renderSettings();
    const secrets = await screen.findByRole('list', { name: 'Stored secrets' });
    expect(within(secrets).getByText('ANTHROPIC_API_KEY')).toBeTruthy();
    expect(screen.getByText(/becomes an environment variable in the sandboxes you start/)).toBeTruthy();

    // A suggested name fills the name field; ANTHROPIC_API_KEY is stored already, so it is not suggested.
    const form = screen.getByRole('form', { name: 'Store a secret' });
    expect(within(form).queryByRole('button', { name: 'ANTHROPIC_API_KEY' })).toBeNull();
    fireEvent.click(within(form).getByRole('button', { name: 'GITHUB_TOKEN' }));
    expect((within(form).getByLabelText('Name') as HTMLInputElement).value).toBe('GITHUB_TOKEN');
    const value = within(form).getByLabelText('Value') as HTMLInputElement;
    expect(value.type).toBe('password');
    fireEvent.change(value, { target: { value: 'ghp_very_secret_value' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Save secret' }));

    await within(secrets).findByText('GITHUB_TOKEN');
    const puts = calls(requests, 'PUT', '/api/secrets/GITHUB_TOKEN');
    expect(puts).toHaveLength(1);
    expect(puts[0]?.body).toEqual({ value: 'ghp_very_secret_value' });
    expect(puts[0]?.headers.get('x-csrf-token')).toBe('csrf-abc');
    expect(values.get('GITHUB_TOKEN')).toBe('ghp_very_secret_value');

    expect(
      within(secrets)
        .getAllByRole('listitem')
        .map((li) => li.querySelector('.font-mono')?.textContent),
    ).toEqual(['ANTHROPIC_API_KEY', 'GITHUB_TOKEN']);
    expect(screen.getByRole('status').textContent).toContain('Saved GITHUB_TOKEN');
    expect(value.value).toBe('');
    expect(pageShows('ghp_very_secret_value')).toBe(false);
    // The list came from the PUT's answer; no value-bearing request was ever made for display.
    expect(calls(requests, 'GET', '/api/secrets')).toHaveLength(1);
  });

  it('refuses a name the server would refuse, with the server schema’s words, and sends nothing', async () => {
    const { requests } = renderSettings();
    await screen.findByRole('list', { name: 'Stored secrets' });
    const form = screen.getByRole('form', { name: 'Store a secret' });
    fireEvent.change(within(form).getByLabelText('Name'), { target: { value: 'github-token' } });
    fireEvent.change(within(form).getByLabelText('Value'), { target: { value: 'x' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Save secret' }));
    expect(within(form).getByRole('alert').textContent).toContain(
      'A secret name is an environment variable name in capitals.',
    );
    expect(requests.some((r) => r.method === 'PUT')).toBe(false);
  });

  it('replaces an existing secret and deletes one only after confirmation', async () => {
    const { requests, values } = renderSettings();
    fireEvent.click(await screen.findByRole('button', { name: 'Replace ANTHROPIC_API_KEY' }));
    const form = screen.getByRole('form', { name: 'Store a secret' });
    expect((within(form).getByLabelText('Name') as HTMLInputElement).value).toBe('ANTHROPIC_API_KEY');
    fireEvent.change(within(form).getByLabelText('Value'), { target: { value: 'sk-ant-new' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Replace secret' }));
    await screen.findByText(/Saved ANTHROPIC_API_KEY/);
    expect(values.get('ANTHROPIC_API_KEY')).toBe('sk-ant-new');

    fireEvent.click(screen.getByRole('button', { name: 'Delete ANTHROPIC_API_KEY' }));
    const dialog = await screen.findByRole('dialog');
    expect(within(dialog).getByText(/no longer get it/)).toBeTruthy();
    expect(requests.some((r) => r.method === 'DELETE')).toBe(false);
    fireEvent.click(within(dialog).getByRole('button', { name: 'Delete secret' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(calls(requests, 'DELETE', '/api/secrets/ANTHROPIC_API_KEY')).toHaveLength(1);
    await screen.findByText('No secrets yet');
  });

  it('creates an API token and shows it once, with a copy button', async () => {
    const written: string[] = [];
    Object.defineProperty(navigator, 'clipboard', {
      configurable: true,
      value: { writeText: async (text: string) => void written.push(text) },
    });
    const { requests } = renderSettings();
    const tokens = await screen.findByRole('list', { name: 'API tokens' });
    expect(within(tokens).getByText('server login')).toBeTruthy();
    expect(within(tokens).getByText('rct_ab12cd…')).toBeTruthy();
    expect(within(tokens).getByText(/never used/)).toBeTruthy();

    const form = screen.getByRole('form', { name: 'Create an API token' });
    fireEvent.change(within(form).getByLabelText('Token name'), { target: { value: '  laptop CLI ' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Create token' }));

    const shown = await screen.findByRole('region', { name: 'New API token' });
    expect(calls(requests, 'POST', '/api/tokens')[0]?.body).toEqual({ name: 'laptop CLI' });
    expect(within(shown).getByText(/you will not see it again/)).toBeTruthy();
    const token = 'rct_zz99yyTHE-WHOLE-TOKEN-shown-only-once-000000';
    expect((within(shown).getByLabelText('New token') as HTMLInputElement).value).toBe(token);
    expect(within(tokens).getByText('laptop CLI')).toBeTruthy();

    fireEvent.click(within(shown).getByRole('button', { name: 'Copy' }));
    await within(shown).findByRole('button', { name: 'Copied' });
    expect(written).toEqual([token]);

    fireEvent.click(within(shown).getByRole('button', { name: 'Done' }));
    expect(screen.queryByRole('region', { name: 'New API token' })).toBeNull();
    expect(pageShows(token)).toBe(false);
    expect(within(tokens).getByText('laptop CLI')).toBeTruthy();
  });

  it('revokes a token only after confirmation', async () => {
    const { requests } = renderSettings(admin, [
      route('DELETE', '/api/tokens/tok1', () => new Response(null, { status: 204 })),
    ]);
    fireEvent.click(await screen.findByRole('button', { name: 'Revoke server login' }));
    const dialog = await screen.findByRole('dialog');
    expect(requests.some((r) => r.method === 'DELETE')).toBe(false);
    fireEvent.click(within(dialog).getByRole('button', { name: 'Revoke token' }));
    await screen.findByText('No API tokens');
    expect(calls(requests, 'DELETE', '/api/tokens/tok1')).toHaveLength(1);
  });

  it('lists the devices that get notifications, changes what one hears about, and sends it a test', async () => {
    const { requests } = renderSettings(admin, [
      route('PUT', '/api/push/subscriptions/sub1phone', (r) =>
        json({
          id: 'sub1phone',
          endpoint: 'https://push.example.com/s/1',
          label: 'Chrome on Android',
          kinds: (r.body as { kinds: string[] }).kinds,
          createdAt: '2025-01-01T00:00:00.000Z',
          lastSentAt: null,
        }),
      ),
      route('POST', '/api/push/subscriptions/sub1phone/test', () =>
        json({ delivered: true, status: 201, removed: false }),
      ),
    ]);
    const devices = await screen.findByRole('list', { name: 'Notification devices' });
    expect(within(devices).getByText('Chrome on Android')).toBeTruthy();
    const finished = within(devices).getByRole('checkbox', { name: 'Finished' }) as HTMLInputElement;
    expect(finished.checked).toBe(false);
    fireEvent.click(finished);
    await waitFor(() => expect(calls(requests, 'PUT', '/api/push/subscriptions/sub1phone')).toHaveLength(1));
    expect(calls(requests, 'PUT', '/api/push/subscriptions/sub1phone')[0]?.body).toEqual({
      kinds: ['waiting', 'failed', 'finished'],
    });
    fireEvent.click(within(devices).getByRole('button', { name: 'Send a test' }));
    await screen.findByText('Test sent to Chrome on Android.');
    // jsdom has no service workers: the page says this browser cannot subscribe instead of offering to.
    expect(within(section('Notifications')).getByText('This browser has no service workers.')).toBeTruthy();
  });

  it('shows administrators the users, and adds one', async () => {
    const { requests } = renderSettings(admin);
    const users = await screen.findByRole('list', { name: 'Users' });
    expect(within(users).getByText('grace')).toBeTruthy();
    expect(within(users).getByText('(you)').parentElement?.textContent).toContain('ada');

    const form = screen.getByRole('form', { name: 'Add a user' });
    fireEvent.change(within(form).getByLabelText('Username'), { target: { value: 'Bob' } });
    fireEvent.change(within(form).getByLabelText('Password'), { target: { value: 'long enough' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Add user' }));
    expect(within(form).getByRole('alert').textContent).toMatch(/A username is 2 to 32 lowercase letters/);

    fireEvent.change(within(form).getByLabelText('Username'), { target: { value: 'bob' } });
    fireEvent.change(within(form).getByLabelText('Role'), { target: { value: 'admin' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Add user' }));
    await within(users).findByText('bob');
    expect(calls(requests, 'POST', '/api/users').map((r) => r.body)).toEqual([
      { username: 'bob', password: 'long enough', role: 'admin' },
    ]);
    expect((within(form).getByLabelText('Password') as HTMLInputElement).value).toBe('');
  });

  it('shows no users panel to someone who is not an administrator, and never asks for the users', async () => {
    const { requests } = renderSettings(member);
    await screen.findByRole('list', { name: 'Stored secrets' });
    await screen.findByRole('list', { name: 'API tokens' });
    expect(screen.getByText(/Signed in as grace/)).toBeTruthy();
    expect(screen.queryByRole('region', { name: 'Users' })).toBeNull();
    expect(screen.queryByRole('form', { name: 'Add a user' })).toBeNull();
    expect(calls(requests, 'GET', '/api/users')).toHaveLength(0);
  });

  it('says why a list could not load, with the app’s error wording and a retry', async () => {
    renderSettings(admin, [
      route('GET', '/api/secrets', () => json({ error: { code: 'INTERNAL', message: 'database down' } }, 500)),
    ]);
    const secrets = section('Secrets');
    await within(secrets).findByText('Could not load your secrets');
    expect(within(secrets).getByText('Database down.')).toBeTruthy();
    expect(within(secrets).getByRole('button', { name: 'Try again' })).toBeTruthy();
    // The other panels still work.
    await screen.findByRole('list', { name: 'API tokens' });
  });
});

describe('the Settings link', () => {
  afterEach(() => window.history.replaceState(null, '', '/'));

  it('opens the settings page from the header of any page', async () => {
    window.history.replaceState(null, '', '/');
    const server = fakeServer(member);
    const { fetch } = createFakeFetch([
      ...server.routes,
      route('GET', '/api/tasks', () => json({ tasks: [] })),
      route('GET', '/api/usage', () => json({ error: { code: 'INTERNAL', message: 'not in this test' } }, 500)),
    ]);
    render(
      <App
        dependencies={{
          api: new ApiClient({ fetch }),
          createSocket: () => new FakeSocket().asClientSocket(),
          storage: null,
        }}
        queryClient={new QueryClient({ defaultOptions: { queries: { retry: false } } })}
        loginToken={null}
      />,
    );
    await screen.findByRole('heading', { name: 'Tasks' });
    fireEvent.click(screen.getByRole('link', { name: 'Settings' }));
    await screen.findByRole('heading', { name: 'Settings', level: 1 });
    expect(window.location.pathname).toBe('/settings');
    expect(screen.getByRole('link', { name: 'Settings' }).getAttribute('aria-current')).toBe('page');
    await screen.findByRole('list', { name: 'Stored secrets' });
  });
});
