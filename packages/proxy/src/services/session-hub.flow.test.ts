/**
 * Flow control at the proxy, over real Socket.io on loopback: a viewer that stops acknowledging is held to
 * its window while a fast viewer of the same session receives everything, and what the proxy keeps for the
 * slow one is the bounded output log, not a growing queue. Assertions bound bytes, never durations.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OffsetAssembler } from '@rclaude/protocol';
import { pino } from 'pino';
import { Server } from 'socket.io';
import { type Socket as ClientSocket, io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentRpc } from '../realtime/agent-rpc.js';
import { rooms } from '../realtime/rooms.js';
import { MemoryBus } from '../stores/memory-bus.js';
import { MemoryOutputLog } from '../stores/memory-output-log.js';
import { MemorySessionStore } from '../stores/memory-session-store.js';
import type { SessionState } from '../stores/types.js';
import {
  type AgentNamespace,
  type ClientNamespace,
  type ClientSocket as ServerClientSocket,
  SessionHub,
  VIEWER_WINDOW_BYTES,
} from './session-hub.js';

const MiB = 1024 * 1024;
const FRAME = 64 * 1024;
const LOG_MAX = 8 * MiB;

const state: SessionState = {
  id: 'flow_session',
  taskId: 'flowtask',
  sandboxId: 'flowsandbox',
  kind: 'main',
  command: ['yes'],
  status: 'running',
  cols: 80,
  rows: 24,
  exitCode: null,
  holder: 'proxy',
};

let url: string;
let io_: Server;
let hub: SessionHub;
let outputLog: MemoryOutputLog;
const serverSockets = new Map<string, ServerClientSocket>();
const consumed: { viewerId: string; offset: number }[] = [];
const clients: ClientSocket[] = [];

beforeAll(async () => {
  const http = createServer();
  io_ = new Server(http, { maxHttpBufferSize: 4 * MiB });
  const clientNs = io_.of('/client') as ClientNamespace;
  const agentNs = io_.of('/agent') as AgentNamespace;
  const sessions = new MemorySessionStore();
  outputLog = new MemoryOutputLog({ maxBytes: LOG_MAX });
  await sessions.put(state);
  hub = new SessionHub({
    proxyId: 'proxy',
    sessions,
    outputLog,
    bus: new MemoryBus(),
    clients: clientNs,
    agents: agentNs,
    rpc: createAgentRpc(agentNs),
    log: pino({ level: 'silent' }),
    onSessionExit: async () => {},
  });
  clientNs.on('connection', (socket) => {
    serverSockets.set(socket.id, socket);
    socket.on('pty:ack', ({ sessionId, offset }) => hub.onClientAck(socket, sessionId, offset));
  });
  agentNs.on('connection', (socket) => void socket.join(rooms.sandbox(state.sandboxId)));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  // A stand-in agent, to see the pacing information the proxy passes on.
  const agent = io(`${url}/agent`, { transports: ['websocket'] });
  agent.on('pty:consumed', (req: { viewerId: string; offset: number }) => {
    consumed.push(req);
  });
  clients.push(agent);
  await new Promise<void>((r) => agent.once('connect', () => r()));
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await hub?.close();
  await new Promise((r) => io_?.close(() => r(undefined)));
});

/** A viewer attached from offset 0; it acknowledges each frame only while `acking` is on. */
async function viewer(acking: boolean) {
  const socket = io(`${url}/client`, { transports: ['websocket'] });
  clients.push(socket);
  await new Promise<void>((r) => socket.once('connect', () => r()));
  const v = {
    socket,
    acking,
    assembler: new OffsetAssembler(0),
    hash: createHash('sha256'),
    received: 0,
    /** Offset where the first frame after a gap started (the log had dropped what this viewer missed). */
    gapAt: null as number | null,
  };
  socket.on('pty:output', (_sessionId: string, offset: number, data: Uint8Array) => {
    const fresh = v.assembler.accept(offset, new Uint8Array(data));
    if (fresh === 'gap') {
      v.gapAt ??= offset;
      return;
    }
    v.hash.update(fresh);
    v.received += fresh.byteLength;
    if (v.acking) socket.emit('pty:ack', { sessionId: state.id, offset: v.assembler.next });
  });
  const serverSocket = serverSockets.get(socket.id as string) as ServerClientSocket;
  const { start } = await hub.attach(serverSocket, state, { from: 0, readOnly: false });
  start();
  return v;
}

async function until<T>(what: string, fn: () => T, timeoutMs = 60_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

describe('SessionHub flow control', () => {
  it('holds a stalled viewer to its window while a fast one gets everything, keeping only the bounded log', async () => {
    const fast = await viewer(true);
    const slow = await viewer(false);
    // Both viewers are announced to the agent as they attach, so a stalled one paces the PTY as well.
    await until('both viewers announced', () => new Set(consumed.map((c) => c.viewerId)).size === 2);

    // The stand-in agent produces as the real one does: never more than its window ahead of the fastest viewer.
    const total = 24 * MiB;
    const agentWindow = 2 * MiB;
    const fastest = () => Math.max(0, ...consumed.map((c) => c.offset));
    const expected = createHash('sha256');
    let stored = 0;
    for (let offset = 0; offset < total; offset += FRAME) {
      if (offset - fastest() >= agentWindow)
        await until('the fastest viewer to move', () => offset - fastest() < agentWindow);
      const data = Buffer.alloc(FRAME, offset / FRAME);
      expected.update(data);
      hub.ingestOutput(state.id, offset, data, (end) => {
        stored = end;
      });
    }
    await until('the fast viewer to have everything', () => fast.received === total);
    expect(stored).toBe(total);
    expect(fast.hash.digest('hex')).toBe(expected.digest('hex'));
    expect(fast.gapAt).toBeNull();

    // Three times the log and twelve times the window went by; the stalled viewer holds one window.
    expect(slow.received).toBeGreaterThan(0);
    expect(slow.received).toBeLessThanOrEqual(VIEWER_WINDOW_BYTES + FRAME);
    const bounds = await outputLog.bounds(state.id);
    expect(bounds.end).toBe(total);
    expect(bounds.end - bounds.start).toBeLessThanOrEqual(LOG_MAX + FRAME);
    // The fast viewer's acknowledgements reach the agent: it paces the PTY, not the stalled one.
    await until("the fast viewer's last acknowledgement at the agent", () => fastest() === total);

    // The stalled viewer acknowledges again: what it missed was dropped from the log, so it is told where
    // the stored output now starts (a client then re-attaches from the screen) instead of being replayed.
    slow.acking = true;
    slow.socket.emit('pty:ack', { sessionId: state.id, offset: slow.assembler.next });
    const gapAt = await until('the slow viewer to learn of the gap', () => slow.gapAt);
    expect(gapAt).toBeGreaterThan(slow.assembler.next);
    expect(gapAt).toBeGreaterThanOrEqual(bounds.start);
  }, 120_000);
});
