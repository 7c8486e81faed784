import type { ProxyToAgentEvents } from '@rclaude/protocol';

/** Events of the agent namespace that are answered by acknowledgement. */
export type AgentRpcEvent = {
  [K in keyof ProxyToAgentEvents]: Parameters<ProxyToAgentEvents[K]> extends [unknown, (r: never) => void] ? K : never;
}[keyof ProxyToAgentEvents];

type AckData<K extends AgentRpcEvent> = Parameters<ProxyToAgentEvents[K]>[1] extends (r: infer R) => void
  ? R extends { ok: true; data: infer D }
    ? D
    : never
  : never;

/**
 * Calls the agent of a sandbox, wherever it is connected (this proxy or another, through the Socket.io
 * adapter). Rejects with AppError AGENT_UNAVAILABLE when no agent answers within `timeoutMs`, or with the
 * agent's own AppError (e.g. PATH_REFUSED).
 */
export interface AgentRpc {
  call<K extends AgentRpcEvent>(
    sandboxId: string,
    event: K,
    payload: Parameters<ProxyToAgentEvents[K]>[0],
    timeoutMs?: number,
  ): Promise<AckData<K>>;
}
