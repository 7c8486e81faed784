import type { Task } from '@rclaude/protocol';
import type { Logger } from 'pino';
import type { OutputLog, SessionStore, TaskStore } from '../stores/types.js';

export interface LifecycleDeps {
  tasks: TaskStore;
  sessions: SessionStore;
  outputLog: OutputLog;
  /** Stops a task on the system's behalf; `reason` goes on its timeline. */
  stop: (taskId: string, reason: string) => Promise<void>;
  /**
   * Hibernates an idle task (checkpoint, then release its sandbox); rejects when the checkpoint fails, and the
   * task then runs on. None: idle tasks are stopped instead.
   */
  hibernate?: (taskId: string, reason: string) => Promise<void>;
  /** Puts a warning on an idle task's timeline (and so in attached terminals and web tabs) before it hibernates. */
  warn?: (taskId: string, data: { message: string; hibernateAt: string }) => Promise<void>;
  /** How long before an idle hibernation the warning comes. Default 60 s (at most half the idle timeout). */
  warningMs?: number;
  /** Takes a periodic checkpoint of a running task (joins one in progress); none: no periodic checkpoints. */
  checkpoint?: (task: Task) => Promise<unknown>;
  /** How often a task whose output or input moved is checkpointed; 0: never. */
  checkpointIntervalMs?: number;
  /** No input, no output and Claude not working for this long hibernates (or stops) a task; 0: never. */
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
 * Idle hibernation and maximum lifetime. Every sweep looks at the live tasks:
 * - one older than `maxLifetimeMs` is stopped, whatever it is doing (checkpointed first where it can be);
 * - a `running` or `idle` one is hibernated (checkpoint, then its sandbox released; a resume brings it back)
 *   once it has had no input, no new output and no working Claude (hook activity `working`, or a prompt that
 *   has not finished) for `idleTimeoutMs`. An attached client that types nothing does not keep it: the warning
 *   `warningMs` before reaches its terminal, and a keystroke (or `rclaude keep`) restarts the clock. Output is
 *   noticed as the end offsets of its sessions' logs moving, input as their `lastInputAt`; a waiting Claude has
 *   already notified its owner when it started waiting. A failed checkpoint keeps the task running (the reason
 *   is on its timeline) and the clock starts again.
 * The idle clock lives in this process's memory: after a restart a task gets the full timeout again, which
 * errs on the side of keeping work. Several proxies may sweep the same tasks; the store's atomic transitions
 * make a double stop harmless.
 */
export class LifecycleService {
  private readonly seen = new Map<string, { fingerprint: string; since: number; warned: boolean }>();
  /** When each task was last checkpointed by a sweep, and what it looked like then. */
  private readonly checkpointed = new Map<string, { at: number; fingerprint: string }>();
  private timer: NodeJS.Timeout | undefined;
  private sweeping = false;
  private readonly now: () => number;

  constructor(private readonly deps: LifecycleDeps) {
    this.now = deps.now ?? Date.now;
  }

  get sweepIntervalMs(): number {
    if (this.deps.sweepIntervalMs !== undefined) return this.deps.sweepIntervalMs;
    const limits = [this.deps.idleTimeoutMs, this.deps.maxLifetimeMs, this.periodicMs].filter((ms) => ms > 0);
    if (limits.length === 0) return 30_000;
    return Math.min(30_000, Math.max(100, Math.floor(Math.min(...limits) / 4)));
  }

  private get periodicMs(): number {
    return this.deps.checkpoint ? (this.deps.checkpointIntervalMs ?? 0) : 0;
  }

