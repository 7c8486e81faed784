import net, { type Socket } from 'node:net';
import { type AgentTunnelRequest, type AgentTunnelResult, AppError, agentTunnelRequestSchema } from '@rclaude/protocol';
import type { Logger } from 'pino';
import { dialTunnel } from './dial-tunnel.js';
import { SandboxSshServer } from './ssh-server.js';

export interface AgentTunnelsOptions {
  proxyUrl: string;
  socketPath: string | undefined;
  sandboxId: string;
  /** The sandbox's egress key (from the proxy's hello), which also authenticates the agent's tunnel legs. */
  egressKey: () => string | null;
  workspace: string;
  /** The environment of a process started over SSH, from the session environment the proxy sent. */
  env: (extra: Record<string, string>) => Promise<Record<string, string>>;
  log: Logger;
  /** How long a port tunnel waits for the sandbox's port to accept. Default 5 s. */
  connectTimeoutMs?: number;
}

/**
 * The agent's side of tunnels (`tunnel:open`): for a port, connects to 127.0.0.1:PORT in the sandbox first (so
 * a closed port is an error the client sees), then dials the proxy back and joins the two; for ssh, dials back
 * and serves SSH on that connection. Answers only once its leg is open.
 */
export class AgentTunnels {
  readonly ssh: SandboxSshServer;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly opts: AgentTunnelsOptions) {
    this.ssh = new SandboxSshServer({ workspace: opts.workspace, log: opts.log });
  }

  async open(raw: AgentTunnelRequest): Promise<AgentTunnelResult> {
    const parsed = agentTunnelRequestSchema.safeParse(raw);
    if (!parsed.success) throw new AppError('BAD_REQUEST', 'invalid tunnel:open request');
    const req = parsed.data;
    const key = this.opts.egressKey();
    if (key === null) throw new AppError('AGENT_UNAVAILABLE', 'the sandbox is not connected to its server yet');
    if (req.kind === 'port') {
      const port = req.port ?? 0;
      const target = await this.connect(port);
      let leg: Socket;
      try {
        leg = await this.dial(req.tunnelId, key);
      } catch (err) {
        target.destroy();
        throw err;
      }
      this.join(target, leg);
      return { hostKey: null };
    }
    const env = await this.opts.env(req.env);
    const leg = await this.dial(req.tunnelId, key);
    this.ssh.serve(leg, env);
    return { hostKey: this.ssh.hostKey };
  }

  close(): void {
    this.ssh.close();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  private async dial(tunnelId: string, egressKey: string): Promise<Socket> {
    try {
      const leg = await dialTunnel({
        proxyUrl: this.opts.proxyUrl,
        socketPath: this.opts.socketPath,
        sandboxId: this.opts.sandboxId,
        egressKey,
        tunnelId,
      });
      this.track(leg);
      return leg;
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, 'tunnel: could not reach the proxy');
      throw new AppError('AGENT_UNAVAILABLE', 'the sandbox could not open its end of the tunnel');
    }
  }

  private connect(port: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      const timer = setTimeout(() => socket.destroy(new Error('timeout')), this.opts.connectTimeoutMs ?? 5000);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        this.track(socket);
        resolve(socket);
      });
      socket.once('error', () => {
        clearTimeout(timer);
        reject(new AppError('NOT_FOUND', `nothing accepts connections on port ${port} in the sandbox`));
      });
    });
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  private join(a: Socket, b: Socket): void {
    a.on('error', () => b.destroy());
    b.on('error', () => a.destroy());
    // Each side's end is passed on with end(), not destroy(): bytes still buffered towards the other side go out.
    a.once('close', () => b.end());
    b.once('close', () => a.end());
    a.pipe(b).pipe(a);
  }
}
