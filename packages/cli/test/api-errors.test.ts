/**
 * What the CLI makes of a failed request, through its REST client: exit code 4 for every UNAUTHENTICATED
 * (the server's own and a reverse proxy's HTML 401 page alike), a hint when the server cannot be reached.
 */
import { describe as describeSuite, expect, it } from 'vitest';
import { ApiClient } from '../src/api.js';
import { describe } from '../src/describe-error.js';
import { EXIT } from '../src/errors.js';

async function failure(answer: () => Promise<Response>): Promise<ReturnType<typeof describe>> {
  const api = new ApiClient('http://127.0.0.1:9', 'rct_x', answer);
  const error = await api.listTasks().catch((e: unknown) => e);
  return describe(error);
}

describeSuite('CLI errors from the REST client', () => {
  it('exits 4 with the login hint for a reverse proxy non-JSON 401, as for the server own', async () => {
    const proxy = await failure(async () => new Response('<html>Sign in</html>', { status: 401 }));
    expect(proxy.exitCode).toBe(EXIT.auth);
    expect(proxy.hint).toMatch(/rclaude login/);
    const own = await failure(async () =>
      Response.json({ error: { code: 'UNAUTHENTICATED', message: 'the token is not valid' } }, { status: 401 }),
    );
    expect(own).toMatchObject({ exitCode: EXIT.auth, message: 'the token is not valid' });
  });

  it('exits 1 naming the server and how to start it when nothing answers', async () => {
    const down = await failure(() =>
      Promise.reject(new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } })),
    );
    expect(down).toMatchObject({
      exitCode: EXIT.error,
      message: 'cannot reach the rclaude server at http://127.0.0.1:9 (ECONNREFUSED)',
    });
    expect(down.hint).toMatch(/rclaude server/);
  });

  it('exits 1 for a 502 page from a proxy, with its status in the message', async () => {
    const gateway = await failure(
      async () => new Response('<html>502</html>', { status: 502, statusText: 'Bad Gateway' }),
    );
    expect(gateway).toMatchObject({ exitCode: EXIT.error, message: 'the server answered 502 Bad Gateway' });
  });
});
