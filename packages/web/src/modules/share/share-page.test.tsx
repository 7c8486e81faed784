import type { ShareView, TaskEvent } from '@rclaude/protocol';
import { render, screen, waitFor } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { ApiClient } from '../../api/api-client.js';
import { AppDependenciesProvider } from '../../app-context.js';
import { createFakeFetch, json, type RecordedRequest, route } from '../../test/fake-fetch.js';
import { FakeSocket } from '../../test/fake-socket.js';
import { ThemeProvider } from '../theme/theme.js';
import { SharePage } from './share-page.js';

// The terminal itself (xterm) is exercised in Chromium by e2e/share.test.ts; here it only shows it was asked for.
vi.mock('../terminal/terminal.js', () => ({
  Terminal: (props: { readOnly: boolean; label: string }) => (
    <section data-testid="terminal" data-readonly={String(props.readOnly)} aria-label={props.label} />
  ),
}));

const ID = 'sh_abcdefghijklmnop';
const SECRET = 'S'.repeat(43);

function event(seq: number, message: string): TaskEvent {
  return { seq, taskId: 'abcd1234', type: 'info', at: '2026-01-01T12:00:00.000Z', data: { message } };
}

const view: ShareView = {
  shareId: ID,
  kind: 'view',
  expiresAt: '2026-01-02T12:00:00.000Z',
  task: { name: 'release build', status: 'running', mainSessionId: 'abcd1234_main' },
  events: [event(1, 'first step')],
};

function renderShare(answers: Response[], secret: string | null = SECRET) {
  const socket = new FakeSocket();
  const { fetch, requests } = createFakeFetch([
    route('POST', `/api/share/${ID}/view`, () => answers.shift() ?? json(view)),
  ]);
  const api = new ApiClient({ fetch });
  render(
    <AppDependenciesProvider value={{ api, createSocket: () => socket.asClientSocket(), storage: null }}>
      <ThemeProvider storage={null}>
        <SharePage api={api} credential={{ shareId: ID, secret }} createSocket={() => socket.asClientSocket()} />
      </ThemeProvider>
    </AppDependenciesProvider>,
  );
  return { socket, requests };
}

const refusal = (reason: string) =>
  json({ error: { code: 'UNAUTHENTICATED', message: `link ${reason}`, details: { reason } } }, 401);

describe('SharePage', () => {
  it('shows the task read-only under a banner, with its timeline growing live; the secret goes in the body', async () => {
    const { socket, requests } = renderShare([json(view)]);
    await screen.findByTestId('share-banner');
    expect(screen.getByTestId('share-task-name').textContent).toBe('release build');
    expect((await screen.findByTestId('terminal')).getAttribute('data-readonly')).toBe('true');
    expect(screen.getByText('first step')).toBeTruthy();
    const asked = requests[0] as RecordedRequest;
    expect(asked.body).toEqual({ secret: SECRET });
    expect(asked.url).not.toContain(SECRET);
    expect(socket.connected).toBe(true);

    socket.serverEmit('task:event', event(2, 'second step'));
    socket.serverEmit('task:event', event(2, 'second step'));
    await screen.findByText('second step');
    expect(screen.getAllByText('second step')).toHaveLength(1);
    socket.serverEmit('share:task', { name: 'release build', status: 'succeeded' });
    await waitFor(() => expect(document.querySelector('[data-status="succeeded"]')).not.toBeNull());
  });

  it.each(['expired', 'revoked', 'invalid'] as const)(
    'says so for a %s link, showing nothing of the task',
    async (reason) => {
      renderShare([refusal(reason)]);
      const refused = await screen.findByTestId('share-refused');
      expect(refused.getAttribute('data-reason')).toBe(reason);
      expect(screen.queryByTestId('terminal')).toBeNull();
    },
  );

  it('asks nothing of the server for a link without its secret', async () => {
    const { requests } = renderShare([], null);
    expect((await screen.findByTestId('share-refused')).getAttribute('data-reason')).toBe('invalid');
    expect(requests).toEqual([]);
  });

  it('learns why when the server cuts the viewer off', async () => {
    const { socket } = renderShare([json(view), refusal('revoked')]);
    await screen.findByTestId('share-banner');
    socket.connected = false;
    socket.serverEmit('disconnect', 'io server disconnect');
    expect((await screen.findByTestId('share-refused')).getAttribute('data-reason')).toBe('revoked');
  });
});
