/** Schemas of the operations routes (readiness, version, an agent's bootstrap exchange); see routes.ts. */
import { z } from 'zod';

/** `GET /readyz`: each dependency's check (`database`, and `redis` when configured). */
export const readyResponseSchema = z.object({
  ok: z.boolean(),
  checks: z.record(
    z.string(),
    // Whether each dependency answered; why not is in the server log, never in the answer.
    z.object({ ok: z.boolean() }).strict(),
  ),
});
export type ReadyResponse = z.infer<typeof readyResponseSchema>;

/** `GET /api/version`: which server the client talks to. */
export const versionResponseSchema = z.object({
  /** The server's version (its package version, e.g. `0.1.0`). */
  version: z.string(),
});
export type VersionResponse = z.infer<typeof versionResponseSchema>;

/**
 * `POST /api/agent/bootstrap`: a sandbox's agent exchanges the one-time bootstrap reference it was started with
 * (providers whose start-up values pass through a cloud API, e.g. ECS task overrides) for its agent token. The
 * reference dies at the exchange, or unused after AGENT_TOKEN_TTL_MS.
 */
export const agentBootstrapRequestSchema = z
  .object({ sandboxId: z.string().min(1).max(64), bootstrap: z.string().min(1).max(256) })
  .strict();
export type AgentBootstrapRequest = z.infer<typeof agentBootstrapRequestSchema>;
export const agentBootstrapResponseSchema = z.object({
  /** The token the agent presents at its Socket.io handshake (single-use too: replaced at that handshake). */
  token: z.string(),
});
export type AgentBootstrapResponse = z.infer<typeof agentBootstrapResponseSchema>;
