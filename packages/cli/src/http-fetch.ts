import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import type { FetchLike } from '@rclaude/client/rest';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * `fetch` over node:http for the CLI's REST calls. Node 20's global fetch loads undici on its first call
 * (with its HTTP parser compiled from WebAssembly): about 500 M instructions, more than the rest of
 * `rclaude ls` together. This answers with a standard `Response` like fetch, and hands what it does not do
 * itself to the global fetch: a body that is not a string (an upload stream, form data) and a redirect.
 * Failures read as fetch's: a `TypeError('fetch failed')` whose `cause` is the socket error (ECONNREFUSED...),
 * or the signal's reason once it aborted. It asks for no compression, so answers arrive as sent.
 */
export const httpFetch: FetchLike = (input, init = {}) => {
  const { body, signal } = init;
  if (body !== undefined && body !== null && typeof body !== 'string') return fetch(input, init);
  const url = new URL(input);
  const transport = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : null;
  if (!transport) return fetch(input, init);
  return new Promise<Response>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, name) => {
      headers[name] = value;
    });
    if (typeof body === 'string') headers['content-length'] = String(Buffer.byteLength(body));
    const req = transport.request(url, { method: init.method ?? 'GET', headers });
    const onAbort = () => req.destroy(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    req.once('close', () => signal?.removeEventListener('abort', onAbort));
    req.once('error', (err) => reject(signal?.aborted ? signal.reason : new TypeError('fetch failed', { cause: err })));
    req.once('response', (res) => {
      const status = res.statusCode ?? 0;
      if (REDIRECTS.has(status) && res.headers.location) {
        res.resume();
        resolve(fetch(input, init));
        return;
      }
      const answerHeaders: [string, string][] = [];
      for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
        answerHeaders.push([res.rawHeaders[i] as string, res.rawHeaders[i + 1] as string]);
      }
      // A 204 or 304 has no body, and a Response refuses one.
      const noBody = status === 204 || status === 304 || init.method === 'HEAD';
      if (noBody) res.resume();
      resolve(
        new Response(noBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), {
          status,
          statusText: res.statusMessage ?? '',
          headers: answerHeaders,
        }),
      );
    });
    req.end(body ?? undefined);
  });
};
