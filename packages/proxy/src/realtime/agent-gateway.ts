import {
  AppError,
  ackError,
  ackOk,
  agentApprovalRequestSchema,
  agentApprovalWithdrawSchema,
  agentAuthSchema,
  agentEventSchema,
  agentHelloSchema,
  agentOutputExitSchema,
  sessionIdSchema,
} from '@rclaude/protocol';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { AgentSessions } from '../services/agent-sessions.js';
import type { ApprovalService } from '../services/approvals.js';
import type { AgentNamespace, SessionHub } from '../services/session-hub.js';
import type { TaskRecorder } from '../services/task-recorder.js';
import type { SandboxRecord, SessionStore } from '../stores/types.js';
import {
  type AgentLimitName,
  type AgentLimits,
  AgentMeter,
  agentLimitMessage,
  cooldownMessage,
  defaultAgentLimits,
  ReconnectCooldown,
} from './agent-limits.js';
import type { LocalAgentRpc } from './agent-rpc.js';
import { rooms } from './rooms.js';
import { StoredAcks } from './stored-acks.js';

interface AgentSocketData {
  record: SandboxRecord;
  nextToken: string;
}

/**
 * The `/agent` namespace: sandboxes dial in here. The handshake proves the sandbox with its single-use
 * token (rotated on every connection); after `agent:hello` the agent's output is stored through the hub.
 */
