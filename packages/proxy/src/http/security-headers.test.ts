/**
 * Security headers on what the composed server answers: the web app's Content-Security-Policy on its pages, a
 * policy that allows nothing on the API, and the framing, sniffing, referrer and cross-origin headers on
 * both. Strict-Transport-Security only when the server says it is reached over https.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../test/test-server.js';
import { apiCsp, webAppCsp } from './security-headers.js';

/** A CSP header as directive -> sources, for comparisons that do not depend on order. */
function parseCsp(header: string | null): Record<string, string[]> {
  expect(header, 'a Content-Security-Policy header').toBeTruthy();
  const out: Record<string, string[]> = {};
  for (const part of (header ?? '').split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) out[name] = values;
  }
  return out;
}

const asRecord = (csp: Readonly<Record<string, readonly string[]>>) =>
  Object.fromEntries(Object.entries(csp).map(([k, v]) => [k, [...v]]));

describe.each([
  ['over http', false],
  ['behind https (RCLAUDE_COOKIE_SECURE)', true],
] as const)('security headers, %s', (_name, secure) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer('embedded', { env: { RCLAUDE_COOKIE_SECURE: secure ? 'true' : 'false' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  const get = (p: string, headers: Record<string, string> = {}) => fetch(`${server.url}${p}`, { headers });

  it('gives web app paths a CSP with scripts from this origin only', async () => {
    for (const p of ['/', '/tasks/abc', '/assets/no-such-file.js']) {
      const res = await get(p);
      await res.arrayBuffer();
      const csp = parseCsp(res.headers.get('content-security-policy'));
      expect(csp, p).toEqual(asRecord(webAppCsp));
      expect(csp['script-src']).toEqual(["'self'"]);
      expect(csp['frame-ancestors']).toEqual(["'none'"]);
      expect(csp).not.toHaveProperty('upgrade-insecure-requests');
    }
  });

  it('gives the API, errors included, and the operations routes a CSP that allows nothing', async () => {
    const cases: [string, number, Record<string, string>][] = [
      ['/api/tasks', 401, {}],
      ['/api/tasks', 200, { authorization: `Bearer ${server.token}` }],
      ['/api/no-such-route', 404, { authorization: `Bearer ${server.token}` }],
      ['/api/openapi.json', 200, {}],
      ['/healthz', 200, {}],
      ['/readyz', 200, {}],
    ];
    for (const [p, status, headers] of cases) {
      const res = await get(p, headers);
      await res.arrayBuffer();
      expect(res.status, p).toBe(status);
      expect(parseCsp(res.headers.get('content-security-policy')), p).toEqual(asRecord(apiCsp));
    }
  });

  it('refuses framing and sniffing, sends no referrer, isolates the origin, and names no framework', async () => {
    for (const p of ['/', '/api/tasks', '/healthz']) {
      const res = await get(p);
      await res.arrayBuffer();
      expect(res.headers.get('x-frame-options'), p).toBe('DENY');
      expect(res.headers.get('x-content-type-options'), p).toBe('nosniff');
      expect(res.headers.get('referrer-policy'), p).toBe('no-referrer');
      expect(res.headers.get('cross-origin-opener-policy'), p).toBe('same-origin');
      expect(res.headers.get('cross-origin-resource-policy'), p).toBe('same-origin');
      expect(res.headers.get('x-powered-by'), p).toBeNull();
      if (secure) expect(res.headers.get('strict-transport-security'), p).toBe('max-age=15552000');
      else expect(res.headers.get('strict-transport-security'), p).toBeNull();
    }
  });
});
