import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { AGENT_TUNNEL_PATH, EGRESS_SANDBOX_HEADER, TUNNEL_ID_HEADER, TUNNEL_PROTOCOL } from '@rclaude/protocol';

export interface DialTunnelOptions {
  /** The proxy's URL; with `socketPath`, only its path prefix matters. */
  proxyUrl: string;
  /** The proxy's Unix socket, for a sandbox without a network of its own. */
  socketPath?: string | undefined;
  sandboxId: string;
  egressKey: string;
  tunnelId: string;
  /** Give up on the upgrade after this long. Default 15 s. */
  timeoutMs?: number;
}

/**
 * Opens the agent's leg of a tunnel: an HTTP/1.1 upgrade to {@link TUNNEL_PROTOCOL} at {@link AGENT_TUNNEL_PATH}
 * (over the agent socket when there is one), authenticated like the egress gateway. Resolves with the raw
 * connection once the proxy has answered 101; from then on its bytes are the client's.
 */
export function dialTunnel(opts: DialTunnelOptions): Promise<Socket> {
  const base = new URL(opts.proxyUrl);
  const path = `${base.pathname.replace(/\/+$/, '')}${AGENT_TUNNEL_PATH}`;
  const headers = {
    connection: 'Upgrade',
    upgrade: TUNNEL_PROTOCOL,
    [EGRESS_SANDBOX_HEADER]: opts.sandboxId,
    authorization: `Bearer ${opts.egressKey}`,
    [TUNNEL_ID_HEADER]: opts.tunnelId,
  };
  const request =
    opts.socketPath !== undefined
      ? http.request({ socketPath: opts.socketPath, path, headers, method: 'GET' })
      : (base.protocol === 'https:' ? https : http).request(base, { path, headers, method: 'GET' });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      request.destroy(new Error('the proxy did not accept the tunnel in time'));
    }, opts.timeoutMs ?? 15_000);
    request.once('upgrade', (_res, socket, head) => {
      clearTimeout(timer);
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    request.once('response', (res) => {
      clearTimeout(timer);
      res.resume();
      reject(new Error(`the proxy refused the tunnel (${res.statusCode})`));
    });
    request.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    request.end();
  });
}
