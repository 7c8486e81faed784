import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import {
  AppError,
  errorBodySchema,
  TUNNEL_HOST_KEY_HEADER,
  TUNNEL_PROTOCOL,
  type TunnelKind,
  tunnelPath,
} from '@rclaude/protocol';

/** An open tunnel to a task's sandbox: raw bytes both ways, and for ssh the sandbox's host key. */
export interface ClientTunnel {
  socket: Socket;
  hostKey: string | null;
}

/**
 * Opens a tunnel (an HTTP/1.1 upgrade to {@link TUNNEL_PROTOCOL} at `/api/tasks/:id/tunnel`) with the user's
 * token. Refusals come back as the server's AppError (NOT_FOUND, TASK_NOT_RUNNING, RATE_LIMITED...).
 */
export function openTunnel(
  server: string,
  token: string,
  taskId: string,
  target: { kind: 'ssh' } | { kind: 'port'; port: number },
): Promise<ClientTunnel> {
  // The server URL may carry a path prefix: keep it.
  const url = new URL(server);
  const [path, query] = tunnelPath(taskId, target).split('?');
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${path}`;
  url.search = query ?? '';
  const request = (url.protocol === 'https:' ? https : http).request(url, {
    method: 'GET',
    headers: { connection: 'Upgrade', upgrade: TUNNEL_PROTOCOL, authorization: `Bearer ${token}` },
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => request.destroy(new Error('the server did not open the tunnel in time')), 60_000);
    request.once('upgrade', (res, socket, head) => {
      clearTimeout(timer);
      if (head.length > 0) socket.unshift(head);
      const key = res.headers[TUNNEL_HOST_KEY_HEADER];
      resolve({
        socket,
        hostKey: typeof key === 'string' && /^ssh-[a-z0-9-]+ [A-Za-z0-9+/=]+$/.test(key) ? key : null,
      });
    });
    request.once('response', (res) => {
      clearTimeout(timer);
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (body.length < 16_384) body += d;
      });
      res.once('end', () => {
        try {
          const parsed = errorBodySchema.safeParse(JSON.parse(body));
          if (parsed.success) {
            reject(new AppError(parsed.data.error.code, parsed.data.error.message));
            return;
          }
        } catch {
          // Not the server's JSON: a proxy in between answered.
        }
        reject(
          new AppError(
            res.statusCode === 401 ? 'UNAUTHENTICATED' : 'INTERNAL',
            `the server refused the tunnel (HTTP ${res.statusCode}); a proxy in front of it must pass HTTP upgrades`,
          ),
        );
      });
    });
    request.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    request.end();
  });
}

export type { TunnelKind };
