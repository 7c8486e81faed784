import net from 'node:net';
import { AGENT_EGRESS_PATH, EGRESS_SANDBOX_HEADER } from '@rclaude/protocol';
import type { Logger } from 'pino';
import { createWebSocketStream, WebSocket } from 'ws';

export interface EgressTunnelOptions {
  /** The proxy's URL (`http(s)://host[:port]`); with `socketPath`, only its path matters. */
  proxyUrl: string;
  /** The proxy's Unix socket, for a sandbox without a network of its own. */
  socketPath?: string | undefined;
  sandboxId: string;
  log: Logger;
  /** Loopback port to listen on; default 0 (a free one), so unconfined sandboxes on one host never collide. */
  port?: number;
  /** How long a connection waits for the egress key (the proxy's hello) before it is refused. Default 30 s. */
  keyWaitMs?: number;
}

/**
 * The sandbox's side of the egress gateway: a TCP listener on 127.0.0.1 that turns each accepted connection
 * into one WebSocket to the proxy's {@link AGENT_EGRESS_PATH} (over the agent socket when there is one), and
 * pipes the bytes both ways. Processes in the sandbox use it as their model endpoint (ANTHROPIC_BASE_URL) and,
 * where the gateway allows, as their HTTP proxy; the proxy adds the real credentials and decides what passes.
 */
export class EgressTunnel {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private key: string | null = null;
  private readonly keyWaiters = new Set<(key: string | null) => void>();
  private closed = false;

  constructor(private readonly opts: EgressTunnelOptions) {
    this.server = net.createServer((socket) => this.accept(socket));
  }

  /** Starts listening; resolves with the port. */
  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port ?? 0, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return (this.server.address() as net.AddressInfo).port;
  }

  /** The sandbox's egress key, from the proxy's hello result; connections waiting for it go on. */
  setKey(key: string): void {
    this.key = key;
    for (const w of this.keyWaiters) w(key);
    this.keyWaiters.clear();
  }

  get hasKey(): boolean {
    return this.key !== null;
  }

  /** The egress key, or null before the proxy's hello gave it (the checkpoint routes authenticate with it too). */
  get currentKey(): string | null {
    return this.key;
  }

  close(): void {
    this.closed = true;
    for (const w of this.keyWaiters) w(null);
    this.keyWaiters.clear();
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }

  private waitForKey(): Promise<string | null> {
    if (this.key !== null || this.closed) return Promise.resolve(this.key);
    return new Promise((resolve) => {
      const done = (key: string | null) => {
        clearTimeout(timer);
        this.keyWaiters.delete(done);
        resolve(key);
      };
      const timer = setTimeout(() => done(null), this.opts.keyWaitMs ?? 30_000);
      this.keyWaiters.add(done);
    });
  }

  private url(): string {
    if (this.opts.socketPath) return `ws+unix:${this.opts.socketPath}:${AGENT_EGRESS_PATH}`;
    const base = this.opts.proxyUrl.replace(/\/+$/, '').replace(/^http/, 'ws');
    return `${base}${AGENT_EGRESS_PATH}`;
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    // Bytes the client sends before the WebSocket is open wait in the socket.
    socket.pause();
    void this.waitForKey().then((key) => {
      if (socket.destroyed) return;
      if (key === null) {
        refuse(socket, 503, 'the sandbox is not connected to its rclaude server yet; try again');
        return;
      }
      this.tunnel(socket, key);
    });
  }

  private tunnel(socket: net.Socket, key: string): void {
    const ws = new WebSocket(this.url(), {
      headers: { [EGRESS_SANDBOX_HEADER]: this.opts.sandboxId, authorization: `Bearer ${key}` },
      perMessageDeflate: false,
      handshakeTimeout: 30_000,
    });
    const dropped = () => ws.terminate();
    socket.once('close', dropped);
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (body.length < 4096) body += d;
      });
      res.once('end', () => {
        let message = `the rclaude server refused this connection (${res.statusCode})`;
        try {
          const parsed = JSON.parse(body) as { error?: { message?: string } };
          if (parsed.error?.message) message = `rclaude egress: ${parsed.error.message}`;
        } catch {
          // Not JSON: keep the status line.
        }
        this.opts.log.warn({ status: res.statusCode, message }, 'egress connection refused');
        refuse(socket, 502, message);
      });
    });
    ws.once('error', (err) => {
      if (socket.destroyed) return;
      this.opts.log.warn({ err: err.message }, 'egress connection failed');
      refuse(socket, 502, `the rclaude server could not be reached for this connection (${err.message})`);
    });
    ws.once('open', () => {
      socket.off('close', dropped);
      const stream = createWebSocketStream(ws);
      stream.on('error', () => socket.destroy());
      socket.on('error', () => stream.destroy());
      stream.once('close', () => socket.destroy());
      socket.once('close', () => stream.destroy());
      socket.pipe(stream).pipe(socket);
      socket.resume();
    });
  }
}

/**
 * Answers a connection that cannot be tunnelled with an HTTP error in the Anthropic API's shape (everything
 * on this port speaks HTTP first: model requests and CONNECT alike), then closes it.
 */
function refuse(socket: net.Socket, status: number, message: string): void {
  const body = JSON.stringify({ type: 'error', error: { type: 'api_error', message } });
  socket.end(
    `HTTP/1.1 ${status} ${status === 503 ? 'Service Unavailable' : 'Bad Gateway'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}
