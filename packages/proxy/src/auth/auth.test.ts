import { createHash, randomBytes } from 'node:crypto';
import type { User } from '@rclaude/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuthHarness, request, startAuthHarness, type TestResponse } from '../../test/auth-harness.js';
import { createAuth } from './create-auth.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

function expectError(res: TestResponse, status: number, code: string): void {
  expect(res.status, res.text).toBe(status);
  expect(res.body).toEqual({ error: expect.objectContaining({ code, message: expect.any(String) }) });
}

/** The `rclaude_session` cookie a response sets, as `name=value` for a Cookie header, and its attributes. */
function sessionCookie(res: TestResponse): { cookie: string; value: string; attributes: string } {
  const header = res.headers.getSetCookie().find((c) => c.startsWith('rclaude_session='));
  if (!header) throw new Error(`no session cookie in ${JSON.stringify(res.headers.getSetCookie())}`);
  const [pair = '', ...attributes] = header.split(';').map((s) => s.trim());
  return { cookie: pair, value: pair.slice('rclaude_session='.length), attributes: attributes.join('; ') };
}

describe.each(['postgres', 'embedded'] as const)('auth over HTTP (%s database)', (kind) => {
  let h: AuthHarness;
  let admin: User;
  let adminToken: string;

  // Every request in this suite comes from 127.0.0.1, so the per-address allowance is raised here; the
  // flood suite below tests it with small numbers.
  beforeAll(async () => {
    h = await startAuthHarness({
      kind,
      publicOrigins: ['http://localhost:5173'],
      loginLimits: { freePerAddress: 10_000 },
    });
    admin = await h.auth.ensureAdmin();
    adminToken = await h.auth.issueToken(admin.id, 'suite');
  });
  afterAll(async () => {
    await h?.close();
  });

  /** A fresh one-time login link token for `userId`: what `/api/auth/session` takes from a link. */
  const link = async (userId: string) => (await h.auth.issueLoginLink(userId)).token;

  /** Creates a user through the API (as admin) and signs in as them. */
  async function makeUser(prefix: string): Promise<{ user: User; token: string; password: string }> {
    const username = `${prefix}${randomBytes(3).toString('hex')}`;
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const created = await request(h, 'POST', '/api/users', { token: adminToken, body: { username, password } });
    expect(created.status, created.text).toBe(201);
    const login = await request(h, 'POST', '/api/auth/login', { body: { username, password } });
    expect(login.status, login.text).toBe(200);
    return { user: created.body, token: login.body.token, password };
  }

  describe('authentication', () => {
    it('refuses every protected route without credentials, with the error shape', async () => {
      for (const [method, path] of [
        ['GET', '/api/me'],
        ['GET', '/api/users'],
        ['GET', '/api/tokens'],
        ['GET', '/api/secrets'],
        ['GET', '/api/auth/session'],
        ['GET', '/api/whoami'],
        ['POST', '/api/boom'],
      ] as const) {
        expectError(await request(h, method, path), 401, 'UNAUTHENTICATED');
      }
    });

    it('refuses a wrong, malformed, non-Bearer or query-string token', async () => {
      const forged = `rct_${randomBytes(32).toString('base64url')}`;
      expectError(await request(h, 'GET', '/api/me', { token: forged }), 401, 'UNAUTHENTICATED');
      expectError(await request(h, 'GET', '/api/me', { token: 'not-a-token' }), 401, 'UNAUTHENTICATED');
      expectError(await request(h, 'GET', '/api/me', { token: `${adminToken}x` }), 401, 'UNAUTHENTICATED');
      expectError(
        await request(h, 'GET', '/api/me', { headers: { authorization: `Basic ${adminToken}` } }),
        401,
        'UNAUTHENTICATED',
      );
      expectError(await request(h, 'GET', `/api/me?token=${adminToken}`), 401, 'UNAUTHENTICATED');
    });

    it('accepts a valid token, sets res.locals.auth and records the time of use', async () => {
      const res = await request(h, 'GET', '/api/whoami', { headers: { authorization: `bearer ${adminToken}` } });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ userId: admin.id, username: 'admin', role: 'admin', via: 'token' });
      const me = await request(h, 'GET', '/api/me', { token: adminToken });
      expect(me.body).toEqual(admin);
      const tokens = await request(h, 'GET', '/api/tokens', { token: adminToken });
      const suite = tokens.body.tokens.find((t: { name: string }) => t.name === 'suite');
      expect(suite.lastUsedAt).toBe(new Date(h.clock.now()).toISOString());
    });

    it('ensureAdmin is idempotent and safe when several proxies start at once', async () => {
      const second = createAuth({
        db: h.db.pool,
        redis: null,
        logger: (await import('pino')).pino({ level: 'silent' }),
        secretKey: Buffer.alloc(32, 7),
        publicOrigins: [],
        cookieSecure: false,
      });
      const admins = await Promise.all([h.auth.ensureAdmin(), second.ensureAdmin(), h.auth.ensureAdmin()]);
      expect(admins.map((a) => a.id)).toEqual([admin.id, admin.id, admin.id]);
      const { rows } = await h.db.pool.query("SELECT count(*)::int AS n FROM users WHERE username = 'admin'");
      expect(rows[0].n).toBe(1);
    });
  });

  describe('API tokens', () => {
    it('are rct_-prefixed, shown once, stored as a sha256 hash, and die when revoked', async () => {
      const created = await request(h, 'POST', '/api/tokens', { token: adminToken, body: { name: 'ci' } });
      expect(created.status).toBe(201);
      const { token, info } = created.body;
      expect(token).toMatch(/^rct_[A-Za-z0-9_-]{43}$/);
      expect(info).toMatchObject({ name: 'ci', prefix: token.slice(0, 10), lastUsedAt: null });

      const listed = await request(h, 'GET', '/api/tokens', { token: adminToken });
      expect(listed.text).not.toContain(token);
      expect(listed.body.tokens.find((t: { id: string }) => t.id === info.id)).toEqual(info);

      const { rows } = await h.db.pool.query('SELECT * FROM api_tokens WHERE id = $1', [info.id]);
      expect(rows[0].token_hash).toBe(sha256(token));
      expect(JSON.stringify(rows[0])).not.toContain(token.slice(10));

      expect((await request(h, 'GET', '/api/me', { token })).status).toBe(200);
      expect((await request(h, 'DELETE', `/api/tokens/${info.id}`, { token: adminToken })).status).toBe(204);
      expectError(await request(h, 'GET', '/api/me', { token }), 401, 'UNAUTHENTICATED');
      expect(await h.auth.verifyToken(token)).toBeNull();
      expectError(await request(h, 'DELETE', `/api/tokens/${info.id}`, { token: adminToken }), 404, 'NOT_FOUND');
    });

    it("cannot revoke another user's token: NOT_FOUND, like a missing one", async () => {
      const bob = await makeUser('bob');
      const bobs = await request(h, 'GET', '/api/tokens', { token: bob.token });
      const bobTokenId = bobs.body.tokens[0].id;
      expectError(await request(h, 'DELETE', `/api/tokens/${bobTokenId}`, { token: adminToken }), 404, 'NOT_FOUND');
      expect((await request(h, 'GET', '/api/me', { token: bob.token })).status).toBe(200);
    });
  });

  describe('users and passwords', () => {
    it('keeps admin-only routes from a user, and lets users change only their own password', async () => {
      const carol = await makeUser('carol');
      expect(carol.user.role).toBe('user');
      expectError(await request(h, 'GET', '/api/users', { token: carol.token }), 403, 'FORBIDDEN');
      expectError(
        await request(h, 'POST', '/api/users', {
          token: carol.token,
          body: { username: 'mallory', password: 'x'.repeat(12) },
        }),
        403,
        'FORBIDDEN',
      );
      expectError(
        await request(h, 'POST', '/api/users', {
          token: carol.token,
          body: { username: 'mallory', password: 'x'.repeat(12), role: 'admin' },
        }),
        403,
        'FORBIDDEN',
      );
      expectError(
        await request(h, 'PUT', `/api/users/${admin.id}/password`, {
          token: carol.token,
          body: { password: 'y'.repeat(12) },
        }),
        403,
        'FORBIDDEN',
      );

      const fresh = `new-${randomBytes(6).toString('hex')}`;
      const own = await request(h, 'PUT', `/api/users/${carol.user.id}/password`, {
        token: carol.token,
        body: { password: fresh },
      });
      expect(own.status).toBe(204);
      const oldLogin = await request(h, 'POST', '/api/auth/login', {
        body: { username: carol.user.username, password: carol.password },
      });
      expectError(oldLogin, 401, 'UNAUTHENTICATED');
      const newLogin = await request(h, 'POST', '/api/auth/login', {
        body: { username: carol.user.username, password: fresh },
      });
      expect(newLogin.status).toBe(200);

      const users = await request(h, 'GET', '/api/users', { token: adminToken });
      expect(users.body.users.map((u: User) => u.username)).toEqual(
        expect.arrayContaining(['admin', carol.user.username]),
      );
      const byAdmin = await request(h, 'PUT', `/api/users/${carol.user.id}/password`, {
        token: adminToken,
        body: { password: 'z'.repeat(12) },
      });
      expect(byAdmin.status).toBe(204);
      expectError(
        await request(h, 'PUT', '/api/users/nosuchuser1/password', {
          token: adminToken,
          body: { password: 'z'.repeat(12) },
        }),
        404,
        'NOT_FOUND',
      );
      expectError(
        await request(h, 'POST', '/api/users', {
          token: adminToken,
          body: { username: carol.user.username, password: 'q'.repeat(12) },
        }),
        409,
        'CONFLICT',
      );
    });

    it('stores passwords as argon2id hashes; admin starts with none', async () => {
      const dave = await makeUser('dave');
      const { rows } = await h.db.pool.query('SELECT username, password_hash FROM users WHERE id = ANY($1)', [
        [dave.user.id, admin.id],
      ]);
      const byName = Object.fromEntries(rows.map((r) => [r.username, r.password_hash]));
      expect(byName[dave.user.username]).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
      expect(byName[dave.user.username]).not.toContain(dave.password);
      expect(byName.admin).toBeNull();
    });

    it('answers a wrong password, an unknown user and a password-less admin alike', async () => {
      const erin = await makeUser('erin');
      const answers = await Promise.all([
        request(h, 'POST', '/api/auth/login', { body: { username: erin.user.username, password: 'wrong-password' } }),
        request(h, 'POST', '/api/auth/login', { body: { username: 'nobody-here', password: 'wrong-password' } }),
        request(h, 'POST', '/api/auth/login', { body: { username: 'admin', password: 'wrong-password' } }),
      ]);
      for (const res of answers) {
        expectError(res, 401, 'UNAUTHENTICATED');
        expect(res.body.error.message).toBe('wrong username or password');
      }
      const ok = await request(h, 'POST', '/api/auth/login', {
        body: { username: erin.user.username, password: erin.password },
      });
      expect(ok.body).toEqual({ token: expect.stringMatching(/^rct_/), user: erin.user });
      const listed = await request(h, 'GET', '/api/tokens', { token: ok.body.token });
      expect(listed.body.tokens.map((t: { name: string }) => t.name)).toContain('login from 127.0.0.1');
    });
  });

  describe('browser sessions', () => {
    it('exchange a login link for an httpOnly SameSite=Strict cookie stored hashed, with a CSRF token', async () => {
      const res = await request(h, 'POST', '/api/auth/session', { body: { token: await link(admin.id) } });
      expect(res.status, res.text).toBe(200);
      expect(res.body).toEqual({ user: admin, csrfToken: expect.any(String) });
      const { cookie, value, attributes } = sessionCookie(res);
      expect(attributes).toMatch(/HttpOnly/);
      expect(attributes).toMatch(/SameSite=Strict/);
      expect(attributes).toMatch(/Path=\//);
      expect(attributes).not.toMatch(/Secure/);
      expect(value).not.toBe(adminToken);
      const { rows } = await h.db.pool.query('SELECT id_hash FROM browser_sessions WHERE id_hash = $1', [
        sha256(value),
      ]);
      expect(rows).toHaveLength(1);

      const described = await request(h, 'GET', '/api/auth/session', { cookie });
      expect(described.body).toEqual(res.body);
      const whoami = await request(h, 'GET', '/api/whoami', { cookie });
      expect(whoami.body).toEqual({ userId: admin.id, username: 'admin', role: 'admin', via: 'cookie' });
    });

    it('refuse a mutating cookie request without the CSRF header, or with a wrong one', async () => {
      const first = await request(h, 'POST', '/api/auth/session', { body: { token: await link(admin.id) } });
      const other = await request(h, 'POST', '/api/auth/session', { body: { token: await link(admin.id) } });
      const { cookie } = sessionCookie(first);
      const body = { name: 'from-browser' };
      expectError(await request(h, 'POST', '/api/tokens', { cookie, body }), 403, 'FORBIDDEN');
      expectError(await request(h, 'POST', '/api/tokens', { cookie, csrf: 'x'.repeat(43), body }), 403, 'FORBIDDEN');
      expectError(
        await request(h, 'POST', '/api/tokens', { cookie, csrf: other.body.csrfToken, body }),
        403,
        'FORBIDDEN',
      );
      expectError(await request(h, 'PUT', '/api/secrets/X', { cookie, body: { value: 'v' } }), 403, 'FORBIDDEN');
      expectError(await request(h, 'DELETE', '/api/auth/session', { cookie }), 403, 'FORBIDDEN');
      const ok = await request(h, 'POST', '/api/tokens', { cookie, csrf: first.body.csrfToken, body });
      expect(ok.status).toBe(201);
    });

    it('end on sign-out and on expiry; a forged cookie is refused', async () => {
      const first = await request(h, 'POST', '/api/auth/session', { body: { token: await link(admin.id) } });
      const { cookie } = sessionCookie(first);
      const out = await request(h, 'DELETE', '/api/auth/session', { cookie, csrf: first.body.csrfToken });
      expect(out.status).toBe(204);
      expect(out.headers.getSetCookie().join()).toMatch(/rclaude_session=;/);
      expectError(await request(h, 'GET', '/api/me', { cookie }), 401, 'UNAUTHENTICATED');

      const second = await request(h, 'POST', '/api/auth/session', { body: { token: await link(admin.id) } });
      const live = sessionCookie(second).cookie;
      expect((await request(h, 'GET', '/api/me', { cookie: live })).status).toBe(200);
      h.clock.advance(7 * 24 * 3600_000 + 1);
      expectError(await request(h, 'GET', '/api/me', { cookie: live }), 401, 'UNAUTHENTICATED');

      const forged = `rclaude_session=${randomBytes(32).toString('base64url')}`;
      expectError(await request(h, 'GET', '/api/me', { cookie: forged }), 401, 'UNAUTHENTICATED');
      expectError(
        await request(h, 'POST', '/api/auth/session', {
          body: { token: `rct_${randomBytes(32).toString('base64url')}` },
        }),
        401,
        'UNAUTHENTICATED',
      );
    });

    it('GET /auth/session with a bearer token (no browser session) is UNAUTHENTICATED', async () => {
      expectError(await request(h, 'GET', '/api/auth/session', { token: adminToken }), 401, 'UNAUTHENTICATED');
    });
  });

  describe('origins', () => {
    it('refuses a request from a foreign browser Origin, whatever its credentials', async () => {
      const evil = 'http://evil.example';
      expectError(await request(h, 'GET', '/api/me', { token: adminToken, origin: evil }), 403, 'ORIGIN_REFUSED');
      expectError(
        await request(h, 'POST', '/api/auth/login', {
          origin: evil,
          body: { username: 'admin', password: 'whatever1' },
        }),
        403,
        'ORIGIN_REFUSED',
      );
      expectError(
        await request(h, 'POST', '/api/auth/session', { origin: 'null', body: { token: await link(admin.id) } }),
        403,
        'ORIGIN_REFUSED',
      );
      expect((await request(h, 'GET', '/api/me', { token: adminToken, origin: h.baseUrl })).status).toBe(200);
      expect((await request(h, 'GET', '/api/me', { token: adminToken, origin: 'http://localhost:5173' })).status).toBe(
        200,
      );
    });
  });

  describe('secrets', () => {
    it('are encrypted at rest, listed by name only, and handed decrypted only to the owner sandboxes', async () => {
      const frank = await makeUser('frank');
      const value = `sk-ant-api03-${randomBytes(24).toString('hex')}`;
      const put = await request(h, 'PUT', '/api/secrets/ANTHROPIC_API_KEY', { token: frank.token, body: { value } });
      expect(put.status).toBe(200);
      expect(put.body).toEqual({ name: 'ANTHROPIC_API_KEY', updatedAt: new Date(h.clock.now()).toISOString() });
      const listed = await request(h, 'GET', '/api/secrets', { token: frank.token });
      expect(listed.body).toEqual({ secrets: [put.body] });

      const { rows } = await h.db.pool.query('SELECT * FROM user_secrets WHERE user_id = $1', [frank.user.id]);
      expect(rows).toHaveLength(1);
      const row = rows[0];
      const ciphertext = Buffer.from(row.ciphertext);
      expect(Buffer.from(row.nonce)).toHaveLength(12);
      expect(row.key_id).toMatch(/^[0-9a-f]{16}$/);
      expect(ciphertext.length).toBe(Buffer.byteLength(value) + 16);
      expect(ciphertext.includes(Buffer.from(value))).toBe(false);
      expect(ciphertext.includes(Buffer.from(value.slice(-16)))).toBe(false);

      expect(await h.auth.secrets.forSandbox(frank.user.id)).toEqual({ ANTHROPIC_API_KEY: value });
      expect(await h.auth.secrets.forSandbox(admin.id)).not.toHaveProperty('ANTHROPIC_API_KEY');
      expect((await request(h, 'GET', '/api/secrets', { token: adminToken })).text).not.toContain('ANTHROPIC_API_KEY');

      const replaced = `${value}-rotated`;
      await request(h, 'PUT', '/api/secrets/ANTHROPIC_API_KEY', { token: frank.token, body: { value: replaced } });
      expect(await h.auth.secrets.forSandbox(frank.user.id)).toEqual({ ANTHROPIC_API_KEY: replaced });

      expect((await request(h, 'DELETE', '/api/secrets/ANTHROPIC_API_KEY', { token: frank.token })).status).toBe(204);
      expectError(
        await request(h, 'DELETE', '/api/secrets/ANTHROPIC_API_KEY', { token: frank.token }),
        404,
        'NOT_FOUND',
      );
      expect(await h.auth.secrets.forSandbox(frank.user.id)).toEqual({});
    });

    it('a row moved to another user does not decrypt (the ciphertext is bound to its owner)', async () => {
      const gina = await makeUser('gina');
      const hank = await makeUser('hank');
      await request(h, 'PUT', '/api/secrets/TOKEN_A', { token: gina.token, body: { value: 'gina-only' } });
      await h.db.pool.query('UPDATE user_secrets SET user_id = $2 WHERE user_id = $1', [gina.user.id, hank.user.id]);
      await expect(h.auth.secrets.forSandbox(hank.user.id)).rejects.toThrow(/cannot be decrypted/);
    });
  });

  describe('logs', () => {
    it('never contain a secret, password, token, cookie or CSRF token, even from failed requests', async () => {
      const ivan = await makeUser('ivan');
      const secret = `sk-ant-oat01-${randomBytes(24).toString('hex')}`;
      const ivanLink = await link(ivan.user.id);
      const session = await request(h, 'POST', '/api/auth/session', { body: { token: ivanLink } });
      const { cookie, value: cookieValue } = sessionCookie(session);
      const csrf = session.body.csrfToken;

      await request(h, 'PUT', '/api/secrets/CLAUDE_CODE_OAUTH_TOKEN', { token: ivan.token, body: { value: secret } });
      await request(h, 'PUT', '/api/secrets/SECOND', { cookie, csrf, body: { value: secret } });
      await request(h, 'PUT', '/api/secrets/THIRD', { token: ivan.token, rawBody: `{"value": "${secret}"` });
      await request(h, 'PUT', '/api/secrets/bad-name', { token: ivan.token, body: { value: secret } });
      await request(h, 'PUT', '/api/secrets/FOURTH', { token: ivan.token, body: { value: secret, extra: 1 } });
      await request(h, 'POST', '/api/auth/login', { body: { username: ivan.user.username, password: ivan.password } });
      await request(h, 'POST', '/api/auth/login', { rawBody: `{"username":"x","password":"${ivan.password}"` });
      await request(h, 'POST', '/api/boom', { token: ivan.token });
      expect(await h.auth.secrets.forSandbox(ivan.user.id)).toMatchObject({ CLAUDE_CODE_OAUTH_TOKEN: secret });

      const logs = h.logs();
      expect(logs).toContain('/api/secrets/CLAUDE_CODE_OAUTH_TOKEN');
      expect(logs).toContain('[Redacted]');
      for (const sensitive of [secret, ivan.password, ivan.token, adminToken, ivanLink, cookieValue, csrf]) {
        expect(logs).not.toContain(sensitive);
      }
    });
  });

  describe('bad input', () => {
    const bodies: { method: string; path: (ids: { user: string }) => string; good: unknown; wrong: unknown[] }[] = [
      {
        method: 'POST',
        path: () => '/api/auth/login',
        good: { username: 'admin', password: 'whatever1' },
        wrong: [{ username: 5, password: 'x' }, { username: 'admin' }, { username: 'a'.repeat(65), password: 'x' }],
      },
      {
        method: 'POST',
        path: () => '/api/auth/session',
        good: { token: 'rcl_x' },
        wrong: [
          { token: 42 },
          { token: '' },
          { token: null },
          { token: 'rcl_x', switchAccount: 'yes' },
          { username: 'admin' },
          { token: 'rcl_x', password: 'x' },
        ],
      },
      {
        method: 'POST',
        path: () => '/api/users',
        good: { username: 'ok-name', password: 'long-enough' },
        wrong: [
          { username: 'Bad Name', password: 'long-enough' },
          { username: 'ok-name', password: 'short' },
          { username: 'ok-name', password: 'long-enough', role: 'root' },
          { username: ['a'], password: 'long-enough' },
        ],
      },
      {
        method: 'PUT',
        path: ({ user }) => `/api/users/${user}/password`,
        good: { password: 'long-enough' },
        wrong: [{ password: 12345678 }, { password: 'short' }, {}],
      },
      {
        method: 'POST',
        path: () => '/api/tokens',
        good: { name: 'ci' },
        wrong: [{ name: '' }, { name: '   ' }, { name: { nested: true } }, { name: 'x'.repeat(101) }],
      },
      {
        method: 'PUT',
        path: () => '/api/secrets/SOME_KEY',
        good: { value: 'v' },
        wrong: [{ value: 1 }, { value: '' }, { value: 'x'.repeat(64 * 1024 + 1) }, { value: true }],
      },
    ];

    it.each(bodies.map((b) => [`${b.method} ${b.path({ user: ':id' })}`, b] as const))(
      '%s: malformed JSON, wrong types, extra fields, non-objects -> 400 with the error shape',
      async (_name, route) => {
        const path = route.path({ user: admin.id });
        const cases: { rawBody?: string; body?: unknown; headers?: Record<string, string> }[] = [
          { rawBody: '{"unterminated": ' },
          { rawBody: '{bad json}' },
          { rawBody: 'null' },
          { body: [route.good] },
          { body: 'a string' },
          { body: 42 },
          { body: { ...(route.good as object), unexpected: 1 } },
          { rawBody: JSON.stringify(route.good), headers: { 'content-type': 'text/plain' } },
          {},
          ...route.wrong.map((body) => ({ body })),
        ];
        for (const c of cases) {
          const res = await request(h, route.method, path, { token: adminToken, ...c });
          expect(res.status, `${JSON.stringify(c).slice(0, 200)} -> ${res.text}`).toBe(400);
          expect(res.body).toEqual({
            error: expect.objectContaining({ code: 'BAD_REQUEST', message: expect.any(String) }),
          });
        }
      },
    );

    it('bad path parameters and unexpected query strings -> 400', async () => {
      const cases: [string, string, unknown][] = [
        ['PUT', '/api/users/NOT_AN_ID!/password', { password: 'long-enough' }],
        ['PUT', '/api/users/..%2f..%2fetc/password', { password: 'long-enough' }],
        ['DELETE', '/api/tokens/a.b', undefined],
        ['PUT', '/api/secrets/lower_case', { value: 'v' }],
        ['DELETE', '/api/secrets/WITH-DASH', undefined],
        ['GET', '/api/tokens?limit=5', undefined],
        ['GET', '/api/me?x[y]=1', undefined],
      ];
      for (const [method, path, body] of cases) {
        const res = await request(h, method, path, { token: adminToken, body });
        expect(res.status, `${method} ${path} -> ${res.text}`).toBe(400);
        expect(res.body.error.code).toBe('BAD_REQUEST');
      }
    });

    it('an unexpected error is a 500 INTERNAL whose detail is logged, never sent', async () => {
      const res = await request(h, 'POST', '/api/boom', { token: adminToken });
      expectError(res, 500, 'INTERNAL');
      expect(res.body.error.message).toBe('internal error');
      expect(res.text).not.toContain('10.0.0.5');
      expect(h.logs()).toContain('connection to 10.0.0.5 failed');
    });

    it('an oversized body is 413 PAYLOAD_TOO_LARGE with the error shape', async () => {
      const res = await request(h, 'PUT', '/api/secrets/BIG', {
        token: adminToken,
        body: { value: 'x'.repeat(200_000) },
      });
      expectError(res, 413, 'PAYLOAD_TOO_LARGE');
    });
  });
});

