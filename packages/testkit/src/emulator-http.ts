import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request an emulator received, kept in arrival order for assertions. */
export interface EmulatorRequest {
  /** Which server of the emulator answered (`ecs`; for E2B `api` or `envd`). */
  service: string;
  /** Operation name: the ECS target (`RunTask`), or an E2B route name (`createSandbox`, `process.Start`). */
  operation: string;
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON body, the raw text when it was not JSON, or null when empty/binary. */
  body: unknown;
  /** HTTP status the emulator answered with (0 while a stream is still open). */
  status: number;
}

/** A loopback HTTP server that destroys its open connections on close. */
export interface LoopbackServer {
  url: string;
  server: http.Server;
  close(): Promise<void>;
}

/** Starts `handler` on 127.0.0.1 port 0. Handler errors become a 500 rather than a crash. */
export async function listenLoopback(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>,
): Promise<LoopbackServer> {
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    handler(req, res).catch((error: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: `emulator error: ${String(error)}` }));
      } else {
        res.destroy();
      }
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Reads a whole request body, refusing more than `limit` bytes. */
export async function readBody(req: http.IncomingMessage, limit = 16 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) throw new Error(`request body over ${limit} bytes`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** Parses JSON leniently for the request log: text that is not JSON is kept as text. */
export function parseLogged(buf: Buffer, contentType: string | undefined): unknown {
  if (buf.length === 0) return null;
  if (contentType && !/json|text/.test(contentType)) return null;
  const text = buf.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/** A queue of one-shot failure injections, consumed in order by the first matching call. */
export class FailureQueue<F extends { times?: number }> {
  private readonly items: { failure: F; left: number }[] = [];

  push(failure: F): void {
    this.items.push({ failure, left: failure.times ?? 1 });
  }

  /** Takes one use of the first queued failure that `matches` accepts. */
  take(matches: (failure: F) => boolean): F | null {
    const index = this.items.findIndex((item) => matches(item.failure));
    if (index < 0) return null;
    const item = this.items[index]!;
    item.left -= 1;
    if (item.left <= 0) this.items.splice(index, 1);
    return item.failure;
  }

  get size(): number {
    return this.items.length;
  }
}
