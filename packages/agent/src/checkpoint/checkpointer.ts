import {
  type AgentCheckpointRequest,
  type AgentCheckpointResult,
  type AgentRestoreRequest,
  type AgentRestoreResult,
  AppError,
  checkpointIdSchema,
} from '@rclaude/protocol';
import type { Logger } from 'pino';
import { claudeProjectDir } from './claude-folder.js';
import { packCheckpoint } from './pack.js';
import type { CheckpointClient } from './proxy-client.js';
import { restoreCheckpoint } from './restore.js';
import { HashCache } from './scan.js';

export interface CheckpointerOptions {
  /** The workspace (absolute) and the HOME Claude Code runs with. */
  workspace: string;
  home: string;
  client: CheckpointClient;
  log: Logger;
}

/**
 * The agent's checkpoints: packs (`checkpoint:create`) and restores (`checkpoint:restore`) one at a time, a
 * request for the checkpoint already under way sharing it, and keeps the hash cache that makes a second
 * checkpoint of a mostly unchanged workspace read only what changed.
 */
export class Checkpointer {
  private readonly cache = new HashCache();
  /** The work under way or queued, by checkpoint id and kind. */
  private readonly running = new Map<string, Promise<unknown>>();
  /** The tail of the queue: each pack or restore starts once the one before it settles. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: CheckpointerOptions) {}

  async create(req: AgentCheckpointRequest): Promise<AgentCheckpointResult> {
    const checkpointId = parseId(req);
    return this.enqueue(`create:${checkpointId}`, async () =>
      packCheckpoint({
        checkpointId,
        workspace: this.opts.workspace,
        claudeDir: await claudeProjectDir(this.opts.home, this.opts.workspace),
        client: this.opts.client,
        cache: this.cache,
        log: this.opts.log,
      }),
    );
  }

  async restore(req: AgentRestoreRequest): Promise<AgentRestoreResult> {
    const checkpointId = parseId(req);
    return this.enqueue(`restore:${checkpointId}`, async () => {
      const result = await restoreCheckpoint({
        checkpointId,
        workspace: this.opts.workspace,
        claudeDir: await claudeProjectDir(this.opts.home, this.opts.workspace),
        client: this.opts.client,
        log: this.opts.log,
      });
      return result;
    });
  }

  private enqueue<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const existing = this.running.get(key);
    if (existing) return existing as Promise<T>;
    const run = this.tail
      .catch(() => undefined)
      .then(fn)
      .catch((err: unknown) => {
        if (err instanceof AppError) throw err;
        this.opts.log.error({ err, key }, 'checkpoint work failed');
        const message = err instanceof Error ? err.message : String(err);
        throw new AppError('CHECKPOINT_FAILED', `the agent could not ${key.split(':')[0]} the checkpoint: ${message}`, {
          cause: err,
        });
      })
      .finally(() => this.running.delete(key));
    this.running.set(key, run);
    this.tail = run;
    return run;
  }
}

function parseId(req: { checkpointId?: unknown } | null | undefined): string {
  const parsed = checkpointIdSchema.safeParse(req?.checkpointId);
  if (!parsed.success) throw new AppError('BAD_REQUEST', 'a checkpoint request needs a valid checkpointId');
  return parsed.data;
}
