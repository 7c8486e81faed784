import { type Ack, AppError } from '@rclaude/protocol';
import type { AgentRpc } from '../services/agent-rpc.js';
import type { AgentNamespace } from '../services/session-hub.js';
import { rooms } from './rooms.js';

/** AgentRpc, plus what the agent gateway tells it: an agent's connection to this proxy dropped. */
export interface LocalAgentRpc extends AgentRpc {
  /**
   * Fails the calls this proxy has waiting on `sandboxId`'s agent (AGENT_UNAVAILABLE): a request sent to a
   * connection that is gone is never answered, and a long poll (`files:changes`) would otherwise wait out its
   * whole timeout after the task stopped.
   */
  dropped(sandboxId: string): void;
}

/**
 * AgentRpc over Socket.io broadcast acknowledgements: the request goes to the sandbox's room, so it reaches
 * the agent on whichever proxy holds it (through the Redis adapter when there are several).
 */
export function createAgentRpc(agents: AgentNamespace, defaultTimeoutMs = 10_000): LocalAgentRpc {
  const waiting = new Map<string, Set<(err: AppError) => void>>();
  return {
    call(sandboxId, event, payload, timeoutMs = defaultTimeoutMs) {
      return new Promise((resolve, reject) => {
        const fail = (err: AppError) => {
          settle();
          reject(err);
        };
        const settle = () => {
          const set = waiting.get(sandboxId);
          set?.delete(fail);
          if (set?.size === 0) waiting.delete(sandboxId);
        };
        waiting.set(sandboxId, (waiting.get(sandboxId) ?? new Set()).add(fail));
        const target = agents.to(rooms.sandbox(sandboxId)).timeout(timeoutMs) as unknown as {
          emit: (ev: string, p: unknown, cb: (err: Error | null, responses: Ack<unknown>[]) => void) => void;
        };
        target.emit(event, payload, (err, responses) => {
          settle();
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
    dropped(sandboxId) {
      const calls = waiting.get(sandboxId);
      waiting.delete(sandboxId);
      for (const fail of calls ?? []) {
        fail(new AppError('AGENT_UNAVAILABLE', 'the sandbox disconnected before it answered'));
      }
    },
  };
}
