/**
 * The channel processes inside the sandbox use to report to the agent: Claude Code's hook command
 * (hooks-report.ts) and the session runner of prompt tasks (prompt/session-runner.ts). A unix socket in a
 * private folder of the agent; one JSON object per line. Its path reaches those processes as
 * `RCLAUDE_EVENTS_SOCKET`, the session they belong to as `RCLAUDE_SESSION_ID`.
 *
 * A `{"kind":"flush"}` line is answered with `ok\n` once every line before it has been handed to the agent,
 * so a runner can make sure its events go out before its exit does.
 */
import { chmod } from 'node:fs/promises';
import net from 'node:net';
import process from 'node:process';

export type ChannelMessage =
  /** A Claude Code hook fired; `payload` holds the hook input's fields rclaude reads. */
  | { kind: 'hook'; sessionId: string | null; payload: Record<string, unknown> }
  /** A task event to record as is (type and data are validated by the proxy). */
  | { kind: 'event'; sessionId: string | null; type: string; data: Record<string, unknown> }
  /**
   * Claude Code asks a permission (approval-hook.ts). The hook waits on the same connection for one answer
   * line, `{"behavior":"allow"|"deny","message":...}`, from the agent.
   */
  | { kind: 'approval'; sessionId: string | null; payload: Record<string, unknown> };

/** The agent's end of one reporting process's connection: answer it, or hear that it went away. */
export interface ChannelConnection {
  reply(value: unknown): void;
  /** Closes the connection (the hook then exits with no answer). */
  end(): void;
  readonly closed: boolean;
  onClose(cb: () => void): void;
}

/** Longest line the agent reads; a longer one closes the connection. */
export const CHANNEL_LINE_MAX_BYTES = 1024 * 1024;

/** Environment variables that tell processes in a session where to report. */
export const EVENTS_SOCKET_ENV = 'RCLAUDE_EVENTS_SOCKET';
export const SESSION_ID_ENV = 'RCLAUDE_SESSION_ID';

export interface EventChannel {
  readonly path: string;
  close(): Promise<void>;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks a line's shape; anything else is dropped. */
export function parseChannelMessage(value: unknown): ChannelMessage | 'flush' | null {
  if (!isRecord(value)) return null;
  if (value.kind === 'flush') return 'flush';
  const sessionId = typeof value.sessionId === 'string' ? value.sessionId : null;
  if (value.kind === 'hook' && isRecord(value.payload)) return { kind: 'hook', sessionId, payload: value.payload };
  if (value.kind === 'approval' && isRecord(value.payload)) {
    return { kind: 'approval', sessionId, payload: value.payload };
  }
  if (value.kind === 'event' && typeof value.type === 'string' && isRecord(value.data)) {
    return { kind: 'event', sessionId, type: value.type, data: value.data };
  }
  return null;
}

/** Listens on `path` (its folder must be private to the agent's user) and hands each message over in order. */
export async function startEventChannel(opts: {
  path: string;
  onMessage: (msg: ChannelMessage, conn: ChannelConnection) => void;
}): Promise<EventChannel> {
  const connections = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
    socket.on('error', () => socket.destroy());
    const conn: ChannelConnection = {
      reply: (value) => {
        if (!socket.destroyed) socket.write(`${JSON.stringify(value)}\n`);
      },
      end: () => socket.end(),
      get closed() {
        return socket.destroyed;
      },
      onClose: (cb) => socket.once('close', cb),
    };
    let buffered: Buffer[] = [];
    let bytes = 0;
    socket.on('data', (chunk: Buffer) => {
      let start = 0;
      for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
        buffered.push(chunk.subarray(start, nl));
        const line = Buffer.concat(buffered).toString('utf8');
        buffered = [];
        bytes = 0;
        start = nl + 1;
        handleLine(line, socket, conn);
      }
      if (start < chunk.length) {
        buffered.push(chunk.subarray(start));
        bytes += chunk.length - start;
        if (bytes > CHANNEL_LINE_MAX_BYTES) socket.destroy();
      }
    });
  });
  const handleLine = (line: string, socket: net.Socket, conn: ChannelConnection) => {
    if (!line.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return;
    }
    const msg = parseChannelMessage(value);
    if (msg === 'flush') socket.write('ok\n');
    else if (msg) opts.onMessage(msg, conn);
  };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(opts.path, 0o600);
  return {
    path: opts.path,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of connections) c.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A reporting process's end of the channel. */
export interface EventChannelClient {
  send(msg: ChannelMessage): void;
  /** Resolves once the agent has taken every message sent so far (or after `timeoutMs`, or if it is gone). */
  flush(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
  /** Resolves when the connection is gone (closed by either side). */
  readonly closed: Promise<void>;
}

/** Connects to the agent's channel; null when there is none (not under an agent) or it does not answer. */
export async function connectEventChannel(
  path: string | undefined,
  timeoutMs = 2000,
  opts: {
    /** Lines from the agent that answer no flush (an approval's decision). */
    onLine?: (line: string) => void;
  } = {},
): Promise<EventChannelClient | null> {
  if (!path) return null;
  const socket = net.createConnection(path);
  const connected = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(true);
    });
    socket.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  if (!connected) {
    socket.destroy();
    return null;
  }
  socket.on('error', () => socket.destroy());
  let received = '';
  const waiters: (() => void)[] = [];
  socket.setEncoding('utf8').on('data', (d: string) => {
    received += d;
    for (let nl = received.indexOf('\n'); nl >= 0; nl = received.indexOf('\n')) {
      const line = received.slice(0, nl);
      received = received.slice(nl + 1);
      if (line === 'ok' && waiters.length > 0) waiters.shift()?.();
      else opts.onLine?.(line);
    }
  });
  const closed = new Promise<void>((resolve) => {
    socket.on('close', () => {
      for (const w of waiters.splice(0)) w();
      resolve();
    });
  });
  return {
    closed,
    send(msg) {
      if (!socket.destroyed) socket.write(`${JSON.stringify(msg)}\n`);
    },
    flush(flushTimeoutMs = 5000) {
      if (socket.destroyed) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, flushTimeoutMs);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
        socket.write('{"kind":"flush"}\n');
      });
    },
    close() {
      if (socket.destroyed) return Promise.resolve();
      return new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.end();
      });
    },
  };
}

/** Most bytes of hook input read from stdin; Claude Code's hook inputs are far smaller. */
const HOOK_INPUT_MAX_BYTES = 4 * 1024 * 1024;

/** A hook command's input: what Claude Code writes to its stdin (one JSON object), read up to a bound. */
export async function readHookInput(): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    bytes += chunk.length;
    if (bytes > HOOK_INPUT_MAX_BYTES) break;
  }
  return Buffer.concat(chunks).toString('utf8');
}
