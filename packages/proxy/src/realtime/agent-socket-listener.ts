import fs from 'node:fs';
import { createServer, type Server as HttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import type { Server } from 'socket.io';

/** A Unix socket on which the proxy's Socket.io server also accepts connections. */
export interface AgentSocketListener {
  /** Absolute path of the socket. */
  readonly path: string;
  /** Stops accepting connections here and removes the socket file; open connections end. */
  close(): Promise<void>;
}

export interface AgentSocketOptions {
  /**
   * Mode of the socket file. Default 0o666: a sandbox's agent runs as another uid (1000 in the sandbox image)
   * and must be able to connect; what it connects to still asks for its single-use token.
   */
  mode?: number;
  /**
   * Other WebSocket upgrades served here besides Socket.io's (the egress gateway): returns true when it took
   * the request. Default: none.
   */
  upgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer) => boolean;
  /** Other HTTP requests served here (the agents' checkpoint routes): returns true when it took the request. */
  request?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

/**
 * Serves `io` (the same Socket.io server, namespaces and middleware as the HTTP port) on a Unix socket too, for
 * sandboxes without a network of their own: the docker and local providers bind the socket's folder into each
 * sandbox. Only Socket.io's path (and the upgrades `options.upgrade` takes) is answered here, nothing else of the
 * HTTP API. A stale socket file left by a crash is
 * replaced; one that another live server answers on is not.
 */
export async function listenAgentSocket(
  io: Server,
  socketPath: string,
  options: AgentSocketOptions = {},
): Promise<AgentSocketListener> {
  const file = path.resolve(socketPath);
  await removeStaleSocket(file);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  const prefix = `${io.path()}/`;
  const engine = io.engine;
  const server: HttpServer = createServer((req, res) => {
    if (req.url?.startsWith(prefix)) {
      engine.handleRequest(req, res);
      return;
    }
    if (options.request?.(req, res)) return;
    res.writeHead(404).end();
  });
  server.on('upgrade', (req, socket, head) => {
    if (req.url?.startsWith(prefix)) engine.handleUpgrade(req, socket, head);
    else if (!options.upgrade?.(req, socket, head)) socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(file, () => {
      server.off('error', reject);
      resolve();
    });
  });
  fs.chmodSync(file, options.mode ?? 0o666);
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  return {
    path: file,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function removeStaleSocket(file: string): Promise<void> {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(file);
  } catch {
    return;
  }
  if (!stat.isSocket()) throw new Error(`${file} exists and is not a socket; remove it or choose another path`);
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(file);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new Error(`another server is listening on ${file}`);
  fs.rmSync(file, { force: true });
}
