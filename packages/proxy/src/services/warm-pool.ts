import type { ProviderName } from '@rclaude/protocol';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Provider } from '../providers/types.js';
import type { SandboxRecord, SandboxStore } from '../stores/types.js';
import { DEFAULT_STARTUP_TOKEN_TTL_MS, newStartupToken } from './agent-tokens.js';
import { newId, sha256 } from './ids.js';

export interface WarmPoolDeps {
  /** Sandboxes to keep started and waiting (RCLAUDE_WARM_POOL_SIZE). */
  size: number;
  /** The provider the pool starts sandboxes with; tasks on other providers start cold. */
  provider: Provider;
  sandboxes: SandboxStore;
  /** The URL agents dial. */
  proxyUrl: () => string;
  maxLifetimeMs: number;
  /** How long a start-up token stays valid unused (AGENT_TOKEN_TTL_MS); default 5 minutes. */
  startupTokenTtlMs?: number;
  log: Logger;
  /** Where the pool's gauges and counters go (`rclaude_warm_pool_*`). */
  registry?: Registry;
  /** Wait before trying again after a sandbox failed to start (default 5 s), so a broken host does not spin. */
  retryDelayMs?: number;
}

/** A pooled sandbox handed to a task: its agent is connected to this proxy and runs nothing yet. */
export interface ClaimedSandbox {
  sandboxId: string;
  ref: string;
  /** The sandbox's record, already bound to the task (`taskId`, state `claimed`); the store is the caller's to update. */
  record: SandboxRecord;
}

/** What the task service needs of a pool. */
export interface SandboxClaims {
  /** A ready sandbox of `provider` for `taskId`, taken out of the pool for good; null when none is ready. */
  claim(provider: ProviderName, taskId: string): ClaimedSandbox | null;
}

interface Entry {
  sandboxId: string;
  ref: string | null;
  /** The record the agent gateway holds for this sandbox's connection, once its agent has connected. */
  record: SandboxRecord | null;
  /** Stored as `pooled` (the provider reported it started). */
  started: boolean;
}

/**
 * Sandboxes started ahead of demand, each with its agent connected and waiting, no task, no secrets and an
 * empty workspace of its own. A task claims one instead of starting a sandbox (the claim is synchronous, so
 * the task's session points at the sandbox before any client can attach), and binds its command, environment
 * and secrets then, through `session:open`, exactly as on a cold start. A claimed sandbox never comes back:
 * it is stopped with its task like any other, and the pool starts a replacement in the background. A pooled
 * sandbox whose agent disconnects is stopped and replaced; on shutdown the pool stops what it still holds,
 * and start-up reconciliation stops pooled sandboxes a crashed run left behind (they have no task).
 */
export class WarmPool implements SandboxClaims {
  private readonly entries = new Map<string, Entry>();
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly claims: Counter<'result'> | null;

  constructor(private readonly deps: WarmPoolDeps) {
    this.claims = deps.registry
      ? new Counter({
          name: 'rclaude_warm_pool_claims_total',
          help: 'Task starts that asked the warm pool, by result (hit: claimed a ready sandbox; miss: started cold)',
          labelNames: ['result'],
          registers: [deps.registry],
        })
      : null;
    if (deps.registry) {
      const pool = this;
      new Gauge({
        name: 'rclaude_warm_pool_ready',
        help: 'Pooled sandboxes whose agent is connected and waiting for a task',
        registers: [deps.registry],
        collect() {
          this.set(pool.ready);
        },
      });
      new Gauge({
        name: 'rclaude_warm_pool_size',
        help: 'Pooled sandboxes the server keeps (RCLAUDE_WARM_POOL_SIZE)',
        registers: [deps.registry],
        collect() {
          this.set(pool.deps.size);
        },
      });
    }
  }

  /** Sandboxes ready to be claimed now. */
  get ready(): number {
    let n = 0;
    for (const e of this.entries.values()) if (isReady(e)) n++;
    return n;
  }

  /** Starts filling. Call after start-up reconciliation, which would otherwise stop the fresh sandboxes. */
  start(): void {
    this.fill();
  }