  start(): void {
    if (this.timer || (this.deps.idleTimeoutMs <= 0 && this.deps.maxLifetimeMs <= 0 && this.periodicMs <= 0)) return;
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
      for (const id of this.checkpointed.keys()) if (!liveIds.has(id)) this.checkpointed.delete(id);
      for (const task of live) {
        try {
          const verdict = await this.check(task);
          if (!verdict) continue;
          if (verdict.kind === 'idle' && this.deps.hibernate) {
            await this.deps.hibernate(task.id, verdict.reason);
          } else {
            await this.deps.stop(task.id, verdict.reason);
          }
          result[verdict.kind].push(task.id);
          this.seen.delete(task.id);
        } catch (err) {
          // A failed hibernation leaves the task running; it gets a full idle period before the next try.
          const seen = this.seen.get(task.id);
          if (seen) Object.assign(seen, { since: this.now(), warned: false });
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
    // A resumed task's lifetime counts from its resume: its sandbox is that young.
    if (maxLifetimeMs > 0 && now - Date.parse(task.resumedAt ?? task.createdAt) >= maxLifetimeMs) {
      return { kind: 'expired', reason: `reached the maximum lifetime of ${formatSpan(maxLifetimeMs)}` };
    }
    if (task.status !== 'running' && task.status !== 'idle') return null;
    const sessions = await this.deps.sessions.listByTask(task.id);
    const marks: string[] = [];
    let clients = 0;
    for (const s of sessions) {
      marks.push(`${(await this.deps.outputLog.bounds(s.id)).end}:${s.lastInputAt ?? 0}`);
      // Without hibernation an idle task is stopped for good: then a person watching keeps it, as before.
      if (!this.deps.hibernate) clients += await this.deps.sessions.countClients(s.id);
    }
    const fingerprint = `${task.status}|${marks.join(',')}`;
    this.checkpointIfDue(task, fingerprint, now);
    if (idleTimeoutMs <= 0) return null;
    const prev = this.seen.get(task.id);
    // A prompt still running (`claude -p` has not exited: no exit code yet) is Claude working, also in the
    // seconds before its first hook says so.
    const promptRunning = task.prompt !== null && task.exitCode === null;
    if (!prev || prev.fingerprint !== fingerprint || clients > 0 || task.activity === 'working' || promptRunning) {
      this.seen.set(task.id, { fingerprint, since: now, warned: false });
      return null;
    }
    const idleFor = now - prev.since;
    const warningMs = Math.min(this.deps.warningMs ?? 60_000, Math.floor(idleTimeoutMs / 2));
    if (idleFor < idleTimeoutMs) {
      if (this.deps.warn && this.deps.hibernate && !prev.warned && idleFor >= idleTimeoutMs - warningMs) {
        prev.warned = true;
        const inMs = idleTimeoutMs - idleFor;
        await this.deps.warn(task.id, {
          message: `hibernating in ${formatSpan(inMs)}: no input and no output for ${formatSpan(idleFor)}; type anything, or \`rclaude keep ${task.id}\`, to keep it running`,
          hibernateAt: new Date(now + inMs).toISOString(),
        });
      }
      return null;
    }
    return {
      kind: 'idle',
      reason: `idle for ${formatSpan(idleTimeoutMs)}: no input, no output${task.activity === 'waiting' ? ', Claude waiting for input' : ''}`,
    };
  }

  /**
   * Periodic checkpoints: a task whose output or input moved since its last one (or that Claude is working in)
   * is checkpointed every `checkpointIntervalMs`, in the background; a crash of its sandbox loses at most that.
   */
  private checkpointIfDue(task: Task, fingerprint: string, now: number): void {
    const interval = this.periodicMs;
    if (interval <= 0 || !this.deps.checkpoint) return;
    const last = this.checkpointed.get(task.id);
    if (!last) {
      this.checkpointed.set(task.id, { at: now, fingerprint: '' });
      return;
    }
    if (now - last.at < interval || (last.fingerprint === fingerprint && task.activity !== 'working')) return;
    this.checkpointed.set(task.id, { at: now, fingerprint });
    this.deps.checkpoint(task).catch((err: unknown) => {
      this.deps.log.warn({ err, taskId: task.id }, 'periodic checkpoint failed');
    });
  }

  /**
   * When a task would hibernate if nothing happens from now (null: not counting, e.g. Claude is working or
   * idling is off), as this proxy's sweeps see it.
   */
  hibernateAt(taskId: string): Date | null {
    const seen = this.seen.get(taskId);
    if (!seen || this.deps.idleTimeoutMs <= 0) return null;
    return new Date(seen.since + this.deps.idleTimeoutMs);
  }
}
