import type { Logger } from 'pino';

/**
 * The task timers of this proxy, by key: `connect:<sandboxId>` (launching waits for a started sandbox's agent)
 * and `grace:<sandboxId>` (agent sessions wait for a lost agent to come back). Shared, because a hello or a
 * task's end cancels both.
 */
export class TaskTimers {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly log: Logger) {}

  /** Runs `fn` after `ms` (replacing a timer of the same key); it does not hold the process open. */
  arm(key: string, ms: number, fn: () => Promise<void>): void {
    this.disarm(key);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      fn().catch((err: unknown) => this.log.error({ err, key }, 'task timer failed'));
    }, ms);
    timer.unref();
    this.timers.set(key, timer);
  }

  disarm(key: string): void {
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
  }

  /** Cancels both timers of a sandbox: its agent is here, or its task has ended. */
  disarmSandbox(sandboxId: string): void {
    this.disarm(`connect:${sandboxId}`);
    this.disarm(`grace:${sandboxId}`);
  }

  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
