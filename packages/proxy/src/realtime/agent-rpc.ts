import { type Ack, AppError } from '@rclaude/protocol';
import type { AgentRpc } from '../services/agent-rpc.js';
import type { AgentNamespace } from '../services/session-hub.js';
import { rooms } from './rooms.js';

/**
 * AgentRpc over Socket.io broadcast acknowledgements: the request goes to the sandbox's room, so it reaches
 * the agent on whichever proxy holds it (through the Redis adapter when there are several).
 */
export function createAgentRpc(agents: AgentNamespace, defaultTimeoutMs = 10_000): AgentRpc {
  return {
    call(sandboxId, event, payload, timeoutMs = defaultTimeoutMs) {
      return new Promise((resolve, reject) => {
        const target = agents.to(rooms.sandbox(sandboxId)).timeout(timeoutMs) as unknown as {
          emit: (ev: string, p: unknown, cb: (err: Error | null, responses: Ack<unknown>[]) => void) => void;
        };
        target.emit(event, payload, (err, responses) => {
          const first = responses?.[0];
          if (!first) {
            reject(
              new AppError(
                err ? 'TIMEOUT' : 'AGENT_UNAVAILABLE',
                err ? 'the sandbox did not answer in time' : 'the sandbox is not connected right now',
              ),
            );
            return;
          }
          if (first.ok) resolve(first.data as never);
          else reject(AppError.from(first.error));
        });
      });
    },
  };
}
