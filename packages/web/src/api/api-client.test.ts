import { AppError } from '@rclaude/protocol';
import { describe, expect, it } from 'vitest';
import { createFakeFetch, json, route } from '../test/fake-fetch.js';
import { makeTask } from '../test/fixtures.js';
import { ApiClient, isNetworkError } from './api-client.js';
import { describeError } from './describe-error.js';

describe('ApiClient error handling', () => {
  it('turns the server error body into an AppError with its code, message and details', async () => {
    const { fetch } = createFakeFetch([
      route('POST', '/api/tasks', () =>
        json(
          {
            error: {
              code: 'BAD_REQUEST',
              message: 'invalid request: name: too long',
              details: { issues: [{ path: 'name' }] },
            },
          },
          400,
        ),
      ),
    ]);
    const api = new ApiClient({ fetch });
    const error = await api.createTask({ name: 'x' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({
      code: 'BAD_REQUEST',
      message: 'invalid request: name: too long',
      details: { issues: [{ path: 'name' }] },
    });
    expect(describeError(error).message).toBe('Invalid request: name: too long.');
  });

  it('maps a body that is not the error shape (a proxy page) from its HTTP status', async () => {
    const { fetch } = createFakeFetch([
      route(
        'GET',
        '/api/tasks',
        () => new Response('<html>Bad Gateway</html>', { status: 502, statusText: 'Bad Gateway' }),
      ),
      route('GET', '/api/tasks/gone', () => new Response('nope', { status: 404 })),
      route('GET', '/api/tasks/odd', () => json({ error: { code: 'NOT_A_CODE', message: 'x' } }, 429)),
    ]);
    const api = new ApiClient({ fetch });
    const badGateway = await api.listTasks().catch((e: unknown) => e);
    expect(badGateway).toMatchObject({ code: 'INTERNAL', message: 'the server answered 502 Bad Gateway' });
    expect(describeError(badGateway).message).toBe('The server answered 502 Bad Gateway.');
    await expect(api.getTask('gone')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(api.getTask('odd')).rejects.toMatchObject({ code: 'RATE_LIMITED' });
  });

  it('says the server cannot be reached when fetch itself fails', async () => {
    const api = new ApiClient({
      fetch: () => Promise.reject(new TypeError('Failed to fetch')),
    });
    const error = await api.listTasks().catch((e: unknown) => e);
    expect(isNetworkError(error)).toBe(true);
    expect(describeError(error).message).toMatch(/Cannot reach the rclaude server/);
    expect(isNetworkError(new AppError('INTERNAL', 'other'))).toBe(false);
  });

  it('reads a missing browser session as signed out, and other failures as errors', async () => {
    const signedOut = new ApiClient({
      fetch: createFakeFetch([
        route('GET', '/api/auth/session', () => json({ error: { code: 'UNAUTHENTICATED', message: 'sign in' } }, 401)),
      ]).fetch,
    });
    await expect(signedOut.getSession()).resolves.toBeNull();

    const broken = new ApiClient({
      fetch: createFakeFetch([
        route('GET', '/api/auth/session', () => json({ error: { code: 'INTERNAL', message: 'db down' } }, 500)),
      ]).fetch,
    });
    await expect(broken.getSession()).rejects.toMatchObject({ code: 'INTERNAL' });
  });

  it('gives advice a person can act on', () => {
    expect(describeError(new AppError('UNAUTHENTICATED', 'no session')).advice).toBe('Sign in again.');
    expect(describeError(new AppError('AGENT_UNAVAILABLE', 'agent gone')).advice).toMatch(/still be starting/);
    expect(describeError('weird')).toEqual({ message: 'Something went wrong.', advice: 'Try again.' });
  });
});

describe('ApiClient requests', () => {
  it('sends the CSRF token from the session on mutating requests only', async () => {
    const { fetch, requests } = createFakeFetch([
      route('POST', '/api/auth/session', () =>
        json({ user: { id: 'u', username: 'a', role: 'user', createdAt: '' }, csrfToken: 'csrf-1' }),
      ),
      route('GET', '/api/tasks', () => json({ tasks: [] })),
      route('POST', '/api/tasks/t1/stop', () => json(makeTask({ id: 't1', status: 'stopping' }))),
      route('DELETE', '/api/auth/session', () => new Response(null, { status: 204 })),
    ]);
    const api = new ApiClient({ fetch });
    await api.createSession('tok');
    await api.listTasks({ status: 'running', q: 'x y', limit: 5 });
    await api.stopTask('t1');
    await api.signOut();

    expect(requests[0]?.body).toEqual({ token: 'tok' });
    expect(requests[1]?.url).toBe('/api/tasks?status=running&q=x+y&limit=5');
    expect(requests[1]?.headers.get('x-csrf-token')).toBeNull();
    expect(requests[2]?.headers.get('x-csrf-token')).toBe('csrf-1');
    expect(requests[3]?.headers.get('x-csrf-token')).toBe('csrf-1');
  });

  it('reads a capped file with its full size, and builds file URLs with encoded paths', async () => {
    const { fetch, requests } = createFakeFetch([
      route('GET', '/api/tasks/t1/files/content', () => new Response('abc', { headers: { 'x-file-size': '9000' } })),
    ]);
    const api = new ApiClient({ fetch });
    const file = await api.readFile('t1', 'dir/a b&c.txt', 3);
    expect(new TextDecoder().decode(file.bytes)).toBe('abc');
    expect(file.size).toBe(9000);
    expect(requests[0]?.url).toBe('/api/tasks/t1/files/content?path=dir%2Fa+b%26c.txt&length=3');
    expect(api.fileDownloadUrl('t1', 'x/y.txt')).toBe('/api/tasks/t1/files/download?path=x%2Fy.txt');
  });

  it('uploads files as multipart under the field name file', async () => {
    const { fetch, requests } = createFakeFetch([
      route('POST', '/api/tasks/t1/files/upload', () => json({ files: [{ path: 'd/a.txt', size: 2 }] })),
    ]);
    const api = new ApiClient({ fetch });
    const written = await api.uploadFiles('t1', 'd', [new File(['hi'], 'a.txt')]);
    expect(written).toEqual([{ path: 'd/a.txt', size: 2 }]);
    const form = requests[0]?.body as FormData;
    expect(form).toBeInstanceOf(FormData);
    expect((form.get('file') as File).name).toBe('a.txt');
    expect(requests[0]?.url).toBe('/api/tasks/t1/files/upload?dir=d');
  });
});
