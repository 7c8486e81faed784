/**
 * The HTTP proxy half of the egress gateway, served on a plain loopback HTTP server. Every real connection
 * goes to a loopback listener the test starts and allows by address; names resolve through a stand-in
 * resolver, so no DNS query and no packet leaves this machine.
 */
import { once } from 'node:events';
import http, { type IncomingMessage } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseAllowList } from './allow-list.js';
import { OutboundProxy } from './outbound-proxy.js';

let echo: net.Server;
let echoPort: number;
let echoConnections = 0;
let web: http.Server;
let webPort: number;
let webRequests: { url: string; headers: IncomingMessage['headers'] }[] = [];
let proxyServer: http.Server;
let proxyPort: number;
const lookups: string[] = [];
const refusals: string[] = [];
/** Names the stand-in resolver knows. */
const names: Record<string, string[]> = {
  'internal.example.com': ['10.0.0.7'],
  'metadata.example.com': ['169.254.169.254'],
  'mixed.example.com': ['10.0.0.8', '127.0.0.1'],
};

beforeAll(async () => {
  echo = net.createServer((s) => {
    echoConnections++;
    s.on('data', (d: Buffer) => s.write(d.toString().toUpperCase()));
  });
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  echoPort = (echo.address() as AddressInfo).port;
  web = http.createServer((req, res) => {
    webRequests.push({ url: req.url ?? '', headers: req.headers });
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`hello from ${req.url}`);
  });
  web.listen(0, '127.0.0.1');
  await once(web, 'listening');
  webPort = (web.address() as AddressInfo).port;

  const proxy = new OutboundProxy({
    allow: parseAllowList([
      `127.0.0.1:${echoPort}`,
      `127.0.0.1:${webPort}`,
      'internal.example.com',
      'metadata.example.com',
      `mixed.example.com:${echoPort}`,
      '*.allowed.example',
    ]).list,
    lookup: async (host) => {
      lookups.push(host);
      const found = names[host];
      if (!found) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
      return found;
    },
    log: pino({ level: 'silent' }),
  });
  const refused = (target: string, reason: string) => refusals.push(`${target}: ${reason}`);
  proxyServer = http.createServer((req, res) => void proxy.handleAbsolute(req, res, refused));
  proxyServer.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
    proxy.handleConnect(req, socket, head, refused),
  );
  proxyServer.listen(0, '127.0.0.1');
  await once(proxyServer, 'listening');
  proxyPort = (proxyServer.address() as AddressInfo).port;
});

afterAll(() => {
  proxyServer.closeAllConnections();
  proxyServer.close();
  web.close();
  echo.close();
});

beforeEach(() => {
  lookups.length = 0;
  refusals.length = 0;
  webRequests = [];
  echoConnections = 0;
});

/** Sends `CONNECT target` and, once answered 200, `payload`; resolves with everything read until close or `want`. */
async function connect(target: string, payload = '', want = Number.POSITIVE_INFINITY): Promise<string> {
  const socket = net.connect(proxyPort, '127.0.0.1');
  let got = '';
  let sent = false;
  socket.on('data', (d: Buffer) => {
    got += d.toString();
    if (!sent && payload && got.startsWith('HTTP/1.1 200') && got.includes('\r\n\r\n')) {
      sent = true;
      socket.write(payload);
    }
    if (got.length >= want) socket.end();
  });
  socket.write(`CONNECT ${target} HTTP/1.1\r\nhost: ${target}\r\n\r\n`);
  await once(socket, 'close');
  return got;
}

