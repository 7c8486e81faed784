import type { Logger } from 'pino';
import type { Queryable } from '../auth/queryable.js';
import type { CheckpointRecordStore } from '../stores/types.js';
import type { CheckpointService } from './checkpoints.js';
import { newId } from './ids.js';

/** How far ahead a sweep in progress keeps its lease after each owner (so a long sweep stays the only one). */
const HOLD_MS = 60_000;

export interface CheckpointSweeperDeps {
  /** The database holding `checkpoint_sweep_lease` (migration 015): Postgres or the embedded PGlite. */
  db: Queryable;
  records: Pick<CheckpointRecordStore, 'owners'>;
  checkpoints: Pick<CheckpointService, 'sweepOwner'>;
  log: Logger;
  /** How often this proxy tries to sweep (RCLAUDE_CHECKPOINT_SWEEP_MS); 0: never on its own (`sweep()` still works). */
  intervalMs: number;
  /**
   * How long a claim keeps other proxies from sweeping; default 90% of `intervalMs` (at least a minute), so the
   * proxies together sweep about once per interval and the holder's next tick finds its own lease expired.
   */
  leaseMs?: number;
  /** Unreferenced blobs younger than this are spared (uploads no manifest names yet); default the service's (1 min). */
  graceMs?: number;
}

/** What one {@link CheckpointSweeper.sweep} call did. */
export type SweepResult =
  | { held: false }
  | {
      held: true;
      owners: number;
      /** Checkpoints the retention policy deleted. */
      deleted: number;
      freedBlobs: number;
      freedBytes: number;
      /** Owners whose blobs were not collected (a checkpoint pending, or an error: see the log). */
      skipped: number;
      /** True when the lease was lost mid-sweep (it outlived its lease and another proxy claimed it). */
      lost: boolean;
    };

/**
 * The checkpoint sweeper: on a timer, the one proxy holding the lease applies the retention policy to every
 * owner's checkpoints (count, RCLAUDE_CHECKPOINT_MAX_AGE_DAYS and RCLAUDE_CHECKPOINT_QUOTA_BYTES: the same rule a
 * new checkpoint applies, each task's newest kept) and frees the blobs no manifest names, so users who take no new
 * checkpoint are cleaned up too.
 */
export class CheckpointSweeper {
  private readonly holder = `sweep_${newId(8)}`;
  private readonly leaseMs: number;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<SweepResult> | null = null;
  private closed = false;

  constructor(private readonly deps: CheckpointSweeperDeps) {
    this.leaseMs = deps.leaseMs ?? Math.max(60_000, Math.floor(deps.intervalMs * 0.9));
  }

  /** Starts the timer (nothing when `intervalMs` is 0). */
  start(): void {
    if (this.deps.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      void this.sweep().catch((err: unknown) => this.deps.log.warn({ err }, 'checkpoint sweep failed'));
    }, this.deps.intervalMs);
    this.timer.unref();
  }

  /** Sweeps every owner if this proxy claims the lease; `{held: false}` when another sweep holds it. */
  sweep(): Promise<SweepResult> {
    const run = this.sweepNow().finally(() => {
      if (this.running === run) this.running = null;
    });
    this.running = run;
    return run;
  }

  private async sweepNow(): Promise<SweepResult> {
    const claimed = await this.deps.db.query(
      `UPDATE checkpoint_sweep_lease SET claimed_until = now() + make_interval(secs => $1), holder = $2
       WHERE id = 1 AND claimed_until < now() RETURNING holder`,
      [this.leaseMs / 1000, this.holder],
    );
    if (claimed.rows.length === 0) return { held: false };
    const started = Date.now();
    const result = {
      held: true as const,
      owners: 0,
      deleted: 0,
      freedBlobs: 0,
      freedBytes: 0,
      skipped: 0,
      lost: false,
    };
    for (const owner of await this.deps.records.owners()) {
      if (this.closed) break;
      try {
        const done = await this.deps.checkpoints.sweepOwner(owner, {
          ...(this.deps.graceMs !== undefined ? { graceMs: this.deps.graceMs } : {}),
        });
        result.deleted += done.deleted;
        if (done.freed) {
          result.freedBlobs += done.freed.blobs;
          result.freedBytes += done.freed.bytes;
        } else result.skipped++;
      } catch (err) {
        result.skipped++;
        this.deps.log.warn({ err, owner }, 'sweeping checkpoints of an owner failed');
      }
      result.owners++;
      const held = await this.deps.db.query(
        `UPDATE checkpoint_sweep_lease
         SET claimed_until = greatest(claimed_until, now() + make_interval(secs => $1))
         WHERE id = 1 AND holder = $2 AND claimed_until >= now() RETURNING holder`,
        [HOLD_MS / 1000, this.holder],
      );
      if (held.rows.length === 0) {
        result.lost = true;
        break;
      }
    }
    const { held: _, ...figures } = result;
    this.deps.log.info({ ...figures, durationMs: Date.now() - started }, 'checkpoint sweep done');
    return result;
  }

  /** Stops the timer and waits for a sweep in progress to end (it stops after the owner it is on). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }
}
