import {
  type AgentToProxyEvents,
  AppError,
  type AttachResult,
  type ClientToServerEvents,
  type ExitInfo,
  type ProxyToAgentEvents,
  type ScreenSnapshot,
  type ServerToClientEvents,
  type SessionInfo,
} from '@rclaude/protocol';
import type { Logger } from 'pino';
import type { Namespace, Socket } from 'socket.io';
import type { Bus, OutputLog, SessionState, SessionStore } from '../stores/types.js';
import type { AgentRpc } from './agent-rpc.js';
import { rooms } from './room-names.js';

export type ClientNamespace = Namespace<ClientToServerEvents, ServerToClientEvents>;
export type AgentNamespace = Namespace<AgentToProxyEvents, ProxyToAgentEvents>;
export type ClientSocket = Socket<ClientToServerEvents, ServerToClientEvents>;

/**
 * Bytes a viewer may have in flight (sent, not yet acknowledged as rendered). Bounds proxy memory per viewer;
 * as large as the agent's pacing window (FlowLimits.viewerHigh), so the fastest viewer is paced by the agent
 * alone and never waits on a replay from the log.
 */
export const VIEWER_WINDOW_BYTES = 2 * 1024 * 1024;
/** Largest frame read from the log for a catching-up viewer. */
const REPLAY_FRAME_BYTES = 128 * 1024;

interface Viewer {
  key: string;
  socket: ClientSocket;
  sessionId: string;
  sandboxId: string;
  /** Next offset to send. */
  cursor: number;
  /** Rendered up to here, per the client's acks. */
  acked: number;
  readOnly: boolean;
  /**
   * Whether its acks pace the program (the agent holds output for the fastest viewer). False for viewers who are
   * not the task's people (share links): a viewer acking slowly on purpose must not pause someone else's task.
   */
  pacesAgent: boolean;
  /** False until the client has its attach answer: output sent earlier would reach a client not ready for it. */
  started: boolean;
  pumping: boolean;
  closed: boolean;
}

export interface SessionHubDeps {
  proxyId: string;
  sessions: SessionStore;
  outputLog: OutputLog;
  bus: Bus;
  clients: ClientNamespace;
  agents: AgentNamespace;
  rpc: AgentRpc;
  log: Logger;
  /** A session's state, rebuilt if the live store lost it (AgentSessions.resolveSessionState). */
  resolveState?: (sessionId: string) => Promise<SessionState | null>;
  /** Called on the proxy holding the agent, once per session exit, after all output is stored. */
  onSessionExit: (state: SessionState, info: ExitInfo) => Promise<void>;
  onBytesStored?: (bytes: number) => void;
  /** The proxy's clock (ms since the epoch): what an agent's output times are clamped to. */
  now?: () => number;
}

/**
 * When output was produced, for the recording: the agent's stamp, but never later than the proxy received it
 * nor earlier than the previous frame of the session (a sandbox's clock may be wrong, or lie). A missing or
 * malformed stamp is the receive time.
 */
export function clampOutputTime(stamp: unknown, received: number, previous: number): number {
  const at = typeof stamp === 'number' && Number.isFinite(stamp) && stamp > 0 ? Math.min(stamp, received) : received;
  return Math.round(Math.max(at, previous));
}

/**
 * The terminal stream relay. On the proxy holding a sandbox's agent it stores output in order (one append
 * chain per session) and acknowledges it to the agent; on every proxy it serves attached viewers from a
 * per-viewer cursor, straight from memory when the viewer keeps up and from the output log when it lags,
 * so a slow viewer neither stalls others nor grows memory past its window.
 */
