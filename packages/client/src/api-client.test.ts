import { AppError } from '@rclaude/protocol';
import { describe, expect, it } from 'vitest';
import { ApiClient, ApiNetworkError, type FetchLike, isNetworkError, UnexpectedResponseError } from './api-client.js';

interface Seen {
  url: string;
  init: RequestInit;
}

const headersOf = (s: Seen | undefined) => (s?.init.headers ?? {}) as Record<string, string>;

function fakeFetch(answer: (url: string, init: RequestInit) => Response | Promise<Response>): {
  fetch: FetchLike;
  seen: Seen[];
} {
  const seen: Seen[] = [];
  return {
    seen,
    fetch: async (url, init = {}) => {
      seen.push({ url, init });
      return answer(url, init);
    },
  };
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

const user = { id: 'u1', username: 'ada', role: 'admin', createdAt: '2025-01-01T00:00:00.000Z' };

describe('ApiClient requests', () => {
  it('builds the path, query and JSON body from the route table and sends the bearer token', async () => {
    const { fetch, seen } = fakeFetch(() => json({ events: [] }));
    const api = new ApiClient({ baseUrl: 'http://127.0.0.1:9/', fetch, token: 'rct_x' });
    await expect(api.listTaskEvents('ab 12', 7)).resolves.toEqual([]);
    expect(seen[0]?.url).toBe('http://127.0.0.1:9/api/tasks/ab%2012/events?after=7');
    expect(seen[0]?.init.method).toBe('GET');
    expect(headersOf(seen[0]).authorization).toBe('Bearer rct_x');

    const created = fakeFetch(() => json(user, 201));
    await new ApiClient({ fetch: created.fetch, token: 't' }).call('createUser', {
      body: { username: 'bob', password: '12345678' },
    });
    expect(created.seen[0]?.url).toBe('/api/users');
    expect(created.seen[0]?.init.body).toBe('{"username":"bob","password":"12345678"}');
    expect(headersOf(created.seen[0])['content-type']).toBe('application/json');
  });

  it('in cookie mode sends the CSRF token on mutating requests only, and no Authorization', async () => {
    const { fetch, seen } = fakeFetch((url) => (url.endsWith('/stop') ? json(null, 500) : json({ tasks: [] })));
    const api = new ApiClient({ fetch });
    api.setCsrfToken('csrf-1');
    await api.listTasks({ all: true, limit: 5 });
    await api.stopTask('t1').catch(() => undefined);
    const headers = seen.map(headersOf);
    expect(seen[0]?.url).toBe('/api/tasks?limit=5&all=true');
    expect(headers[0]?.['x-csrf-token']).toBeUndefined();
    expect(headers[1]?.['x-csrf-token']).toBe('csrf-1');
    expect(headers.every((h) => h.authorization === undefined)).toBe(true);
    expect(seen.every((s) => s.init.credentials === 'same-origin')).toBe(true);
  });

  it('sends force only when stopping by force, and the checkpoint to resume from', async () => {
    const task = { error: { code: 'NOT_FOUND', message: 'no task' } };
    const { fetch, seen } = fakeFetch(() => json(task, 404));
    const api = new ApiClient({ fetch, token: 't' });
    await api.stopTask('t1').catch(() => undefined);
    await api.stopTask('t1', { force: true }).catch(() => undefined);
    await api.resumeTask('t1', { at: 'cp_abcdefgh' }).catch(() => undefined);
    expect(seen.map((s) => [s.init.method, s.url, s.init.body])).toEqual([
      ['POST', '/api/tasks/t1/stop', undefined],
      ['POST', '/api/tasks/t1/stop', '{"force":true}'],
      ['POST', '/api/tasks/t1/resume', '{"at":"cp_abcdefgh"}'],
    ]);
  });

  it('answers undefined for a 204 route and the Response itself for a non-JSON answer', async () => {
    const { fetch } = fakeFetch((url) =>
      url.includes('/files/content') ? new Response('bytes', { status: 200 }) : new Response(null, { status: 204 }),
    );
    const api = new ApiClient({ fetch, token: 't' });
    await expect(api.deleteTask('t1')).resolves.toBeUndefined();
    const res = await api.call('readFile', { params: { id: 't1' }, query: { path: 'a.txt' } });
    expect(await res.text()).toBe('bytes');
  });
});

describe('ApiClient answers and errors', () => {
  it('parses answers with the route schema: a body that does not match fails clearly, naming the route and field', async () => {
    const { fetch } = fakeFetch(() => json({ ...user, role: 'root' }));
    const error = await new ApiClient({ fetch, token: 't' }).me().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnexpectedResponseError);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('INTERNAL');
    expect((error as Error).message).toMatch(/^unexpected answer to me \(GET \/api\/me\): role: /);

    const html = fakeFetch(() => new Response('<html>sign in</html>', { status: 200 }));
    await expect(new ApiClient({ fetch: html.fetch, token: 't' }).me()).rejects.toThrow(/me .*not JSON/);

    const ok = fakeFetch(() => json({ ...user, extra: 'ignored' }));
    await expect(new ApiClient({ fetch: ok.fetch, token: 't' }).me()).resolves.toEqual(user);
  });

  it("maps the server's error body to an AppError with its code, message and details", async () => {
    const { fetch } = fakeFetch(() =>
      json({ error: { code: 'BUDGET_EXCEEDED', message: 'over budget', details: { budgetUsd: 5 } } }, 402),
    );
    const error = await new ApiClient({ fetch, token: 't' }).createTask({}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'BUDGET_EXCEEDED', message: 'over budget', details: { budgetUsd: 5 } });
  });

  it('maps an answer that is not the error shape (a reverse proxy page) from its status', async () => {
    const answers: Record<string, Response> = {
      '/api/tasks/a502': new Response('<html>Bad Gateway</html>', { status: 502, statusText: 'Bad Gateway' }),
      '/api/tasks/a401': new Response('<html>Sign in with SSO</html>', { status: 401 }),
      '/api/tasks/a404': new Response('nope', { status: 404 }),
      '/api/tasks/a429': json({ error: { code: 'NOT_A_CODE', message: 'x' } }, 429),
    };
    const { fetch } = fakeFetch((url) => answers[url] ?? json(null, 500));
    const api = new ApiClient({ fetch, token: 't' });
    await expect(api.getTask('a502')).rejects.toMatchObject({
      code: 'INTERNAL',
      message: 'the server answered 502 Bad Gateway',
      details: { status: 502, body: '<html>Bad Gateway</html>' },
    });
    await expect(api.getTask('a401')).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    await expect(api.getTask('a404')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(api.getTask('a429')).rejects.toMatchObject({ code: 'RATE_LIMITED' });
  });

  it('reports a request that got no answer as a network error, distinct from every server answer', async () => {
    const api = new ApiClient({
      baseUrl: 'http://127.0.0.1:9',
      fetch: () => Promise.reject(new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } })),
    });
    const error = await api.me().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiNetworkError);
    expect(error).not.toBeInstanceOf(AppError);
    expect(isNetworkError(error)).toBe(true);
    expect((error as Error).message).toBe('cannot reach the rclaude server at http://127.0.0.1:9 (ECONNREFUSED)');
    expect(isNetworkError(new AppError('INTERNAL', 'other'))).toBe(false);
  });

  it('gives up with TIMEOUT after timeoutMs', async () => {
    const api = new ApiClient({
      timeoutMs: 20,
      fetch: (_url, init) =>
        new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason))),
    });
    await expect(api.me()).rejects.toMatchObject({ code: 'TIMEOUT' });
  });
});