  /**
   * An agent connected to this proxy (the `/agent` namespace's connection event). `record` is the object
   * the agent gateway keeps for the connection; `onDisconnect` registers a callback for its end.
   */
  agentConnected(record: SandboxRecord, onDisconnect: (callback: () => void) => void): void {
    const entry = this.entries.get(record.sandboxId);
    if (!entry || this.closed) return;
    entry.record = record;
    onDisconnect(() => {
      if (this.entries.get(record.sandboxId) !== entry || entry.record !== record) return;
      this.deps.log.warn({ sandboxId: entry.sandboxId }, 'a pooled sandbox lost its agent; replacing it');
      this.entries.delete(entry.sandboxId);
      void this.stop(entry, 'pooled agent disconnected');
      this.fill();
    });
  }

  claim(provider: ProviderName, taskId: string): ClaimedSandbox | null {
    if (this.closed || provider !== this.deps.provider.name) return null;
    for (const entry of this.entries.values()) {
      if (!isReady(entry)) continue;
      this.entries.delete(entry.sandboxId);
      // The gateway checks this record (not the store) when the agent reports events for a task; from now on
      // they belong to this task. The store is updated by the caller.
      const record = entry.record as SandboxRecord;
      record.taskId = taskId;
      record.state = 'claimed';
      this.claims?.inc({ result: 'hit' });
      this.deps.log.info({ sandboxId: entry.sandboxId, taskId }, 'claimed a warm sandbox');
      this.fill();
      return { sandboxId: entry.sandboxId, ref: entry.ref as string, record };
    }
    this.claims?.inc({ result: 'miss' });
    this.fill();
    return null;
  }

  /** Stops filling and stops every sandbox still pooled (claimed ones belong to their tasks). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    const left = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(left.map((e) => this.stop(e, 'server shutting down')));
  }

  private fill(): void {
    while (!this.closed && !this.retryTimer && this.entries.size < this.deps.size) {
      const entry: Entry = { sandboxId: newId(16), ref: null, record: null, started: false };
      // In the map from the start: it counts towards the size, and its agent is recognised when it dials in.
      this.entries.set(entry.sandboxId, entry);
      void this.startOne(entry).catch((err: unknown) => {
        this.deps.log.error({ err }, 'could not start a pooled sandbox; retrying later');
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.fill();
        }, this.deps.retryDelayMs ?? 5000);
        this.retryTimer.unref();
      });
    }
  }

  private async startOne(entry: Entry): Promise<void> {
    const { sandboxId } = entry;
    const token = newStartupToken(this.deps.startupTokenTtlMs ?? DEFAULT_STARTUP_TOKEN_TTL_MS);
    const { provider } = this.deps;
    try {
      await this.deps.sandboxes.create({
        sandboxId,
        taskId: null,
        provider: provider.name,
        ref: null,
        tokenHash: sha256(token),
        state: 'starting',
        workspace: null,
      });
      if (this.entries.get(sandboxId) !== entry) {
        await this.stop(entry, 'not needed');
        return;
      }
      const handle = await provider.start({
        sandboxId,
        taskId: null,
        owner: null,
        env: { RCLAUDE_PROXY_URL: this.deps.proxyUrl(), RCLAUDE_SANDBOX_ID: sandboxId, RCLAUDE_AGENT_TOKEN: token },
        maxLifetimeMs: this.deps.maxLifetimeMs,
      });
      entry.ref = handle.ref;
      await this.deps.sandboxes.update(sandboxId, { ref: handle.ref, state: 'pooled' });
      entry.started = true;
    } catch (err) {
      if (this.entries.get(sandboxId) === entry) this.entries.delete(sandboxId);
      await this.stop(entry, 'pooled sandbox failed to start');
      throw err;
    }
    if (this.entries.get(sandboxId) !== entry) {
      // The pool closed, or the agent came and went, while the sandbox was starting: nobody will claim it.
      await this.stop(entry, 'not needed');
    }
  }

  private async stop(entry: Entry, reason: string): Promise<void> {
    try {
      await this.deps.sandboxes.update(entry.sandboxId, { state: 'stopped' });
      if (entry.ref) {
        await this.deps.provider.stop(
          { sandboxId: entry.sandboxId, provider: this.deps.provider.name, ref: entry.ref },
          reason,
        );
      }
    } catch (err) {
      this.deps.log.warn({ err, sandboxId: entry.sandboxId }, 'stopping a pooled sandbox failed');
    }
  }
}

function isReady(entry: Entry): boolean {
  return entry.started && entry.record !== null;
}
