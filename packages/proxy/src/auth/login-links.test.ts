import { createHash, randomBytes } from 'node:crypto';
import type { User } from '@rclaude/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuthHarness, request, startAuthHarness, type TestResponse } from '../../test/auth-harness.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

function sessionCookie(res: TestResponse): string {
  const header = res.headers.getSetCookie().find((c) => c.startsWith('rclaude_session='));
  if (!header) throw new Error(`no session cookie in ${res.status} ${res.text}`);
  return header.split(';')[0] ?? '';
}

describe('login links and browser sign-in (issue 16: no permanent token in a link, no silent account switch)', () => {
  let h: AuthHarness;
  let admin: User;
  let adminToken: string;
  let bob: { user: User; password: string; token: string };

  beforeAll(async () => {
    h = await startAuthHarness({ kind: 'postgres', loginLimits: { freePerAddress: 10_000 } });
    admin = await h.auth.ensureAdmin();
    adminToken = await h.auth.issueToken(admin.id, 'suite');
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const username = `bob${randomBytes(3).toString('hex')}`;
    const created = await request(h, 'POST', '/api/users', { token: adminToken, body: { username, password } });
    expect(created.status, created.text).toBe(201);
    bob = { user: created.body, password, token: await h.auth.issueToken(created.body.id, 'bob') };
  });
  afterAll(async () => {
    await h?.close();
  });

  const mint = async (token: string) => {
    const res = await request(h, 'POST', '/api/auth/login-links', { token });
    expect(res.status, res.text).toBe(201);
    return res.body as { token: string; expiresAt: string };
  };
  const signIn = (body: unknown, cookie?: string) =>
    request(h, 'POST', '/api/auth/session', { body, ...(cookie ? { cookie } : {}) });

  it('mints a link for the caller that expires in 10 minutes and is stored only as its hash', async () => {
    const link = await mint(bob.token);
    expect(link.token).toMatch(/^rcl_[A-Za-z0-9_-]{43}$/);
    expect(Date.parse(link.expiresAt) - h.clock.now()).toBe(10 * 60_000);
    const { rows } = await h.db.pool.query('SELECT * FROM login_links WHERE user_id = $1', [bob.user.id]);
    expect(rows.map((r) => r.token_hash)).toContain(sha256(link.token));
    expect(JSON.stringify(rows)).not.toContain(link.token);
    // A link is not an API token.
    expect((await request(h, 'GET', '/api/me', { token: link.token })).status).toBe(401);
  });

  it('signs a browser in once; a second use is refused as used', async () => {
    const link = await mint(bob.token);
    const first = await signIn({ token: link.token });
    expect(first.status, first.text).toBe(200);
    expect(first.body.user.username).toBe(bob.user.username);
    const me = await request(h, 'GET', '/api/me', { cookie: sessionCookie(first) });
    expect(me.body.id).toBe(bob.user.id);

    const again = await signIn({ token: link.token });
    expect(again.status).toBe(401);
    expect(again.body.error).toMatchObject({ code: 'UNAUTHENTICATED', details: { reason: 'used' } });
    expect(again.body.error.message).toMatch(/already used/);
    expect(again.headers.getSetCookie()).toEqual([]);
  });

  it('refuses an expired link, a made-up one and an API token, saying which', async () => {
    const link = await mint(bob.token);
    h.clock.advance(10 * 60_000);
    const late = await signIn({ token: link.token });
    expect(late.body.error).toMatchObject({ code: 'UNAUTHENTICATED', details: { reason: 'expired' } });
    expect(late.body.error.message).toMatch(/expired/);
    for (const token of [`rcl_${randomBytes(32).toString('base64url')}`, bob.token, adminToken, 'x']) {
      const res = await signIn({ token });
      expect(res.status, token).toBe(401);
      expect(res.body.error.details, token).toEqual({ reason: 'invalid' });
    }
  });

  it('lets exactly one of two browsers racing on one link in', async () => {
    const link = await mint(bob.token);
    const results = await Promise.all(Array.from({ length: 6 }, () => signIn({ token: link.token })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 401, 401, 401, 401, 401]);
  });

  it('asks before a link for another account replaces a live session, and keeps the link unused until then', async () => {
    const mine = sessionCookie(await signIn({ token: (await mint(adminToken)).token }));
    const bobs = await mint(bob.token);

    const asked = await signIn({ token: bobs.token }, mine);
    expect(asked.status, asked.text).toBe(409);
    expect(asked.body.error).toMatchObject({
      code: 'CONFLICT',
      details: { signedInAs: 'admin', linkFor: bob.user.username },
    });
    expect(asked.headers.getSetCookie()).toEqual([]);
    expect((await request(h, 'GET', '/api/me', { cookie: mine })).body.username).toBe('admin');

    const switched = await signIn({ token: bobs.token, switchAccount: true }, mine);
    expect(switched.status, switched.text).toBe(200);
    expect(switched.body.user.id).toBe(bob.user.id);
    expect((await request(h, 'GET', '/api/me', { cookie: sessionCookie(switched) })).body.id).toBe(bob.user.id);
    // The admin session it replaced is over, not left behind.
    expect((await request(h, 'GET', '/api/me', { cookie: mine })).status).toBe(401);
  });

  it('needs no question for a link of the account already signed in, and replaces that session', async () => {
    const first = sessionCookie(await signIn({ token: (await mint(bob.token)).token }));
    const again = await signIn({ token: (await mint(bob.token)).token }, first);
    expect(again.status, again.text).toBe(200);
    expect((await request(h, 'GET', '/api/me', { cookie: sessionCookie(again) })).body.id).toBe(bob.user.id);
    expect((await request(h, 'GET', '/api/me', { cookie: first })).status).toBe(401);
  });

  it('signs a browser in with a password without leaving an API token behind', async () => {
    const count = async () =>
      Number(
        (await h.db.pool.query('SELECT count(*) AS n FROM api_tokens WHERE user_id = $1', [bob.user.id])).rows[0]?.n,
      );
    const before = await count();
    const wrong = await signIn({ username: bob.user.username, password: 'not-the-password' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.message).toBe('wrong username or password');
    const ok = await signIn({ username: bob.user.username, password: bob.password });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body.user.id).toBe(bob.user.id);
    expect((await request(h, 'GET', '/api/me', { cookie: sessionCookie(ok) })).body.id).toBe(bob.user.id);
    expect(await count()).toBe(before);
    // The CLI's password sign-in still hands out a (listed, revocable) token: that is what it saves.
    const cli = await request(h, 'POST', '/api/auth/login', {
      body: { username: bob.user.username, password: bob.password },
    });
    expect(cli.body.token).toMatch(/^rct_/);
    expect(await count()).toBe(before + 1);
  });

  it('mints links from a browser session only with the CSRF token, and never for another user', async () => {
    const session = await signIn({ token: (await mint(bob.token)).token });
    const cookie = sessionCookie(session);
    expect((await request(h, 'POST', '/api/auth/login-links', { cookie })).status).toBe(403);
    const ok = await request(h, 'POST', '/api/auth/login-links', { cookie, csrf: session.body.csrfToken });
    expect(ok.status, ok.text).toBe(201);
    const used = await signIn({ token: ok.body.token });
    expect(used.body.user.id).toBe(bob.user.id);
    // The route takes no body: naming someone else changes nothing.
    const other = await request(h, 'POST', '/api/auth/login-links', { token: bob.token, body: { userId: admin.id } });
    expect((await signIn({ token: other.body.token })).body.user.id).toBe(bob.user.id);
  });

  it('keeps link tokens out of the log', async () => {
    const link = await mint(bob.token);
    await signIn({ token: link.token });
    await signIn({ token: link.token });
    expect(h.logs()).toContain('login link used');
    expect(h.logs()).not.toContain(link.token);
  });
});
