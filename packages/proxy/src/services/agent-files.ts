import { type AgentFileReadResult, AppError, type WriteFileResponse, writeFileResponseSchema } from '@rclaude/protocol';
import type { AgentRpc } from './agent-rpc.js';

/**
 * The agent's file RPCs, with their answers checked: the agent runs next to user code, so what it sends back
 * is validated before anything relays or stores it.
 */

/** Bytes as the agent RPC payloads type them. */
export type Bytes = Uint8Array<ArrayBuffer>;

export function agentMalformed(): AppError {
  return new AppError('AGENT_UNAVAILABLE', "the sandbox's agent gave a malformed answer");
}

/** Reads at most `length` bytes of `path` from `offset`. */
export async function readAgentFile(
  rpc: AgentRpc,
  sandboxId: string,
  path: string,
  offset: number,
  length: number,
  timeoutMs?: number,
): Promise<AgentFileReadResult> {
  const value: unknown = await rpc.call(sandboxId, 'files:read', { path, offset, length }, timeoutMs);
  if (typeof value !== 'object' || value === null) throw agentMalformed();
  const { data, size, eof } = value as Partial<AgentFileReadResult>;
  if (!(data instanceof Uint8Array) || !Number.isSafeInteger(size) || typeof eof !== 'boolean') throw agentMalformed();
  return { data: data.byteLength > length ? data.subarray(0, length) : data, size: Math.max(0, size ?? 0), eof };
}

/** Writes `chunks` to `path` (the first truncates, the rest append); an empty source makes an empty file. */
export async function writeAgentFile(
  rpc: AgentRpc,
  sandboxId: string,
  path: string,
  chunks: AsyncIterable<Bytes> | Iterable<Bytes>,
  timeoutMs?: number,
): Promise<WriteFileResponse> {
  const write = async (data: Bytes, mode: 'truncate' | 'append') => {
    const parsed = writeFileResponseSchema.safeParse(
      await rpc.call(sandboxId, 'files:write', { path, data, mode }, timeoutMs),
    );
    if (!parsed.success) throw agentMalformed();
    return parsed.data;
  };
  let last: WriteFileResponse | null = null;
  for await (const data of chunks) last = await write(data, last === null ? 'truncate' : 'append');
  return last ?? write(new Uint8Array(0), 'truncate');
}
