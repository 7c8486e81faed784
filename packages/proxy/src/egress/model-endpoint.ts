import http, {
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import https from 'node:https';
import type { Logger } from 'pino';

/** The real credential the gateway adds to a model request; it never enters a sandbox. */
export type ModelCredential = { kind: 'api-key'; value: string } | { kind: 'oauth-token'; value: string };

/** Claude Code sends this beta with an OAuth token; the sandbox (holding a placeholder API key) does not. */
const OAUTH_BETA = 'oauth-2025-04-20';

/** The Anthropic API, when the server sets no ANTHROPIC_BASE_URL. */
export const DEFAULT_MODEL_UPSTREAM = 'https://api.anthropic.com';

/**
 * The model credential for a task: the owner's own (their stored ANTHROPIC_API_KEY, else their
 * CLAUDE_CODE_OAUTH_TOKEN), else the server's (same order); null when there is none anywhere.
 */
export function pickModelCredential(
  userSecrets: Record<string, string>,
  server: { ANTHROPIC_API_KEY?: string | undefined; CLAUDE_CODE_OAUTH_TOKEN?: string | undefined },
): ModelCredential | null {
  for (const source of [userSecrets, server]) {
    if (source.ANTHROPIC_API_KEY) return { kind: 'api-key', value: source.ANTHROPIC_API_KEY };
    if (source.CLAUDE_CODE_OAUTH_TOKEN) return { kind: 'oauth-token', value: source.CLAUDE_CODE_OAUTH_TOKEN };
  }
  return null;
}

/**
 * What the model endpoint forwards: the Messages API (`/v1/messages`, `/v1/messages/count_tokens`), the model
 * list, and the connectivity check. Anything else of the upstream (batches, files, admin) would spend the real
 * credential outside what the gateway meters, so it is refused.
 */
export function modelRequestAllowed(method: string, url: string): boolean {
  const pathname = url.split('?')[0] ?? '';
  if (method === 'POST') return pathname === '/v1/messages' || pathname === '/v1/messages/count_tokens';
  if (method === 'GET' || method === 'HEAD') {
    return pathname === '/v1/models' || pathname.startsWith('/v1/models/') || pathname === '/api/hello';
  }
  return false;
}

/** Headers that belong to one hop of a connection (RFC 9110 §7.6.1), never forwarded. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Headers of one hop, without the hop-by-hop ones (and those the `connection` header names). */
function endToEnd(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/**
 * The headers of a model request as the upstream gets them: the sandbox's hop-by-hop and credential headers
 * (its placeholder key) dropped, the real credential added, uncompressed (the gateway reads usage from the
 * answer), and the upstream's Host.
 */
export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  upstream: URL,
  credential: ModelCredential,
): OutgoingHttpHeaders {
  const out = endToEnd(incoming);
  for (const name of ['x-api-key', 'authorization', 'cookie', 'host', 'accept-encoding']) delete out[name];
  out.host = upstream.host;
  out['accept-encoding'] = 'identity';
  if (credential.kind === 'api-key') {
    out['x-api-key'] = credential.value;
  } else {
    out.authorization = `Bearer ${credential.value}`;
    const betas = String(out['anthropic-beta'] ?? '')
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean);
    if (!betas.includes(OAUTH_BETA)) betas.push(OAUTH_BETA);
    out['anthropic-beta'] = betas.join(',');
  }
  return out;
}

/** An error in the Anthropic API's shape, which Claude Code shows to the person. */
export function sendModelError(res: ServerResponse, status: number, type: string, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ type: 'error', error: { type, message } });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export interface ModelForward {
  upstream: URL;
  credential: ModelCredential;
  log: Logger;
  /** Sees the status and every chunk of the upstream's answer as it passes (metering); never delays it. */
  observe?: (status: number, headers: IncomingHttpHeaders) => ((chunk: Buffer | null) => void) | null;
}

/**
 * Forwards one model request to the upstream with the real credential and streams the answer back as it
 * comes (SSE included): nothing is buffered beyond what the sockets hold. A request that goes away cancels
 * the upstream call.
 */
export function forwardModelRequest(req: IncomingMessage, res: ServerResponse, fwd: ModelForward): void {
  const { upstream } = fwd;
  const base = upstream.pathname.replace(/\/+$/, '');
  const client = upstream.protocol === 'https:' ? https : http;
  const upReq = client.request({
    protocol: upstream.protocol,
    hostname: upstream.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: upstream.port || (upstream.protocol === 'https:' ? 443 : 80),
    method: req.method,
    path: `${base}${req.url ?? '/'}`,
    headers: upstreamRequestHeaders(req.headers, upstream, fwd.credential),
  });
  const cancel = () => {
    if (!res.writableFinished) upReq.destroy();
  };
  res.once('close', cancel);
  upReq.on('response', (upRes) => {
    const status = upRes.statusCode ?? 502;
    const sink = fwd.observe?.(status, upRes.headers) ?? null;
    res.writeHead(status, upRes.statusMessage, endToEnd(upRes.headers));
    res.flushHeaders();
    upRes.on('data', (chunk: Buffer) => {
      sink?.(chunk);
      if (!res.write(chunk)) {
        upRes.pause();
        res.once('drain', () => upRes.resume());
      }
    });
    // An answer cut short still used what it reported so far: the sink hears the end either way, once.
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      sink?.(null);
    };
    upRes.once('end', () => {
      end();
      res.end();
    });
    upRes.once('close', end);
    upRes.once('error', () => res.destroy());
  });
  upReq.on('error', (err: NodeJS.ErrnoException) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    fwd.log.warn({ err: err.message, code: err.code, upstream: upstream.origin }, 'model upstream unreachable');
    sendModelError(
      res,
      502,
      'api_error',
      `rclaude's model gateway could not reach the model API at ${upstream.origin} (${err.code ?? err.message})`,
    );
  });
  req.pipe(upReq);
}
