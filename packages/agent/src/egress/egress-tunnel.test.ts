import { once } from 'node:events';
import fs from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { AGENT_EGRESS_PATH, EGRESS_SANDBOX_HEADER } from '@rclaude/protocol';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { EgressTunnel } from './egress-tunnel.js';

const log = pino({ level: 'silent' });
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/**
 * A stand-in for the proxy's gateway: accepts WebSockets at the egress path whose key is `key` and echoes what
 * comes through, upper-cased; refuses others with 401 and a JSON error. Listens on a TCP port or a Unix socket.
 */
async function standIn(key: string, where: { socket: string } | { tcp: true }) {
  const seen: IncomingMessage['headers'][] = [];
  const wss = new WebSocketServer({ noServer: true });
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    seen.push(req.headers);
    if (req.url !== AGENT_EGRESS_PATH || req.headers.authorization !== `Bearer ${key}`) {
      const body = JSON.stringify({ error: { code: 'EGRESS_REFUSED', message: 'egress key refused' } });
      socket.end(`HTTP/1.1 401 Unauthorized\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const stream = createWebSocketStream(ws);
      stream.on('data', (d: Buffer) => stream.write(d.toString().toUpperCase()));
      stream.on('error', () => undefined);
    });
  });
  if ('socket' in where) server.listen(where.socket);
  else server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => {
    for (const c of wss.clients) c.terminate();
    server.close();
  });
  const address = server.address();
  return {
    seen,
    url: typeof address === 'object' && address ? `http://127.0.0.1:${address.port}` : 'http://localhost',
  };
}

/** Connects to the tunnel, writes `text`, and collects what comes back until `expected` bytes or the close. */
async function roundTrip(port: number, text: string, expected = text.length): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  let got = '';
  socket.on('data', (d: Buffer) => {
    got += d.toString();
    if (got.length >= expected) socket.end();
  });
  socket.write(text);
  await once(socket, 'close');
  return got;
}

describe('EgressTunnel', () => {
  it('pipes each loopback connection through its own WebSocket to the egress path, over a Unix socket', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'egress-tunnel-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const socketPath = path.join(dir, 'agent.sock');
    const proxy = await standIn('the-key', { socket: socketPath });
    const tunnel = new EgressTunnel({ proxyUrl: 'http://127.0.0.1:1', socketPath, sandboxId: 'sbx-1', log });
    cleanups.push(() => tunnel.close());
    const port = await tunnel.listen();
    tunnel.setKey('the-key');
    const [a, b] = await Promise.all([roundTrip(port, 'hello one'), roundTrip(port, 'hello two')]);
    expect([a, b]).toEqual(['HELLO ONE', 'HELLO TWO']);
    expect(proxy.seen).toHaveLength(2);
    expect(proxy.seen[0]?.[EGRESS_SANDBOX_HEADER]).toBe('sbx-1');
  });

  it('holds a connection made before the key until the hello gives it, over TCP to the proxy URL', async () => {
    const proxy = await standIn('late-key', { tcp: true });
    const tunnel = new EgressTunnel({ proxyUrl: proxy.url, sandboxId: 'sbx-2', log });
    cleanups.push(() => tunnel.close());
    const port = await tunnel.listen();
    const pending = roundTrip(port, 'early bytes');
    // About time passing: a while after the connection, nothing has gone to the proxy without a key.
    await new Promise((r) => setTimeout(r, 50));
    expect(proxy.seen).toHaveLength(0);
    tunnel.setKey('late-key');
    expect(await pending).toBe('EARLY BYTES');
  });

  it('answers a refused tunnel, or a key that never came, with an HTTP error naming the reason', async () => {
    const proxy = await standIn('right-key', { tcp: true });
    const refused = new EgressTunnel({ proxyUrl: proxy.url, sandboxId: 'sbx-3', log });
    cleanups.push(() => refused.close());
    refused.setKey('wrong-key');
    const answer = await roundTrip(await refused.listen(), 'POST /v1/messages HTTP/1.1\r\n\r\n', 1e9);
    expect(answer).toMatch(/^HTTP\/1\.1 502 /);
    expect(answer).toContain('rclaude egress: egress key refused');

    const keyless = new EgressTunnel({ proxyUrl: proxy.url, sandboxId: 'sbx-4', log, keyWaitMs: 100 });
    cleanups.push(() => keyless.close());
    const late = await roundTrip(await keyless.listen(), 'GET / HTTP/1.1\r\n\r\n', 1e9);
    expect(late).toMatch(/^HTTP\/1\.1 503 /);
    expect(late).toContain('not connected to its rclaude server yet');
    expect(proxy.seen).toHaveLength(1);
  });
});