export class SessionHub {
  private readonly chains = new Map<string, Promise<void>>();
  private readonly viewers = new Map<string, Set<Viewer>>();
  /** Highest stored offset known on this proxy, per session with viewers here. */
  private readonly ends = new Map<string, number>();
  private readonly unsubscribes = new Map<string, Promise<() => Promise<void>>>();
  /** The time of the last frame stored per session on this proxy (while it has frames queued or recently). */
  private readonly lastAt = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly deps: SessionHubDeps) {
    this.now = deps.now ?? Date.now;
  }

  // ---- holder side: output from an agent connected to this proxy -------------------------------

  /**
   * Stores output in order; `ackStored` tells the agent what it may drop. `stamp` is the agent's time for the
   * bytes (see {@link clampOutputTime}).
   */
  ingestOutput(
    sessionId: string,
    offset: number,
    data: Uint8Array,
    ackStored: (offset: number) => void,
    stamp?: unknown,
  ): void {
    const at = clampOutputTime(stamp, this.now(), this.lastAt.get(sessionId) ?? 0);
    this.lastAt.set(sessionId, at);
    void this.enqueue(sessionId, async () => {
      const end = await this.append(sessionId, offset, data, at);
      ackStored(end);
      this.deps.onBytesStored?.(data.byteLength);
      this.deliverLocal(sessionId, offset, data, end);
      // Viewers on other proxies pump from the log when told; with no other proxy there is no one to tell.
      if (this.deps.bus.shared) {
        await this.deps.bus.publish(channel(sessionId), JSON.stringify({ from: this.deps.proxyId, end }));
      }
    });
  }

  /**
   * Appends, and if the log refuses a gap because it lost its contents (Redis restarted empty), continues
   * from this chunk: the bytes already lost are gone, but the stream goes on instead of stalling.
   */
  private async append(sessionId: string, offset: number, data: Uint8Array, at: number): Promise<number> {
    try {
      return await this.deps.outputLog.append(sessionId, offset, data, at);
    } catch (err) {
      const { end } = await this.deps.outputLog.bounds(sessionId);
      if (offset <= end) throw err;
      this.deps.log.warn({ sessionId, stored: end, offset }, 'output log lost bytes; continuing from the agent');
      await this.deps.outputLog.skipTo(sessionId, offset);
      return this.deps.outputLog.append(sessionId, offset, data, at);
    }
  }

  /**
   * Records an exit once every byte before it is stored (it queues behind the session's appends), then
   * lets the task service react outside the queue, so its own waiting on the queue cannot deadlock.
   */
  ingestExit(sessionId: string, sandboxId: string, info: ExitInfo): void {
    let exited: SessionState | null = null;
    const stored = this.enqueue(sessionId, async () => {
      const state = await (this.deps.resolveState ?? ((id: string) => this.deps.sessions.get(id)))(sessionId);
      if (!state || state.sandboxId !== sandboxId || state.status === 'exited') return;
      await this.deps.sessions.patch(sessionId, { status: 'exited', exitCode: info.exitCode });
      const screen = await this.fetchScreen(state).catch(() => null);
      if (screen) await this.deps.sessions.putScreen(sessionId, screen);
      this.deps.clients.to(rooms.session(sessionId)).emit('pty:exit', info);
      exited = { ...state, status: 'exited', exitCode: info.exitCode };
    });
    void stored.then(async () => {
      if (!exited) return;
      await this.deps.onSessionExit(exited, info).catch((err: unknown) => {
        this.deps.log.error({ err, sessionId }, 'handling session exit failed');
      });
    });
  }

  private enqueue(sessionId: string, work: () => Promise<void>): Promise<void> {
    const prev = this.chains.get(sessionId) ?? Promise.resolve();
    const next = prev.then(work).catch((err: unknown) => {
      this.deps.log.error({ err, sessionId }, 'storing session output failed');
    });
    this.chains.set(sessionId, next);
    void next.then(() => {
      if (this.chains.get(sessionId) === next) {
        this.chains.delete(sessionId);
        this.lastAt.delete(sessionId);
      }
    });
    return next;
  }

  /** Resolves when everything queued for the session so far is stored. */
  async settled(sessionId: string): Promise<void> {
    await this.chains.get(sessionId);
  }

  // ---- viewer side -----------------------------------------------------------------------------

  async attach(
    socket: ClientSocket,
    initial: SessionState,
    req: {
      from: number | 'screen';
      readOnly: boolean;
      cols?: number | undefined;
      rows?: number | undefined;
      /** Default true; false: this viewer's pace never reaches the agent. */
      pacesAgent?: boolean;
    },
  ): Promise<{ result: AttachResult; start: () => void }> {
    const room = rooms.session(initial.id);
    const wasAttached = this.viewerOf(socket, initial.id) !== null;
    // Join first, then read the state: a status change between the two is then never missed.
    await socket.join(room);
    let state: SessionState;
    let bounds: { start: number; end: number };
    let screen: ScreenSnapshot | null = null;
    let from: number;
    try {
      state = (await this.deps.sessions.get(initial.id)) ?? initial;
      bounds = await this.deps.outputLog.bounds(state.id);
      if (req.from === 'screen') {
        screen = await this.fetchScreen(state).catch(() => null);
        from = screen && screen.offset >= bounds.start ? screen.offset : bounds.start;
        if (screen && screen.offset < bounds.start) screen = null;
      } else {
        if (req.from > bounds.end) {
          throw new AppError('BAD_REQUEST', `offset ${req.from} is beyond the stored output (${bounds.end} bytes)`);
        }
        // Bytes before `start` were trimmed from the bounded log; the client sees the gap and asks for the screen.
        from = Math.max(req.from, bounds.start);
      }
    } catch (err) {
      // A refused attach leaves the client as it was: still attached if it was, out of the room if not.
      if (!wasAttached) await socket.leave(room);
      throw err;
    }
    // A second attach of the same client replaces its first.
    this.detach(socket, state.id, { stayInRoom: true });
    const key = `${socket.id}:${state.id}`;
    const viewer: Viewer = {
      key,
      socket,
      sessionId: state.id,
      sandboxId: state.sandboxId,
      cursor: from,
      acked: from,
      readOnly: req.readOnly,
      pacesAgent: req.pacesAgent ?? true,
      started: false,
      pumping: false,
      closed: false,
    };
    let set = this.viewers.get(state.id);
    if (!set) {
      set = new Set();
      this.viewers.set(state.id, set);
    }
    set.add(viewer);
    this.ends.set(state.id, Math.max(this.ends.get(state.id) ?? 0, bounds.end));
    this.subscribe(state.id);
    const clients = await this.deps.sessions.addClient(state.id, key);
    if (!req.readOnly && req.cols && req.rows && state.status !== 'exited') {
      this.resize(state.sandboxId, { sessionId: state.id, cols: req.cols, rows: req.rows });
    }
    const session = toInfo(state, bounds, clients);
    const start = () => {
      viewer.started = true;
      // The agent paces the PTY on its viewers from their first acknowledgement on; announcing the viewer now
      // makes one that never acknowledges anything hold the PTY back too (until it counts as stale).
      if (viewer.pacesAgent) {
        this.toAgent(state.sandboxId).emit('pty:consumed', { sessionId: state.id, viewerId: key, offset: from });
      }
      void this.pump(viewer);
    };
    return { result: { session, screen, from }, start };
  }

  detach(socket: ClientSocket, sessionId: string, opts: { stayInRoom?: boolean } = {}): void {
    const set = this.viewers.get(sessionId);
    if (!set) return;
    for (const v of set) {
      if (v.socket !== socket) continue;
      v.closed = true;
      set.delete(v);
      if (!opts.stayInRoom) void socket.leave(rooms.session(sessionId));
      if (v.pacesAgent) this.toAgent(v.sandboxId).emit('pty:viewer-gone', { sessionId, viewerId: v.key });
      void this.deps.sessions.removeClient(sessionId, v.key).catch(() => undefined);
    }
    if (set.size === 0) {
      this.viewers.delete(sessionId);
      this.ends.delete(sessionId);
      void this.unsubscribe(sessionId);
    }
  }

  detachAll(socket: ClientSocket): void {
    for (const sessionId of [...this.viewers.keys()]) this.detach(socket, sessionId);
  }

  /** Clients attached on this proxy, over all sessions. */
  viewerCount(): number {
    let n = 0;
    for (const set of this.viewers.values()) n += set.size;
    return n;
  }

  viewerOf(socket: ClientSocket, sessionId: string): { readOnly: boolean; sandboxId: string } | null {
    for (const v of this.viewers.get(sessionId) ?? []) if (v.socket === socket) return v;
    return null;
  }

  /** The client rendered up to `offset`: open its window and tell the agent how fast viewers are. */
  onClientAck(socket: ClientSocket, sessionId: string, offset: number): void {
    for (const v of this.viewers.get(sessionId) ?? []) {
      if (v.socket !== socket) continue;
      if (offset <= v.acked || offset > v.cursor) return;
      v.acked = offset;
      if (v.pacesAgent) this.toAgent(v.sandboxId).emit('pty:consumed', { sessionId, viewerId: v.key, offset });
      void this.pump(v);
    }
  }

  /** Asks the agent to resize the session's PTY, and notes the size in its recording. */
  resize(sandboxId: string, req: { sessionId: string; cols: number; rows: number }): void {
    this.toAgent(sandboxId).emit('pty:resize', req);
    void this.deps.outputLog
      .recordResize(req.sessionId, { at: this.now(), cols: req.cols, rows: req.rows })
      .catch((err: unknown) => this.deps.log.warn({ err, sessionId: req.sessionId }, 'recording a resize failed'));
  }

  toAgent(sandboxId: string): ReturnType<AgentNamespace['to']> {
    return this.deps.agents.to(rooms.sandbox(sandboxId));
  }

  private deliverLocal(sessionId: string, offset: number, data: Uint8Array, end: number): void {
    const set = this.viewers.get(sessionId);
    if (!set) return;
    this.ends.set(sessionId, Math.max(this.ends.get(sessionId) ?? 0, end));
    for (const v of set) {
      if (!v.started) continue;
      if (!v.pumping && v.cursor === offset && v.cursor - v.acked < VIEWER_WINDOW_BYTES) {
        v.socket.emit('pty:output', sessionId, offset, data);
        v.cursor = offset + data.byteLength;
      } else {
        void this.pump(v);
      }
    }
  }

  private async pump(v: Viewer): Promise<void> {
    if (v.pumping || v.closed || !v.started) return;
    v.pumping = true;
    try {
      while (!v.closed) {
        const end = this.ends.get(v.sessionId) ?? 0;
        const room = VIEWER_WINDOW_BYTES - (v.cursor - v.acked);
        if (v.cursor >= end || room <= 0) break;
        const chunk = await this.deps.outputLog.read(v.sessionId, v.cursor, Math.min(room, REPLAY_FRAME_BYTES));
        if (chunk.data.byteLength === 0 || v.closed) break;
        // A chunk starting past the cursor means the log was trimmed: the client sees the gap and re-attaches.
        v.socket.emit('pty:output', v.sessionId, chunk.offset, chunk.data);
        v.cursor = chunk.offset + chunk.data.byteLength;
      }
    } catch (err) {
      this.deps.log.warn({ err, sessionId: v.sessionId }, 'replaying output to a viewer failed');
    } finally {
      v.pumping = false;
    }
  }

  private subscribe(sessionId: string): void {
    if (this.unsubscribes.has(sessionId)) return;
    const sub = this.deps.bus.subscribe(channel(sessionId), (message) => {
      let parsed: { from?: string; end?: number };
      try {
        parsed = JSON.parse(message) as { from?: string; end?: number };
      } catch {
        return;
      }
      // Output stored by this proxy was already delivered from memory.
      if (parsed.from === this.deps.proxyId || typeof parsed.end !== 'number') return;
      const set = this.viewers.get(sessionId);
      if (!set) return;
      this.ends.set(sessionId, Math.max(this.ends.get(sessionId) ?? 0, parsed.end));
      for (const v of set) void this.pump(v);
    });
    this.unsubscribes.set(sessionId, sub);
    sub.catch((err: unknown) => {
      this.unsubscribes.delete(sessionId);
      this.deps.log.error({ err, sessionId }, 'subscribing to session output failed');
    });
  }

  private async unsubscribe(sessionId: string): Promise<void> {
    const sub = this.unsubscribes.get(sessionId);
    this.unsubscribes.delete(sessionId);
    if (sub) await (await sub)().catch(() => undefined);
  }

  async fetchScreen(state: SessionState): Promise<ScreenSnapshot | null> {
    if (state.status === 'exited') return this.deps.sessions.getScreen(state.id);
    return this.deps.rpc.call(state.sandboxId, 'session:screen', { sessionId: state.id }, 3000);
  }

  async close(): Promise<void> {
    await Promise.all([...this.chains.values()]);
    for (const id of [...this.unsubscribes.keys()]) await this.unsubscribe(id);
  }
}

function channel(sessionId: string): string {
  return `out:${sessionId}`;
}

export function toInfo(state: SessionState, bounds: { start: number; end: number }, clients: number): SessionInfo {
  return {
    id: state.id,
    taskId: state.taskId,
    kind: state.kind,
    status: state.status,
    command: state.command,
    outputEnd: bounds.end,
    outputStart: bounds.start,
    cols: state.cols,
    rows: state.rows,
    exitCode: state.exitCode,
    agentConnected: state.holder !== null,
    clients,
  };
}