describe('public routes and cookie flags', () => {
  let h: AuthHarness;
  let adminId: string;
  const link = async () => ({ token: (await h.auth.issueLoginLink(adminId)).token });
  beforeAll(async () => {
    h = await startAuthHarness({ kind: 'postgres', cookieSecure: true });
    adminId = (await h.auth.ensureAdmin()).id;
  });
  afterAll(async () => {
    await h?.close();
  });

  it('marks the session cookie Secure when cookieSecure is set', async () => {
    const res = await request(h, 'POST', '/api/auth/session', { body: await link() });
    expect(sessionCookie(res).attributes).toMatch(/(^|; )Secure(;|$)/);
  });

  it('opens exactly the two sign-in routes, however Express would spell them', async () => {
    expect(h.auth.middleware.publicRoutes).toEqual([
      { method: 'POST', path: '/api/auth/login' },
      { method: 'POST', path: '/api/auth/session' },
    ]);
    expect((await request(h, 'POST', '/api/auth/session/', { body: await link() })).status).toBe(200);
    expect((await request(h, 'POST', '/api/AUTH/Session', { body: await link() })).status).toBe(200);
    expectError(await request(h, 'GET', '/api/auth/login'), 401, 'UNAUTHENTICATED');
    expectError(await request(h, 'PUT', '/api/auth/session', { body: await link() }), 401, 'UNAUTHENTICATED');
    expectError(await request(h, 'POST', '/api/auth/session/extra', { body: await link() }), 401, 'UNAUTHENTICATED');
    expectError(await request(h, 'POST', '/api/auth/login-links'), 401, 'UNAUTHENTICATED');
  });
});
