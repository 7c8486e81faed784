import {
  AppError,
  ackError,
  ackOk,
  agentAuthSchema,
  agentEventSchema,
  agentHelloSchema,
  agentOutputExitSchema,
  sessionIdSchema,
} from '@rclaude/protocol';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { AgentSessions } from '../services/agent-sessions.js';
import type { AgentNamespace, SessionHub } from '../services/session-hub.js';
import type { TaskRecorder } from '../services/task-recorder.js';
import type { SandboxRecord, SessionStore } from '../stores/types.js';
import { rooms } from './rooms.js';

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
  recorder: Pick<TaskRecorder, 'recordAgentEvent'>;
  sessions: SessionStore;
  hub: SessionHub;
  log: Logger;
  metrics: Metrics;
  /** The sandbox's egress key, given to its agent in the hello result (see egress/egress-key.ts). */
  egressKey?: (sandboxId: string) => string;
}): void {
  const { ns, agentSessions, recorder, hub, log, metrics } = deps;
  /** The live agent socket of each sandbox on this proxy (a reconnect replaces the old one). */
  const live = new Map<string, { id: string; disconnect: (close?: boolean) => unknown }>();

  ns.use((socket, next) => {
    const parsed = agentAuthSchema.safeParse(socket.handshake.auth);
    if (!parsed.success) return next(refusal('UNAUTHENTICATED', 'agent handshake needs sandboxId and token'));
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
    /** Sessions this sandbox may write to, checked once per session against the store. */
    const owned = new Map<string, boolean | Promise<boolean>>();
    const owns = (sessionId: string): boolean | Promise<boolean> => {
      let known = owned.get(sessionId);
      if (known === undefined) {
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
            ackOk({ ...result, token: nextToken, ...(deps.egressKey ? { egressKey: deps.egressKey(sandboxId) } : {}) }),
          );
          await after();
        })
        .catch((err: unknown) => {
          log.error({ err, sandboxId }, 'agent hello failed');
          ack(ackError(err));
        });
    });

    socket.on('pty:output', (sessionId, offset, data) => {
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
      const store = () =>
        hub.ingestOutput(sessionId, offset, data, (end) => socket.emit('pty:stored', { sessionId, offset: end }));
      const ok = owns(sessionId);
      if (ok === true) store();
      else if (ok !== false) void ok.then((yes) => yes && store());
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
      const parsed = agentEventSchema.safeParse(raw);
      if (!parsed.success) return;
      recorder
        .recordAgentEvent(record, parsed.data)
        .catch((err: unknown) => log.warn({ err }, 'recording agent event failed'));
    });

    socket.on('disconnect', (reason) => {
      metrics.connectedAgents.dec();
      if (live.get(sandboxId) !== socket) return; // Replaced by a newer connection.
      live.delete(sandboxId);
      log.info({ sandboxId, reason }, 'agent disconnected');
      agentSessions
        .agentDisconnected(sandboxId)
        .catch((err: unknown) => log.error({ err }, 'handling agent disconnect failed'));
    });
  });
}

function refusal(code: string, message: string): Error {
  const err = new Error(message) as Error & { data: unknown };
  err.data = { code, message };
  return err;
}
