/**
 * The CLI's fetch over node:http (src/http-fetch.ts), against a real HTTP server on loopback and through the
 * CLI's REST client: what arrives is what fetch would give (status, headers, body, the sent request), and a
 * failure reads as fetch's, so the client's error mapping (TIMEOUT, cannot reach) still holds.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppError } from '@rclaude/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../src/api.js';
import { describe as describeError } from '../src/describe-error.js';
import { httpFetch } from '../src/http-fetch.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

let server: http.Server;
let base: string;
const seen: Seen[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => {
      body += d;
    });
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      if (req.url === '/json') {
        res.writeHead(200, { 'content-type': 'application/json', 'x-extra': 'yes' });
        res.end(JSON.stringify({ tasks: [], echo: body }));
      } else if (req.url === '/empty') {
        res.writeHead(204).end();
      } else if (req.url === '/moved') {
        res.writeHead(307, { location: '/json' }).end();
      } else if (req.url === '/slow') {
        // Never answers: the caller's signal must end it.
      } else if (req.url?.startsWith('/api/tasks')) {
        res.writeHead(401, { 'content-type': 'text/html' }).end('<html>Sign in</html>');
      } else {
        res.writeHead(404, 'Nope').end('missing');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('httpFetch', () => {
  it('sends method, headers and a string body, and answers status, headers and body like fetch', async () => {
    const res = await httpFetch(`${base}/json`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer t' },
      body: '{"name":"é"}',
    });
    expect(res.status).toBe(200);
    expect(res.ok).toBe(true);
    expect(res.headers.get('x-extra')).toBe('yes');
    expect(await res.json()).toEqual({ tasks: [], echo: '{"name":"é"}' });
    const req = seen.at(-1) as Seen;
    expect(req).toMatchObject({ method: 'POST', url: '/json', body: '{"name":"é"}' });
    expect(req.headers).toMatchObject({ authorization: 'Bearer t', 'content-length': '13' });
  });

  it('answers a 204 without a body and an error status with its text', async () => {
    const empty = await httpFetch(`${base}/empty`, { method: 'DELETE' });
    expect(empty.status).toBe(204);
    expect(empty.body).toBeNull();
    const missing = await httpFetch(`${base}/nothing`);
    expect([missing.status, missing.statusText, await missing.text()]).toEqual([404, 'Nope', 'missing']);
  });

  it('follows a redirect (through the global fetch)', async () => {
    const res = await httpFetch(`${base}/moved`);
    expect(res.status).toBe(200);
    expect(res.redirected).toBe(true);
    expect(((await res.json()) as { tasks: unknown[] }).tasks).toEqual([]);
  });

  it("rejects with the signal's reason when it aborts, and with fetch's TypeError when nothing listens", async () => {
    const timeout = httpFetch(`${base}/slow`, { signal: AbortSignal.timeout(100) });
    await expect(timeout).rejects.toMatchObject({ name: 'TimeoutError' });
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const refused = await httpFetch(`http://127.0.0.1:${port}/`).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(TypeError);
    expect((refused as TypeError).cause).toMatchObject({ code: 'ECONNREFUSED' });
  });

  it("is the CLI client's default: a proxy's HTML 401 still exits 4 with the login hint", async () => {
    const api = new ApiClient(base, 'rct_x');
    const err = await api.listTasks().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(seen.at(-1)?.headers.authorization).toBe('Bearer rct_x');
    expect(describeError(err)).toMatchObject({ exitCode: 4 });
  });
});
