import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Live figures the metrics read when scraped (so gauges can never drift from the truth). */
export interface MetricSources {
  viewers(): number;
  sandboxes(): Promise<{ provider: string; state: string }[]>;
}

/** Prometheus metrics of one proxy process, served at /metrics. One registry per server instance. */
export function createMetrics(sources: MetricSources = { viewers: () => 0, sandboxes: async () => [] }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'rclaude_' });
  return {
    registry,
    sessionsOpened: new Counter({
      name: 'rclaude_sessions_opened_total',
      help: 'PTY sessions opened in sandboxes',
      labelNames: ['kind'],
      registers: [registry],
    }),
    attachedViewers: new Gauge({
      name: 'rclaude_attached_viewers',
      help: 'Clients attached to sessions on this proxy',
      registers: [registry],
      collect() {
        this.set(sources.viewers());
      },
    }),
    sandboxes: new Gauge({
      name: 'rclaude_sandboxes',
      help: 'Sandboxes not stopped, by provider and state (all proxies)',
      labelNames: ['provider', 'state'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const s of await sources.sandboxes().catch(() => [])) this.inc({ provider: s.provider, state: s.state });
      },
    }),
    connectedAgents: new Gauge({
      name: 'rclaude_connected_agents',
      help: 'Sandbox agents connected to this proxy',
      registers: [registry],
    }),
    taskTransitions: new Counter({
      name: 'rclaude_task_transitions_total',
      help: 'Task status changes, by new status',
      labelNames: ['status'],
      registers: [registry],
    }),
    sandboxStartSeconds: new Histogram({
      name: 'rclaude_sandbox_start_seconds',
      help: 'Time for a provider to start a sandbox',
      labelNames: ['provider'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers: [registry],
    }),
    bytesStored: new Counter({
      name: 'rclaude_output_bytes_total',
      help: 'PTY output bytes stored by this proxy',
      registers: [registry],
    }),
    agentReconnects: new Counter({
      name: 'rclaude_agent_reconnects_total',
      help: 'Agent connections that resumed existing sessions',
      registers: [registry],
    }),
    agentLimitDrops: new Counter({
      name: 'rclaude_agent_limit_drops_total',
      help: 'Agent connections dropped for going over a limit (AGENT_MAX_*), by limit',
      labelNames: ['limit'],
      registers: [registry],
    }),
    agentCooldownRefusals: new Counter({
      name: 'rclaude_agent_cooldown_refusals_total',
      help: 'Agent handshakes refused because the sandbox is cooling down after repeated limit drops',
      registers: [registry],
    }),
    errors: new Counter({
      name: 'rclaude_errors_total',
      help: 'Errors answered to clients, by code',
      labelNames: ['code'],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
