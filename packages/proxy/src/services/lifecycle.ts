import type { Task } from '@rclaude/protocol';
import type { Logger } from 'pino';
import type { OutputLog, SessionStore, TaskStore } from '../stores/types.js';

export interface LifecycleDeps {
  tasks: TaskStore;
  sessions: SessionStore;
  outputLog: OutputLog;
  /** Stops a task on the system's behalf; `reason` goes on its timeline. */
  stop: (taskId: string, reason: string) => Promise<void>;
  /** No attached client and no output for this long stops a task (unless Claude is working); 0: never. */
  idleTimeoutMs: number;
  /** A task is stopped this long after its creation; 0: never. */
  maxLifetimeMs: number;
  log: Logger;
  /** How often live tasks are checked. Default: a quarter of the shorter limit, between 100 ms and 30 s. */
  sweepIntervalMs?: number;
  now?: () => number;
}

/** What one sweep decided. */
export interface SweepResult {
  idle: string[];
  expired: string[];
}

/** `30 min`, `2 h`, `1.5 s`. */
export function formatSpan(ms: number): string {
  if (ms >= 3_600_000) return `${+(ms / 3_600_000).toFixed(1)} h`;
  if (ms >= 60_000) return `${+(ms / 60_000).toFixed(1)} min`;
  return `${+(ms / 1000).toFixed(1)} s`;
}

/**
 * Idle stop and maximum lifetime. Every sweep looks at the live tasks:
 * - one older than `maxLifetimeMs` is stopped, whatever it is doing;
 * - a `running` or `idle` one is stopped once it has had no attached client, no new output and no working
 *   Claude (hook activity `working`, or a prompt that has not finished) for `idleTimeoutMs`. Output is noticed as the end offsets of its
 *   sessions' logs moving; a waiting Claude has already notified its owner when it started waiting.
 * The idle clock lives in this process's memory: after a restart a task gets the full timeout again, which
 * errs on the side of keeping work. Several proxies may sweep the same tasks; the store's atomic transitions
 * make a double stop harmless.
 */
export class LifecycleService {
  private readonly seen = new Map<string, { fingerprint: string; since: number }>();
  private timer: NodeJS.Timeout | undefined;
  private sweeping = false;
  private readonly now: () => number;

  constructor(private readonly deps: LifecycleDeps) {
    this.now = deps.now ?? Date.now;
  }

  get sweepIntervalMs(): number {
    if (this.deps.sweepIntervalMs !== undefined) return this.deps.sweepIntervalMs;
    const limits = [this.deps.idleTimeoutMs, this.deps.maxLifetimeMs].filter((ms) => ms > 0);
    if (limits.length === 0) return 30_000;
    return Math.min(30_000, Math.max(100, Math.floor(Math.min(...limits) / 4)));
  }

  start(): void {
    if (this.timer || (this.deps.idleTimeoutMs <= 0 && this.deps.maxLifetimeMs <= 0)) return;
    this.timer = setInterval(() => {
      this.sweep().catch((err: unknown) => this.deps.log.error({ err }, 'lifecycle sweep failed'));
    }, this.sweepIntervalMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Checks every live task once. Overlapping calls return at once with nothing done. */
  async sweep(): Promise<SweepResult> {
    const result: SweepResult = { idle: [], expired: [] };
    if (this.sweeping) return result;
    this.sweeping = true;
    try {
      const live = await this.deps.tasks.list({ live: true, limit: 10_000 });
      const liveIds = new Set(live.map((t) => t.id));
      for (const id of this.seen.keys()) if (!liveIds.has(id)) this.seen.delete(id);
      for (const task of live) {
        try {
          const verdict = await this.check(task);
          if (!verdict) continue;
          await this.deps.stop(task.id, verdict.reason);
          result[verdict.kind].push(task.id);
          this.seen.delete(task.id);
        } catch (err) {
          this.deps.log.warn({ err, taskId: task.id }, 'lifecycle check failed');
        }
      }
    } finally {
      this.sweeping = false;
    }
    return result;
  }

  private async check(task: Task): Promise<{ kind: keyof SweepResult; reason: string } | null> {
    const now = this.now();
    const { idleTimeoutMs, maxLifetimeMs } = this.deps;
    if (task.status === 'stopping') return null;
    if (maxLifetimeMs > 0 && now - Date.parse(task.createdAt) >= maxLifetimeMs) {
      return { kind: 'expired', reason: `reached the maximum lifetime of ${formatSpan(maxLifetimeMs)}` };
    }
    if (idleTimeoutMs <= 0 || (task.status !== 'running' && task.status !== 'idle')) return null;
    const sessions = await this.deps.sessions.listByTask(task.id);
    let clients = 0;
    const ends: number[] = [];
    for (const s of sessions) {
      clients += await this.deps.sessions.countClients(s.id);
      ends.push((await this.deps.outputLog.bounds(s.id)).end);
    }
    const fingerprint = `${task.status}|${ends.join(',')}`;
    const prev = this.seen.get(task.id);
    // A prompt still running (`claude -p` has not exited: no exit code yet) is Claude working, also in the
    // seconds before its first hook says so.
    const promptRunning = task.prompt !== null && task.exitCode === null;
    if (!prev || prev.fingerprint !== fingerprint || clients > 0 || task.activity === 'working' || promptRunning) {
      this.seen.set(task.id, { fingerprint, since: now });
      return null;
    }
    if (now - prev.since < idleTimeoutMs) return null;
    return {
      kind: 'idle',
      reason: `idle for ${formatSpan(idleTimeoutMs)}: no client attached, no output${task.activity === 'waiting' ? ', Claude waiting for input' : ''}`,
    };
  }
}