export function registerAgentGateway(deps: {
  ns: AgentNamespace;
  agentSessions: Pick<AgentSessions, 'authenticateAgent' | 'agentHello' | 'resolveSessionState' | 'agentDisconnected'>;
  recorder: Pick<TaskRecorder, 'recordAgentEvent' | 'queuedEvents' | 'recordAgentDropped'>;
  /** Clock for the reconnection cooldown, in ms; default Date.now. */
  now?: () => number;
  sessions: SessionStore;
  hub: SessionHub;
  log: Logger;
  metrics: Metrics;
  /** What one agent connection may send (AGENT_MAX_* settings); default {@link defaultAgentLimits}. */
  limits?: AgentLimits;
  /** The sandbox's egress key, given to its agent in the hello result (see egress/egress-key.ts). */
  egressKey?: (sandboxId: string) => string;
  /** Claude Code's permission requests (`approval:request`, `approval:withdraw`); absent: refused. */
  approvals?: Pick<ApprovalService, 'request' | 'withdraw'>;
  /** RCLAUDE_APPROVAL_TIMEOUT_MS, given to the agent in the hello result. */
  approvalTimeoutMs?: number;
  /** Told when an agent's connection to this proxy drops, to fail the calls waiting on it. */
  rpc?: Pick<LocalAgentRpc, 'dropped'>;
}): void {
  const { ns, agentSessions, recorder, hub, log, metrics } = deps;
  const limits = deps.limits ?? defaultAgentLimits;
  const cooldown = new ReconnectCooldown(limits, deps.now);
  /** The live agent socket of each sandbox on this proxy (a reconnect replaces the old one). */
  const live = new Map<string, { id: string; disconnect: (close?: boolean) => unknown }>();

  ns.use((socket, next) => {
    const parsed = agentAuthSchema.safeParse(socket.handshake.auth);
    if (!parsed.success) return next(refusal('UNAUTHENTICATED', 'agent handshake needs sandboxId and token'));
    // Before the token is looked at (and spent): an agent cooling down keeps its token for the retry.
    const wait = cooldown.remaining(parsed.data.sandboxId);
    if (wait > 0) {
      metrics.agentCooldownRefusals.inc();
      return next(
        refusal(
          'RATE_LIMITED',
          `this sandbox's agent kept going over its connection limits; reconnect in ${Math.ceil(wait / 1000)}s`,
          { retryAfterMs: wait },
        ),
      );
    }
    agentSessions
      .authenticateAgent(parsed.data.sandboxId, parsed.data.token)
      .then((result) => {
        if (!result) {
          log.warn({ sandboxId: parsed.data.sandboxId }, 'agent refused: unknown sandbox or used token');
          return next(refusal('UNAUTHENTICATED', 'agent token refused'));
        }
        (socket.data as AgentSocketData) = { record: result.record, nextToken: result.nextToken };
        next();
      })
      .catch((err: unknown) => {
        log.error({ err }, 'agent authentication failed');
        next(refusal('INTERNAL', 'agent authentication failed'));
      });
  });

  ns.on('connection', (socket) => {
    const { record, nextToken } = socket.data as AgentSocketData;
    const sandboxId = record.sandboxId;
    live.get(sandboxId)?.disconnect(true);
    live.set(sandboxId, socket);
    void socket.join(rooms.sandbox(sandboxId));
    metrics.connectedAgents.inc();
    // Over any limit, the connection is dropped and the task's timeline says why.
    const meter = new AgentMeter(limits, (limit: AgentLimitName, detail?: number) => {
      log.warn({ sandboxId, limit, pendingBytes: meter.pendingBytes }, 'agent over a limit: disconnecting it');
      metrics.agentLimitDrops.inc({ limit });
      // The transport is closed rather than the socket disconnected: an agent reconnects by itself after a
      // lost connection (and resumes from what was stored), but not after a disconnect the server asked for.
      socket.conn.close();
      const step = cooldown.drop(sandboxId);
      if (step.began) {
        log.warn({ sandboxId, drops: step.drops, cooldownMs: step.cooldownMs }, 'agent reconnections held back');
        void recorder.recordAgentDropped(record, 'reconnect_cooldown', cooldownMessage(step, limits), { always: true });
      } else {
        void recorder.recordAgentDropped(record, limit, agentLimitMessage(limit, limits, detail));
      }
    });
    // Every packet is counted as it arrives, before Socket.io decodes it and calls a handler.
    socket.conn.on('packet', (packet: { type: string; data?: unknown }) => {
      if (packet.type === 'message') meter.packet(packetBytes(packet.data));
    });
    /** Sessions this sandbox may write to, checked once per session against the store (at most sessionsMax). */
    const storedAcks = new StoredAcks((sessionId, offset) => socket.emit('pty:stored', { sessionId, offset }));
    const owned = new Map<string, boolean | Promise<boolean>>();
    const owns = (sessionId: string): boolean | Promise<boolean> => {
      let known = owned.get(sessionId);
      if (known === undefined) {
        if (owned.size >= limits.sessionsMax) return meter.trip('sessions');
        known = agentSessions.resolveSessionState(sessionId).then((s) => {
          const ok = s?.sandboxId === sandboxId;
          owned.set(sessionId, ok);
          if (!ok) log.warn({ sandboxId, sessionId }, 'agent wrote to a session it does not hold');
          return ok;
        });
        owned.set(sessionId, known);
      }
      return known;
    };

    socket.on('agent:hello', (raw, ack) => {
      if (typeof ack !== 'function') return;
      const parsed = agentHelloSchema.safeParse(raw);
      if (!parsed.success) return ack(ackError(new AppError('BAD_REQUEST', 'invalid agent:hello')));
      agentSessions
        .agentHello(record, parsed.data)
        .then(async ({ result, after }) => {
          if (parsed.data.sessions.length > 0) metrics.agentReconnects.inc();
          for (const s of result.sessions) owned.set(s.sessionId, true);
          ack(
            ackOk({
              ...result,
              token: nextToken,
              ...(deps.egressKey ? { egressKey: deps.egressKey(sandboxId) } : {}),
              ...(deps.approvalTimeoutMs ? { approvalTimeoutMs: deps.approvalTimeoutMs } : {}),
            }),
          );
          await after();
        })
        .catch((err: unknown) => {
          log.error({ err, sandboxId }, 'agent hello failed');
          ack(ackError(err));
        });
    });

    socket.on('pty:output', (sessionId, offset, data, at) => {
      // A well-formed id before any lookup: what a sandbox makes up never reaches the stores or the log.
      if (
        !sessionIdSchema.safeParse(sessionId).success ||
        !Number.isSafeInteger(offset) ||
        offset < 0 ||
        !(data instanceof Uint8Array)
      ) {
        log.warn({ sandboxId }, 'malformed pty:output from agent');
        return;
      }
      // Held (counted against AGENT_MAX_PENDING_BYTES) until stored: an agent that does not wait for
      // `pty:stored` cannot queue more than that here.
      const release = meter.hold(data.byteLength);
      if (!release) return;
      const store = () => {
        hub.ingestOutput(sessionId, offset, data, (end) => storedAcks.stored(sessionId, end), at);
        void hub.settled(sessionId).then(release);
      };
      const ok = owns(sessionId);
      if (ok === true) store();
      else if (ok === false) release();
      else void ok.then((yes) => (yes ? store() : release()));
    });

    socket.on('pty:exit', (raw) => {
      const parsed = agentOutputExitSchema.safeParse(raw);
      if (!parsed.success) return;
      const info = parsed.data;
      // Through the same gate as output, so an exit never overtakes the bytes sent before it.
      const record = () => hub.ingestExit(info.sessionId, sandboxId, info);
      const ok = owns(info.sessionId);
      if (ok === true) record();
      else if (ok !== false) void ok.then((yes) => yes && record());
    });

    socket.on('agent:event', (raw) => {
      if (meter.over) return;
      const size = jsonBytes(raw);
      if (size > limits.eventMaxBytes) return void meter.trip('event_size', size);
      const parsed = agentEventSchema.safeParse(raw);
      if (!parsed.success) return;
      if (recorder.queuedEvents(sandboxId) >= limits.queuedEventsMax) return void meter.trip('queued_events');
      const release = meter.hold(size);
      if (!release) return;
      void recorder.recordAgentEvent(record, parsed.data).then(release);
    });

    socket.on('approval:request', (raw, ack) => {
      if (typeof ack !== 'function' || meter.over) return;
      const parsed = agentApprovalRequestSchema.safeParse(raw);
      if (!parsed.success) return ack(ackError(new AppError('BAD_REQUEST', 'invalid approval:request')));
      if (!deps.approvals) return ack(ackError(new AppError('CONFLICT', 'this server takes no approvals')));
      deps.approvals
        .request(record, parsed.data)
        .then((result) => ack(ackOk(result)))
        .catch((err: unknown) => {
          log.warn({ err, sandboxId }, 'approval request refused');
          ack(ackError(err));
        });
    });

    socket.on('approval:withdraw', (raw) => {
      const parsed = agentApprovalWithdrawSchema.safeParse(raw);
      if (!parsed.success || !deps.approvals) return;
      deps.approvals
        .withdraw(sandboxId, parsed.data.requestKey, parsed.data.reason)
        .catch((err: unknown) => log.error({ err, sandboxId }, 'approval withdrawal failed'));
    });

    socket.on('disconnect', (reason) => {
      storedAcks.close();
      metrics.connectedAgents.dec();
      if (live.get(sandboxId) !== socket) return; // Replaced by a newer connection.
      live.delete(sandboxId);
      log.info({ sandboxId, reason }, 'agent disconnected');
      deps.rpc?.dropped(sandboxId);
      agentSessions
        .agentDisconnected(sandboxId)
        .catch((err: unknown) => log.error({ err }, 'handling agent disconnect failed'));
    });
  });
}

/** Bytes of one Engine.IO packet's payload (text, or a binary attachment). */
function packetBytes(data: unknown): number {
  if (typeof data === 'string') return Buffer.byteLength(data);
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data.byteLength;
  return 0;
}

/** Bytes of a decoded payload as JSON (what an event costs to hold and to store). */
function jsonBytes(value: unknown): number {
  const text = JSON.stringify(value);
  return text === undefined ? 0 : Buffer.byteLength(text);
}

function refusal(code: string, message: string, extra: Record<string, unknown> = {}): Error {
  const err = new Error(message) as Error & { data: unknown };
  err.data = { code, message, ...extra };
  return err;
}