describe('CONNECT', () => {
  it('tunnels to an allowed loopback address named in the allow-list', async () => {
    const established = 'HTTP/1.1 200 Connection Established\r\n\r\n';
    const got = await connect(`127.0.0.1:${echoPort}`, 'ping', established.length + 4);
    expect(got).toBe(`${established}PING`);
    expect(echoConnections).toBe(1);
  });

  it('refuses a host or port not on the list before resolving anything, and says why', async () => {
    const other = await connect('evil.example.org:443');
    expect(other).toMatch(/^HTTP\/1\.1 403 Forbidden/);
    expect(other).toContain('evil.example.org:443 is not on the egress allow-list');
    const port = await connect('127.0.0.1:1');
    expect(port).toMatch(/^HTTP\/1\.1 403 /);
    expect(lookups).toEqual([]);
    expect(echoConnections).toBe(0);
    expect(refusals).toHaveLength(2);
  });

  it('refuses a listed name that resolves to a private or metadata address, without connecting', async () => {
    const internal = await connect('internal.example.com:443');
    expect(internal).toMatch(/^HTTP\/1\.1 403 /);
    expect(internal).toContain('resolves to 10.0.0.7 (private)');
    const metadata = await connect('metadata.example.com:80');
    expect(metadata).toContain('169.254.169.254 (metadata)');
    const unknown = await connect('nowhere.allowed.example:443');
    expect(unknown).toMatch(/^HTTP\/1\.1 502 /);
    expect(unknown).toContain('could not be resolved (ENOTFOUND)');
    expect(lookups).toEqual(['internal.example.com', 'metadata.example.com', 'nowhere.allowed.example']);
  });

  it('connects to the checked address of a name, skipping those it may not reach', async () => {
    // mixed.example.com resolves to a private address first, then to loopback allowed by its own entry.
    const established = 'HTTP/1.1 200 Connection Established\r\n\r\n';
    const got = await connect(`mixed.example.com:${echoPort}`, 'hi', established.length + 2);
    expect(got).toBe(`${established}HI`);
  });

  it('refuses a malformed target', async () => {
    expect(await connect('no-port')).toMatch(/^HTTP\/1\.1 400 /);
  });
});

describe('absolute-form HTTP', () => {
  /** A plain HTTP request through the proxy, as curl or git send it with http_proxy set. */
  async function viaProxy(url: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: proxyPort, path: url, headers: { 'proxy-authorization': 'Basic eDp5' } },
        (res) => {
          let body = '';
          res.on('data', (d: Buffer) => {
            body += d.toString();
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  it('forwards to an allowed address with the Host it named and without proxy credentials', async () => {
    const r = await viaProxy(`http://127.0.0.1:${webPort}/repo.git/info/refs?service=x`);
    expect(r).toEqual({ status: 200, body: 'hello from /repo.git/info/refs?service=x' });
    expect(webRequests[0]?.headers.host).toBe(`127.0.0.1:${webPort}`);
    expect(webRequests[0]?.headers['proxy-authorization']).toBeUndefined();
  });

  it('refuses what the list does not allow, and https in absolute form', async () => {
    const refused = await viaProxy('http://127.0.0.1:1/');
    expect(refused.status).toBe(403);
    expect((await viaProxy('http://internal.example.com/')).body).toContain('(private)');
    expect((await viaProxy('https://github.com/')).status).toBe(400);
    expect(webRequests).toEqual([]);
  });
});

describe("a task's own hosts", () => {
  // decide() only resolves (a stand-in resolver) and checks: nothing here opens a connection.
  const proxy = new OutboundProxy({
    allow: parseAllowList(['registry.npmjs.org']).list,
    lookup: async (host) =>
      ({
        'task.example.net': ['93.184.216.34'],
        'registry.npmjs.org': ['104.16.0.35'],
        'sneaky.example.net': ['10.1.2.3'],
      })[host] ?? [],
    log: pino({ level: 'silent' }),
  });

  it('lets a task reach a host it added, and only that task', async () => {
    const without = await proxy.decide('task.example.net', 443);
    expect(without).toMatchObject({ ok: false, status: 403 });
    expect(without.ok ? '' : without.reason).toContain('rclaude run --allow-host task.example.net');
    expect(await proxy.decide('task.example.net', 443, ['task.example.net'])).toEqual({
      ok: true,
      address: '93.184.216.34',
    });
    expect(await proxy.decide('task.example.net', 8443, ['task.example.net'])).toMatchObject({ ok: false });
    expect(await proxy.decide('registry.npmjs.org', 443, ['task.example.net'])).toMatchObject({ ok: true });
  });

  it('never lets a task open a private address through a name it added', async () => {
    const decision = await proxy.decide('sneaky.example.net', 443, ['sneaky.example.net']);
    expect(decision).toMatchObject({ ok: false, status: 403 });
    expect(decision.ok ? '' : decision.reason).toContain('10.1.2.3 (private)');
  });
});
