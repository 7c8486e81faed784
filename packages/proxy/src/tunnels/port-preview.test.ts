import { randomBytes } from 'node:crypto';
import http, { type IncomingHttpHeaders } from 'node:http';
import net from 'node:net';
import { AppError } from '@rclaude/protocol';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuthContext } from '../services/auth-context.js';
import { createPortPreviews } from './port-preview.js';
import type { TunnelTarget } from './tunnel-gateway.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const alice: AuthContext = { userId: 'u_alice', username: 'alice', role: 'user', via: 'cookie' };

async function listen(server: http.Server | net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise((r) => server.close(r)));
  return (server.address() as net.AddressInfo).port;
}

/**
 * Previews over a stand-in tunnel: `open` connects to a local HTTP server (the "sandbox port") that records the
 * headers it got and sets a cookie; the previews themselves answer on another local server.
 */
async function setup(opts: { refuse?: AppError } = {}) {
  let clock = 1_000_000;
  const seen: IncomingHttpHeaders[] = [];
  const opened: { auth: AuthContext; taskId: string; target: TunnelTarget }[] = [];
  const sandboxPort = await listen(
    http.createServer((req, res) => {
      seen.push(req.headers);
      res.setHeader('set-cookie', 'rclaude_session=planted');
      res.setHeader('content-security-policy', "default-src 'self'");
      // Headers that would act on the whole app's origin, which previews are served on.
      res.setHeader('clear-site-data', '"cookies", "storage"');
      res.setHeader('nel', '{"report_to":"x","max_age":86400}');
      res.setHeader('service-worker-allowed', '/');
      res.setHeader('etag', '"v1"');
      res.end(`path ${req.url}`);
    }),
  );
  let base = '';
  const previews = createPortPreviews({
    serverSecretKey: randomBytes(32),
    tunnels: {
      open: async (auth, taskId, target) => {
        opened.push({ auth, taskId, target });
        if (opts.refuse) throw opts.refuse;
        const socket = net.connect(sandboxPort, '127.0.0.1');
        await new Promise((r) => socket.once('connect', r));
        return { socket, hostKey: null };
      },
    },
    publicUrl: () => base,
    ttlMs: 60_000,
    now: () => clock,
    log: pino({ level: 'silent' }),
  });
  const front = http.createServer((req, res) => {
    if (previews.handles(req)) previews.handle(req, res);
    else res.writeHead(404).end();
  });
  base = `http://127.0.0.1:${await listen(front)}`;
  return { previews, seen, opened, advance: (ms: number) => (clock += ms) };
}

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers, redirect: 'manual' });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe('port previews', () => {
  it('serves the port through a tunnel for the link maker, without their cookies or the sandbox cookie', async () => {
    const { previews, seen, opened } = await setup();
    const link = previews.link(alice, 'task1', 3000);
    expect(link.url).toMatch(/\/preview\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\/$/);
    const res = await get(`${link.url}app/index.html?q=1`, {
      cookie: 'rclaude_session=secret',
      authorization: 'Bearer rc_secret',
      'x-csrf-token': 'csrf',
    });
    expect(res.status).toBe(200);
    expect(res.text).toBe('path /app/index.html?q=1');
    expect(opened).toEqual([
      { auth: { ...alice, via: 'token' }, taskId: 'task1', target: { kind: 'port', port: 3000 } },
    ]);
    expect(seen[0]?.cookie).toBeUndefined();
    expect(seen[0]?.authorization).toBeUndefined();
    expect(seen[0]?.['x-csrf-token']).toBeUndefined();
    expect(seen[0]?.host).toBe('127.0.0.1:3000');
    expect(res.headers.get('set-cookie')).toBeNull();
    for (const name of ['clear-site-data', 'nel', 'service-worker-allowed']) expect(res.headers.get(name)).toBeNull();
    expect(res.headers.get('etag')).toBe('"v1"');
    expect(res.headers.get('content-security-policy')).toBe(
      'sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads',
    );
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  });

  it('sends the bare link to its directory, and refuses altered and expired links without opening a tunnel', async () => {
    const { previews, opened, advance } = await setup();
    const link = previews.link(alice, 'task1', 3000);
    const bare = await get(link.url.replace(/\/$/, ''));
    expect(bare.status).toBe(308);
    expect(bare.headers.get('location')).toBe(new URL(link.url).pathname);
    const [payload, mac] = new URL(link.url).pathname.split('/')[2]?.split('.') ?? [];
    const forged = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()), p: 22 }),
    ).toString('base64url');
    expect((await get(link.url.replace(payload ?? '', forged))).status).toBe(403);
    expect((await get(link.url.replace(mac ?? '', 'x'.repeat(43)))).status).toBe(403);
    advance(60_001);
    expect((await get(link.url)).status).toBe(403);
    expect(opened).toEqual([]);
  });

  it("answers the tunnel's refusal with its status and message", async () => {
    const { previews } = await setup({ refuse: new AppError('TASK_NOT_RUNNING', 'task task1 is not running') });
    const res = await get(previews.link(alice, 'task1', 3000).url);
    expect(res.status).toBe(409);
    expect(res.text).toContain('task task1 is not running');
  });
});
