import { createHmac, hkdfSync } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { AppError, errorStatus, type PortPreview, PREVIEW_PATH_PREFIX, userRoleSchema } from '@rclaude/protocol';
import type { Logger } from 'pino';
import { z } from 'zod';
import { safeEqual } from '../auth/crypto.js';
import type { AuthContext } from '../services/auth-context.js';
import type { TunnelGateway } from './tunnel-gateway.js';

/**
 * What every preview answer carries. `sandbox` without `allow-same-origin` gives the page an opaque origin: its
 * scripts cannot read the proxy's API (cross-origin, and the SameSite=Strict session cookie is not sent), nor
 * the web app's storage. No referrer, so the link (a capability) does not leak to other sites.
 */
export const PREVIEW_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': 'sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cache-control': 'private, no-store',
};

/** Request headers not passed to the sandbox: the user's credentials, and hop-by-hop headers. */
const DROP_REQUEST = new Set([
  'cookie',
  'authorization',
  'connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'upgrade',
  'host',
  'x-csrf-token',
]);
/**
 * The only response headers passed to the browser: what a page needs to be shown. The answer is served on the
 * proxy's own origin, so anything else a sandbox could set would apply to the whole app there (cookies,
 * Clear-Site-Data, NEL and reporting endpoints, Service-Worker-Allowed, HSTS, a CSP of its own).
 */
const PASS_RESPONSE = new Set([
  'content-type',
  'content-length',
  'content-encoding',
  'content-language',
  'content-disposition',
  'content-range',
  'accept-ranges',
  'etag',
  'last-modified',
  'expires',
  'location',
  'vary',
  'date',
  'retry-after',
  'allow',
]);

const claimSchema = z
  .object({ t: z.string(), p: z.number().int(), u: z.string(), n: z.string(), r: userRoleSchema, e: z.number() })
  .strict();

export interface PortPreviewDeps {
  /** The server's secret key; the preview key is derived from it for this purpose only. */
  serverSecretKey: Buffer;
  tunnels: Pick<TunnelGateway, 'open'>;
  /** The server's public URL (links are absolute). */
  publicUrl: () => string;
  /** How long a link works. */
  ttlMs: number;
  now?: () => number;
  log: Logger;
}

/** Port previews; see {@link createPortPreviews}. */
export interface PortPreviews {
  /** Makes a preview link for a port of a task `auth` may use (the route checks ownership by opening nothing). */
  link(auth: AuthContext, taskId: string, port: number): PortPreview;
  /** Whether a request is for a preview. */
  handles(req: IncomingMessage): boolean;
  handle(req: IncomingMessage, res: ServerResponse): void;
}

/**
 * Serves a port of a sandbox to a browser: `/preview/<capability>/<path>` forwards the request through a
 * tunnel to 127.0.0.1:PORT in the sandbox. The capability is a link the owner asked for
 * (`POST /api/tasks/:id/ports/:port/preview`): task, port, user and expiry under an HMAC, so a page's own
 * relative links work without a cookie; each request still checks that the user may use the task and that it
 * runs. Answers carry {@link PREVIEW_HEADERS}; the user's cookies never reach the sandbox, and the sandbox's
 * `Set-Cookie` never reaches the browser.
 */
export function createPortPreviews(deps: PortPreviewDeps): PortPreviews {
  const key = Buffer.from(hkdfSync('sha256', deps.serverSecretKey, Buffer.alloc(0), 'rclaude preview v1', 32));
  const now = deps.now ?? Date.now;
  const log = deps.log.child({ component: 'preview' });
  const mac = (payload: string) => createHmac('sha256', key).update(payload).digest('base64url');

  function verify(capability: string): z.infer<typeof claimSchema> | null {
    const [payload, signature, ...rest] = capability.split('.');
    if (!payload || !signature || rest.length > 0 || capability.length > 1024) return null;
    if (!safeEqual(mac(payload), signature)) return null;
    try {
      const claim = claimSchema.parse(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
      return claim.e > now() ? claim : null;
    } catch {
      return null;
    }
  }

  function fail(res: ServerResponse, status: number, message: string): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(status, { ...PREVIEW_HEADERS, 'content-type': 'text/plain; charset=utf-8' }).end(`${message}\n`);
  }

  async function forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rest = (req.url ?? '').slice(PREVIEW_PATH_PREFIX.length);
    const slash = rest.indexOf('/');
    const capability = slash === -1 ? (rest.split('?')[0] ?? '') : rest.slice(0, slash);
    const claim = verify(capability);
    if (!claim) {
      fail(res, 403, 'This preview link is not valid or has expired; open the port again from rclaude.');
      return;
    }
    if (slash === -1) {
      // Relative links resolve against the directory: send `/preview/<cap>` to `/preview/<cap>/`.
      const query = rest.includes('?') ? rest.slice(rest.indexOf('?')) : '';
      res.writeHead(308, { ...PREVIEW_HEADERS, location: `${PREVIEW_PATH_PREFIX}${capability}/${query}` }).end();
      return;
    }
    const auth: AuthContext = { userId: claim.u, username: claim.n, role: claim.r, via: 'token' };
    let tunnel: Awaited<ReturnType<TunnelGateway['open']>>;
    try {
      tunnel = await deps.tunnels.open(auth, claim.t, { kind: 'port', port: claim.p });
    } catch (err) {
      const error = err instanceof AppError ? err : null;
      if (!error) log.error({ err, taskId: claim.t }, 'preview tunnel failed');
      fail(res, error ? errorStatus[error.code] : 500, error?.message ?? 'the preview failed; see the server log');
      return;
    }
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined && !DROP_REQUEST.has(name)) headers[name] = value;
    }
    headers.host = `127.0.0.1:${claim.p}`;
    headers['x-forwarded-prefix'] = `${PREVIEW_PATH_PREFIX}${capability}`;
    headers.connection = 'close';
    const upstream = http.request({
      method: req.method ?? 'GET',
      path: rest.slice(slash),
      headers,
      createConnection: () => tunnel.socket,
    });
    upstream.once('response', (answer) => {
      const out: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(answer.headers)) {
        if (value !== undefined && PASS_RESPONSE.has(name)) out[name] = value;
      }
      res.writeHead(answer.statusCode ?? 502, { ...out, ...PREVIEW_HEADERS });
      answer.pipe(res);
      answer.once('error', () => res.destroy());
    });
    upstream.once('error', (err) => {
      tunnel.socket.destroy();
      fail(res, 502, `the sandbox's port ${claim.p} broke off the answer (${err.message})`);
    });
    res.once('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }

  return {
    link(auth, taskId, port) {
      const expires = now() + deps.ttlMs;
      const payload = Buffer.from(
        JSON.stringify({ t: taskId, p: port, u: auth.userId, n: auth.username, r: auth.role, e: expires }),
      ).toString('base64url');
      return {
        url: `${deps.publicUrl().replace(/\/+$/, '')}${PREVIEW_PATH_PREFIX}${payload}.${mac(payload)}/`,
        expiresAt: new Date(expires).toISOString(),
      };
    },
    handles: (req) => (req.url ?? '').startsWith(PREVIEW_PATH_PREFIX),
    handle(req, res) {
      forward(req, res).catch((err: unknown) => {
        log.error({ err }, 'preview failed');
        fail(res, 500, 'the preview failed; see the server log');
      });
    },
  };
}
