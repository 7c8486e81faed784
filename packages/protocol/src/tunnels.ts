import { z } from 'zod';
import { taskIdSchema } from './tasks.js';

/**
 * Tunnels: a byte stream from a client (the CLI's `rclaude ssh` and `rclaude port`, or the proxy's own port
 * preview) through the proxy to a task's agent. Both legs are HTTP/1.1 upgrades to this protocol: after the
 * `101 Switching Protocols` answer the connection carries raw bytes, so TCP (or the agent's Unix socket) does
 * the flow control. See docs/ssh-and-ports.md and adr/0017.
 */
export const TUNNEL_PROTOCOL = 'rclaude-tunnel';

/** What a tunnel reaches in the sandbox: the agent's SSH server, or a TCP port on the sandbox's loopback. */
export const tunnelKindSchema = z.enum(['ssh', 'port']);
export type TunnelKind = z.infer<typeof tunnelKindSchema>;

/** A TCP port number. */
export const portNumberSchema = z.coerce.number().int().min(1).max(65535);

/** The query of a client's tunnel upgrade (`GET /api/tasks/:id/tunnel?kind=ssh` or `?kind=port&port=3000`). */
export const tunnelQuerySchema = z
  .object({ kind: tunnelKindSchema, port: portNumberSchema.optional() })
  .strict()
  .refine((q) => (q.kind === 'port') === (q.port !== undefined), {
    message: 'kind=port needs a port; kind=ssh takes none',
  });
export type TunnelQuery = z.infer<typeof tunnelQuerySchema>;

/** The path of a task's tunnel upgrade on the proxy. */
export function tunnelPath(taskId: string, target: { kind: 'ssh' } | { kind: 'port'; port: number }): string {
  const query = target.kind === 'ssh' ? 'kind=ssh' : `kind=port&port=${target.port}`;
  return `/api/tasks/${encodeURIComponent(taskId)}/tunnel?${query}`;
}

/** The 101 answer to an `ssh` tunnel carries the sandbox's SSH host key (`ssh-ed25519 AAAA...`) in this header. */
export const TUNNEL_HOST_KEY_HEADER = 'x-rclaude-ssh-host-key';

/**
 * The agent's leg: asked by `tunnel:open`, the agent upgrades a connection to this path with the egress
 * headers (sandbox id, `authorization: Bearer <egressKey>`) and {@link TUNNEL_ID_HEADER}.
 */
export const AGENT_TUNNEL_PATH = '/agent/tunnel';
export const TUNNEL_ID_HEADER = 'x-rclaude-tunnel';

/** Tunnel ids the proxy makes: 32 base64url characters. */
export const tunnelIdSchema = z.string().regex(/^[A-Za-z0-9_-]{32}$/);

/** The proxy asks an agent to open its leg of a tunnel (`tunnel:open`). */
export const agentTunnelRequestSchema = z
  .object({
    tunnelId: tunnelIdSchema,
    kind: tunnelKindSchema,
    port: portNumberSchema.nullable(),
    /** For `ssh`: the environment the task's terminals get (the owner's secrets, never model credentials). */
    env: z.record(z.string(), z.string()),
  })
  .strict();
export type AgentTunnelRequest = z.infer<typeof agentTunnelRequestSchema>;

/** The agent's answer: for `ssh`, its host public key in OpenSSH format (one line). */
export const agentTunnelResultSchema = z.object({ hostKey: z.string().max(1024).nullable() }).strict();
export type AgentTunnelResult = z.infer<typeof agentTunnelResultSchema>;

/** `POST /api/tasks/:id/ports/:port/preview`: a link that serves the port in a browser. */
export const portParamsSchema = z.object({ id: taskIdSchema, port: portNumberSchema }).strict();

export const portPreviewSchema = z
  .object({
    /** Absolute URL of the preview (ends in `/`); it carries its own capability, so it needs no cookie. */
    url: z.string(),
    expiresAt: z.string(),
  })
  .strict();
export type PortPreview = z.infer<typeof portPreviewSchema>;

/** Where previews are served; the segment after it is the signed capability. */
export const PREVIEW_PATH_PREFIX = '/preview/';
