import { randomBytes } from 'node:crypto';
import type { User } from '@rclaude/protocol';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuthHarness, request, startAuthHarness } from '../../test/auth-harness.js';

type Outcome = { ok: true; auth: unknown } | { ok: false; message: string; data: unknown };

describe.each(['postgres', 'embedded'] as const)('Socket.io /client handshake (%s database)', (kind) => {
  let h: AuthHarness;
  let admin: User;
  let token: string;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    h = await startAuthHarness({ kind, publicOrigins: ['http://localhost:5173'] });
    // Echo what the middleware stored, so the test sees socket.data.auth as the server does.
    h.io.of('/client').on('connection', (socket) => {
      socket.emit('whoami', socket.data.auth);
    });
    admin = await h.auth.ensureAdmin();
    token = await h.auth.issueToken(admin.id, 'socket test');
  });
  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    await h?.close();
  });

  /** Connects over WebSocket (no polling, no reconnection) and reports the first outcome. */
  function handshake(options: {
    auth?: Record<string, unknown>;
    query?: Record<string, string>;
    headers?: Record<string, string>;
    transport?: 'websocket' | 'polling';
  }): Promise<Outcome> {
    const socket = connect(`${h.baseUrl}/client`, {
      transports: [options.transport ?? 'websocket'],
      reconnection: false,
      forceNew: true,
      auth: options.auth ?? {},
      query: options.query ?? {},
      extraHeaders: options.headers ?? {},
    });
    sockets.push(socket);
    return new Promise((resolve) => {
      socket.on('whoami', (auth: unknown) => {
        socket.disconnect();
        resolve({ ok: true, auth });
      });
      socket.on('connect_error', (err: Error & { data?: unknown }) => {
        socket.disconnect();
        resolve({ ok: false, message: err.message, data: err.data });
      });
    });
  }

  it.each(['websocket', 'polling'] as const)(
    'refuses a foreign Origin with ORIGIN_REFUSED, even with a valid token (%s)',
    async (transport) => {
      for (const origin of ['http://evil.example', 'null', `http://127.0.0.1:1`]) {
        const outcome = await handshake({ transport, auth: { token }, headers: { origin } });
        expect(outcome).toEqual({
          ok: false,
          message: expect.any(String),
          data: { code: 'ORIGIN_REFUSED', message: expect.stringContaining(origin) },
        });
      }
    },
  );

  it('accepts a token from the handshake auth payload, from the own origin, an allowed one, or none', async () => {
    const expected = { userId: admin.id, username: 'admin', role: 'admin', via: 'token' };
    expect(await handshake({ auth: { token } })).toEqual({ ok: true, auth: expected });
    expect(await handshake({ auth: { token }, headers: { origin: h.baseUrl } })).toEqual({ ok: true, auth: expected });
    expect(await handshake({ auth: { token }, headers: { origin: 'http://localhost:5173' } })).toEqual({
      ok: true,
      auth: expected,
    });
  });

  it('refuses no credentials, a wrong or revoked token, and a token in the query string', async () => {
    const unauthenticated = {
      ok: false,
      message: expect.any(String),
      data: { code: 'UNAUTHENTICATED', message: expect.any(String) },
    };
    expect(await handshake({})).toEqual(unauthenticated);
    expect(await handshake({ auth: { token: `rct_${randomBytes(32).toString('base64url')}` } })).toEqual(
      unauthenticated,
    );
    expect(await handshake({ auth: { token: 42 } })).toEqual(unauthenticated);
    expect(await handshake({ query: { token } })).toEqual(unauthenticated);

    const created = await request(h, 'POST', '/api/tokens', { token, body: { name: 'to revoke' } });
    expect((await handshake({ auth: { token: created.body.token } })).ok).toBe(true);
    await request(h, 'DELETE', `/api/tokens/${created.body.info.id}`, { token });
    expect(await handshake({ auth: { token: created.body.token } })).toEqual(unauthenticated);
  });

  it('accepts the browser session cookie from the own origin, and refuses it from a foreign one', async () => {
    const session = await request(h, 'POST', '/api/auth/session', {
      body: { token: (await h.auth.issueLoginLink(admin.id)).token },
    });
    const cookie = (session.headers.getSetCookie()[0] ?? '').split(';')[0] ?? '';
    expect(cookie).toMatch(/^rclaude_session=/);
    expect(await handshake({ headers: { cookie, origin: h.baseUrl } })).toEqual({
      ok: true,
      auth: { userId: admin.id, username: 'admin', role: 'admin', via: 'cookie' },
    });
    const foreign = await handshake({ headers: { cookie, origin: 'http://evil.example' } });
    expect(foreign.ok ? null : foreign.data).toMatchObject({ code: 'ORIGIN_REFUSED' });
    const forged = await handshake({ headers: { cookie: `rclaude_session=${randomBytes(32).toString('base64url')}` } });
    expect(forged.ok ? null : forged.data).toMatchObject({ code: 'UNAUTHENTICATED' });
  });
});
