import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Agent } from '@rclaude/agent';
import { until } from '@rclaude/testkit';
import { pino } from 'pino';
import { Server } from 'socket.io';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listenAgentSocket } from './agent-socket-listener.js';

describe('listenAgentSocket', () => {
  let dir: string;
  let io: Server;
  const cleanups: (() => Promise<void> | void)[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'agent-socket-'));
    // A server on no TCP port at all: whatever connects comes through the Unix socket.
    io = new Server(createServer(), { serveClient: false });
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    await new Promise((resolve) => io.close(() => resolve(undefined)));
    await rm(dir, { recursive: true, force: true });
  });

  it('lets the real agent dial a unix: proxy URL, present its credentials and say hello', async () => {
    const auths: Record<string, unknown>[] = [];
    const hellos: string[] = [];
    io.of('/agent').use((socket, next) => {
      auths.push(socket.handshake.auth);
      next();
    });
    io.of('/agent').on('connection', (socket) => {
      socket.on('agent:hello', (_payload: unknown, ack: (res: unknown) => void) => {
        hellos.push(String(socket.handshake.auth.sandboxId));
        ack({ ok: true, data: { sessions: [], forget: [] } });
      });
    });
    const socketPath = path.join(dir, 'run', 'agent.sock');
    const listener = await listenAgentSocket(io, socketPath);
    cleanups.push(() => listener.close());
    expect(fs.statSync(socketPath).mode & 0o777).toBe(0o666);
    expect(fs.statSync(path.dirname(socketPath)).mode & 0o777).toBe(0o755);

    const token = randomBytes(16).toString('hex');
    const agent = new Agent({
      proxyUrl: `unix:${socketPath}`,
      sandboxId: 'sbx-unix',
      token,
      workspace: dir,
      home: dir,
      baseEnv: {},
      log: pino({ level: 'silent' }),
    });
    cleanups.push(() => agent.shutdown(0));
    agent.start();
    await until('the hello', () => hellos.includes('sbx-unix'));
    expect(auths[0]).toMatchObject({ sandboxId: 'sbx-unix', token });
  });

  it('answers only Socket.io there, not the HTTP API', async () => {
    const listener = await listenAgentSocket(io, path.join(dir, 'agent.sock'));
    cleanups.push(() => listener.close());
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = request({ socketPath: listener.path, path: '/api/tasks' }, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(404);
  });

  it('hands other WebSocket upgrades to `upgrade` (the egress gateway) and closes those it does not take', async () => {
    const taken: string[] = [];
    const listener = await listenAgentSocket(io, path.join(dir, 'agent.sock'), {
      upgrade: (req, socket) => {
        if (req.url !== '/agent/egress') return false;
        taken.push(req.url);
        socket.end('HTTP/1.1 418 Teapot\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
        return true;
      },
    });
    cleanups.push(() => listener.close());
    const upgradeTo = (urlPath: string) =>
      new Promise<number | 'closed'>((resolve) => {
        const req = request({
          socketPath: listener.path,
          path: urlPath,
          headers: { connection: 'upgrade', upgrade: 'websocket' },
        });
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', () => resolve('closed'));
        req.end();
      });
    expect(await upgradeTo('/agent/egress')).toBe(418);
    expect(await upgradeTo('/elsewhere')).toBe('closed');
    expect(taken).toEqual(['/agent/egress']);
  });

  it('replaces a stale socket file but refuses one a live server answers on, or a file that is no socket', async () => {
    const file = path.join(dir, 'agent.sock');
    // Another process listens there, then dies without cleaning up (as after a crash or kill -9).
    const other = spawn(process.execPath, ['-e', LISTEN, file], { stdio: ['ignore', 'pipe', 'inherit'] });
    cleanups.push(() => {
      other.kill('SIGKILL');
    });
    await once(other.stdout, 'data');
    await expect(listenAgentSocket(io, file)).rejects.toThrow(/another server is listening/);
    other.kill('SIGKILL');
    await once(other, 'exit');
    expect(fs.lstatSync(file).isSocket()).toBe(true);
    const listener = await listenAgentSocket(io, file);
    cleanups.push(() => listener.close());
    expect(listener.path).toBe(file);

    fs.writeFileSync(path.join(dir, 'not-a-socket'), 'x');
    await expect(listenAgentSocket(io, path.join(dir, 'not-a-socket'))).rejects.toThrow(/is not a socket/);
  });
});

const LISTEN = "require('node:net').createServer().listen(process.argv[1], () => process.stdout.write('up'))";
