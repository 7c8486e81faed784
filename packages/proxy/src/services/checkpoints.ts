import type { Readable } from 'node:stream';
import {
  type AgentRestoreResult,
  AppError,
  type CheckpointEventData,
  type CheckpointManifest,
  type CheckpointTrigger,
  type RestoreEventData,
  type Task,
} from '@rclaude/protocol';
import type { Logger } from 'pino';
import type { CheckpointBlobStore } from '../checkpoints/blob-store.js';
import { collectGarbage } from '../checkpoints/blob-store.js';
import { CheckpointFiles } from '../checkpoints/checkpoint-files.js';
import type { ImportedBlob } from '../checkpoints/import-archive.js';
import { readManifest } from '../checkpoints/records.js';
import type { CheckpointRecord, CheckpointRecordStore, SessionStore, TaskStore } from '../stores/types.js';
import type { AgentRpc } from './agent-rpc.js';
import { newId } from './ids.js';
import type { TaskTimeline } from './task-transitions.js';

/** Checkpoint file views kept in memory (a manifest of a large workspace is a few megabytes). */
const VIEWS_KEPT = 8;

export interface CheckpointServiceDeps {
  tasks: Pick<TaskStore, 'get'>;
  sessions: Pick<SessionStore, 'get'>;
  records: CheckpointRecordStore;
  blobs: CheckpointBlobStore;
  rpc: AgentRpc;
  timeline: TaskTimeline;
  log: Logger;
  /** How long one checkpoint (or restore) may take, end to end (RCLAUDE_CHECKPOINT_TIMEOUT_MS). */
  timeoutMs: number;
  /** Checkpoints kept per task; older ones are deleted after each new one (RCLAUDE_CHECKPOINT_KEEP). */
  keepPerTask: number;
  /**
   * Checkpoints older than this are deleted, except the newest of each task (RCLAUDE_CHECKPOINT_MAX_AGE_DAYS);
   * 0 or absent: kept forever. Applied to all of an owner's tasks each time one of them is checkpointed.
   */
  maxAgeMs?: number;
  /**
   * Most bytes one owner's checkpoints may total, counting each checkpoint's manifest bytes (an upper bound:
   * shared blobs are stored once) (RCLAUDE_CHECKPOINT_QUOTA_BYTES); 0 or absent: unlimited.
   */
  quotaBytes?: number;
  /**
   * Unreferenced blobs younger than this are spared by garbage collection (an upload that began after the
   * collection looked for pending checkpoints). Default 1 minute.
   */
  gcGraceMs?: number;
  /**
   * Whether a prune that deleted checkpoints collects the owner's garbage blobs at once (default true). False
   * when the checkpoint sweeper runs (RCLAUDE_CHECKPOINT_SWEEP_MS > 0): it collects every owner's garbage on its
   * own schedule, so a checkpoint does not re-read all of its owner's manifests.
   */
  collectOnPrune?: boolean;
  now?: () => number;
}

/** What {@link CheckpointService.sweepOwner} did for one owner. */
export interface OwnerSweep {
  /** Checkpoints the retention policy deleted (too many for their task, too old, or over the owner's quota). */
  deleted: number;
  /** Blobs freed (and their bytes); null when collection was skipped (a checkpoint of the owner is pending). */
  freed: { blobs: number; bytes: number } | null;
}

/** The retention policy: 0 for `maxAgeMs` or `quotaBytes` means no limit of that kind. */
export interface RetentionPolicy {
  keepPerTask: number;
  maxAgeMs: number;
  quotaBytes: number;
}

/**
 * The one retention rule, applied after each checkpoint and by the sweeper: of an owner's checkpoints (`records`,
 * any order; only complete ones count), those beyond the newest `keepPerTask` of their task, those older than
 * `maxAgeMs`, then the oldest left while the owner's total is over `quotaBytes`. Each task's newest checkpoint
 * (what a resume starts from) is never chosen; `overBy` is what the owner is still over the quota without it.
 */
export function retentionPlan(
  records: readonly CheckpointRecord[],
  policy: RetentionPolicy,
  now: number,
): { doomed: CheckpointRecord[]; overBy: number } {
  const newestFirst = (a: CheckpointRecord, b: CheckpointRecord) =>
    Date.parse(b.createdAt) - Date.parse(a.createdAt) || b.id.localeCompare(a.id);
  const byTask = new Map<string, CheckpointRecord[]>();
  for (const r of records) {
    if (r.state !== 'complete') continue;
    const list = byTask.get(r.taskId) ?? [];
    list.push(r);
    byTask.set(r.taskId, list);
  }
  const doomed = new Set<CheckpointRecord>();
  const cutoff = policy.maxAgeMs > 0 ? now - policy.maxAgeMs : Number.NEGATIVE_INFINITY;
  const older: CheckpointRecord[] = [];
  let total = 0;
  for (const list of byTask.values()) {
    list.sort(newestFirst);
    list.forEach((r, i) => {
      if (i > 0 && (i >= policy.keepPerTask || Date.parse(r.createdAt) < cutoff)) doomed.add(r);
      else {
        total += r.bytes;
        if (i > 0) older.push(r);
      }
    });
  }
  if (policy.quotaBytes > 0) {
    for (const r of older.sort(newestFirst).reverse()) {
      if (total <= policy.quotaBytes) break;
      doomed.add(r);
      total -= r.bytes;
    }
  }
  return { doomed: [...doomed], overBy: policy.quotaBytes > 0 ? Math.max(0, total - policy.quotaBytes) : 0 };
}

/**
 * A task's checkpoints: asks its agent to pack and upload one (the agent talks to the store through
 * `http/agent-checkpoints.ts`), lists them, restores one into a new sandbox, and keeps the store within its
 * retention policy (newest `keepPerTask` per task, none older than `maxAgeMs` and at most `quotaBytes` per owner
 * but always each task's newest; blobs no kept manifest names are collected per owner).
 */
export class CheckpointService {
  /** One checkpoint at a time per task on this proxy: a second request joins the first. */
  private readonly inFlight = new Map<string, Promise<CheckpointRecord>>();
  /** The blobs (hash -> size) of recently read manifests, for `blob`; oldest first. */
  private readonly blobIndex = new Map<string, Map<string, number>>();
  /** Owners with an import or a fork being stored on this proxy: their garbage is not collected meanwhile. */
  private readonly copying = new Map<string, number>();
  /** Read-only views of recently browsed checkpoints, oldest first. */
  private readonly views = new Map<string, CheckpointFiles>();
  /** Tasks whose timeline already says their owner is over the checkpoint quota (said once until under again). */
  private readonly overQuota = new Set<string>();
  private readonly now: () => number;

  constructor(private readonly deps: CheckpointServiceDeps) {
    this.now = deps.now ?? Date.now;
  }

  /**
   * Checkpoints a task whose sandbox runs; the record once stored. Rejects with CHECKPOINT_FAILED (reason on
   * the task's timeline too) when its agent cannot be reached or the upload fails.
   */
  take(task: Task, trigger: CheckpointTrigger): Promise<CheckpointRecord> {
    const running = this.inFlight.get(task.id);
    if (running) return running;
    const run = this.takeNow(task, trigger).finally(() => this.inFlight.delete(task.id));
    this.inFlight.set(task.id, run);
    return run;
  }

  /** Whether a checkpoint of this task is being taken on this proxy. */
  busy(taskId: string): boolean {
    return this.inFlight.has(taskId);
  }

  private async takeNow(task: Task, trigger: CheckpointTrigger): Promise<CheckpointRecord> {
    const main = await this.deps.sessions.get(task.mainSessionId);
    if (!main) throw new AppError('TASK_NOT_RUNNING', `task ${task.id} has no sandbox to checkpoint`);
    const id = `cp_${newId()}`;
    const started = this.now();
    await this.deps.records.begin({ id, taskId: task.id, owner: task.owner, sandboxId: main.sandboxId, trigger });
    try {
      await this.deps.rpc.call(main.sandboxId, 'checkpoint:create', { checkpointId: id }, this.deps.timeoutMs);
      const record = await this.deps.records.get(id);
      if (record?.state !== 'complete')
        throw new AppError('CHECKPOINT_FAILED', 'the agent finished without uploading its manifest');
      const data: CheckpointEventData = {
        trigger,
        checkpointId: id,
        files: record.files,
        bytes: record.bytes,
        uploadedBytes: record.uploadedBytes,
        durationMs: this.now() - started,
      };
      await this.deps.timeline.event(task.id, 'checkpoint', data);
      this.deps.log.info({ taskId: task.id, ...data }, 'checkpoint taken');
      await this.prune(task).catch((err: unknown) =>
        this.deps.log.warn({ err, taskId: task.id }, 'pruning checkpoints failed'),
      );
      return record;
    } catch (err) {
      await this.deps.records.delete(id).catch(() => undefined);
      const reason = err instanceof AppError ? err.message : 'the checkpoint could not be stored; see the server log';
      if (!(err instanceof AppError)) this.deps.log.error({ err, taskId: task.id }, 'checkpoint failed');
      const data: CheckpointEventData = { trigger, error: reason.slice(0, 2000) };
      await this.deps.timeline.event(task.id, 'checkpoint', data).catch(() => undefined);
      throw new AppError('CHECKPOINT_FAILED', `could not checkpoint task ${task.id}: ${reason}`, { cause: err });
    }
  }

  /** The latest checkpoint's files of a task, read-only (manifests of the last few asked for are kept). */
  async files(task: Pick<Task, 'id' | 'owner'>): Promise<CheckpointFiles | null> {
    const [latest] = await this.deps.records.list(task.id, 1);
    if (!latest) return null;
    let view = this.views.get(latest.id);
    if (!view) {
      view = new CheckpointFiles(this.deps.blobs, task.owner, latest, await readManifest(this.deps.blobs, latest));
      this.views.set(latest.id, view);
      for (const key of this.views.keys()) {
        if (this.views.size <= VIEWS_KEPT) break;
        this.views.delete(key);
      }
    }
    return view;
  }

  /** A task's checkpoints, newest first. */
  list(taskId: string): Promise<CheckpointRecord[]> {
    return this.deps.records.list(taskId);
  }

  /** The checkpoint a resume starts from: `at`, or the task's latest; NOT_FOUND / CONFLICT with what to do. */
  async pick(task: Task, at?: string): Promise<CheckpointRecord> {
    if (at) {
      const record = await this.deps.records.get(at);
      if (!record || record.taskId !== task.id || record.state !== 'complete') {
        throw new AppError(
          'NOT_FOUND',
          `task ${task.id} has no checkpoint ${at} (\`rclaude checkpoints ${task.id}\` lists them)`,
        );
      }
      return record;
    }
    const [latest] = await this.deps.records.list(task.id, 1);
    if (!latest) {
      throw new AppError(
        'CONFLICT',
        `task ${task.id} has no checkpoint to resume from: its work was not saved before it ended`,
      );
    }
    return latest;
  }

  /**
   * Restores a checkpoint into a task's new sandbox (before its main session opens), verified by the agent
   * against the manifest; a `restore` event says what came back and how old it was.
   */
  async restore(task: Task, sandboxId: string, checkpointId: string): Promise<AgentRestoreResult> {
    const record = await this.deps.records.get(checkpointId);
    if (!record || record.taskId !== task.id) throw new AppError('NOT_FOUND', `no checkpoint ${checkpointId}`);
    const started = this.now();
    const result = await this.deps.rpc.call(sandboxId, 'checkpoint:restore', { checkpointId }, this.deps.timeoutMs);
    const data: RestoreEventData = {
      checkpointId,
      ageMs: Math.max(0, started - Date.parse(record.createdAt)),
      files: result.files,
      bytes: result.bytes,
      mismatches: result.mismatches.slice(0, 100).map((m) => m.slice(0, 4200)),
      durationMs: this.now() - started,
    };
    await this.deps.timeline.event(task.id, 'restore', data);
    return result;
  }

  /**
   * Makes checkpoint `source` the first checkpoint of `task` (a fork; same owner): its manifest is copied, its
   * blobs are shared (stored once per owner; collection keeps every blob some kept manifest names, so deleting
   * the source task keeps the fork's files).
   */
  async copyTo(
    source: CheckpointRecord,
    task: Pick<Task, 'id' | 'owner'>,
    sandboxId: string,
  ): Promise<CheckpointRecord> {
    if (source.owner !== task.owner) throw new AppError('FORBIDDEN', 'a fork belongs to the owner of its source');
    return this.store(task, sandboxId, 'fork', async () => ({
      manifest: await readManifest(this.deps.blobs, source),
      uploadedBytes: 0,
    }));
  }

  /**
   * Stores an uploaded workspace as the first checkpoint of `task` (`rclaude run --here`): every blob is
   * verified against its hash as it is stored, then the manifest is accepted only if every blob it names is in
   * the store.
   */
  async importInto(
    task: Pick<Task, 'id' | 'owner'>,
    sandboxId: string,
    manifest: CheckpointManifest,
    blobs: AsyncIterable<ImportedBlob>,
  ): Promise<CheckpointRecord> {
    return this.store(task, sandboxId, 'import', async () => {
      let uploadedBytes = 0;
      for await (const blob of blobs) {
        await this.deps.blobs.putBlob(task.owner, blob.hash, blob.size, blob.body);
        uploadedBytes += blob.size;
      }
      const hashes = [...new Set(manifest.entries.flatMap((e) => (e.type === 'file' ? [e.hash] : [])))];
      for (let i = 0; i < hashes.length; i += 10_000) {
        const absent = await this.deps.blobs.missing(task.owner, hashes.slice(i, i + 10_000), { fresh: true });
        if (absent.length > 0) {
          throw new AppError('CHECKPOINT_CORRUPT', `the upload lacks ${absent.length} blob(s) its manifest names`);
        }
      }
      return { manifest, uploadedBytes };
    });
  }

  /** Records a checkpoint of `task` whose manifest `fill` provides (pending meanwhile, so nothing is collected). */
  private async store(
    task: Pick<Task, 'id' | 'owner'>,
    sandboxId: string,
    trigger: 'fork' | 'import',
    fill: () => Promise<{ manifest: CheckpointManifest; uploadedBytes: number }>,
  ): Promise<CheckpointRecord> {
    const id = `cp_${newId()}`;
    const started = this.now();
    this.copying.set(task.owner, (this.copying.get(task.owner) ?? 0) + 1);
    try {
      await this.deps.records.begin({ id, taskId: task.id, owner: task.owner, sandboxId, trigger });
      try {
        const { manifest, uploadedBytes } = await fill();
        await this.deps.blobs.putManifest(task.owner, task.id, id, Buffer.from(JSON.stringify(manifest)));
        if (uploadedBytes > 0) await this.deps.records.addUploaded(id, uploadedBytes);
        let files = 0;
        let bytes = 0;
        for (const e of manifest.entries) {
          if (e.type !== 'file') continue;
          files++;
          bytes += e.size;
        }
        const done = await this.deps.records.complete(id, {
          files,
          bytes,
          durationMs: this.now() - started,
          claudeSessionId: manifest.claudeSessionId,
        });
        if (!done) throw new AppError('CONFLICT', `checkpoint ${id} was removed while it was stored`);
        return done;
      } catch (err) {
        await this.deps.blobs.deleteManifest(task.owner, task.id, id).catch(() => undefined);
        await this.deps.records.delete(id).catch(() => undefined);
        throw err;
      }
    } finally {
      const n = (this.copying.get(task.owner) ?? 1) - 1;
      if (n > 0) this.copying.set(task.owner, n);
      else this.copying.delete(task.owner);
    }
  }

  /** A checkpoint's manifest (`rclaude pull` reads it to rebuild the changes and the conversation). */
  async manifest(record: CheckpointRecord): Promise<CheckpointManifest> {
    return readManifest(this.deps.blobs, record);
  }

  /** One blob a checkpoint's manifest names, with its size; NOT_FOUND for any other hash. */
  async blob(record: CheckpointRecord, hash: string): Promise<{ size: number; body: Readable }> {
    let index = this.blobIndex.get(record.id);
    if (!index) {
      index = new Map();
      for (const e of (await readManifest(this.deps.blobs, record)).entries)
        if (e.type === 'file') index.set(e.hash, e.size);
      this.blobIndex.set(record.id, index);
      for (const key of this.blobIndex.keys()) {
        if (this.blobIndex.size <= VIEWS_KEPT) break;
        this.blobIndex.delete(key);
      }
    }
    const size = index.get(hash);
    if (size === undefined) throw new AppError('NOT_FOUND', `checkpoint ${record.id} has no file with hash ${hash}`);
    return { size, body: await this.deps.blobs.getBlob(record.owner, hash) };
  }

  /** Deletes everything a task stored (its checkpoints' manifests, then blobs no other checkpoint names). */
  async removeTask(task: Pick<Task, 'id' | 'owner'>): Promise<void> {
    for (const r of await this.deps.records.listByOwner(task.owner)) {
      if (r.taskId !== task.id) continue;
      await this.deps.blobs.deleteManifest(task.owner, task.id, r.id);
      await this.deps.records.delete(r.id);
    }
    await this.collect(task.owner);
  }

  private get policy(): RetentionPolicy {
    return {
      keepPerTask: Math.max(1, this.deps.keepPerTask),
      maxAgeMs: this.deps.maxAgeMs ?? 0,
      quotaBytes: this.deps.quotaBytes ?? 0,
    };
  }

  /**
   * Applies the retention policy ({@link retentionPlan}) to the owner of `task` after its new checkpoint. If the
   * owner is still over the quota, an `error` event on `task` says so (once, until it is under again). Then frees
   * the blobs only deleted manifests named, unless `collectOnPrune` is false (the sweeper collects them).
   */
  private async prune(task: Task): Promise<void> {
    const { quotaBytes } = this.policy;
    const { doomed, overBy } = retentionPlan(await this.deps.records.listByOwner(task.owner), this.policy, this.now());
    await this.deleteAll(doomed);
    if (doomed.length > 0 && (this.deps.collectOnPrune ?? true)) await this.collect(task.owner);
    if (overBy === 0) this.overQuota.delete(task.id);
    else if (!this.overQuota.has(task.id)) {
      this.overQuota.add(task.id);
      await this.deps.timeline.event(task.id, 'error', {
        message:
          `your checkpoints take ${overBy} bytes more than your quota of ${quotaBytes} bytes, even with only ` +
          'the newest checkpoint of each task left; this checkpoint was kept. Delete tasks you no longer need ' +
          '(`rclaude rm TASK`) to free space.',
        quotaBytes,
        overBy,
      });
    }
  }

  /**
   * The sweeper's pass over one owner: applies the retention policy ({@link retentionPlan}: count, age and quota;
   * a lowered limit takes effect for users who take no new checkpoint), then frees the owner's blobs no manifest
   * names, sparing those stored within `graceMs` (default `gcGraceMs`).
   */
  async sweepOwner(owner: string, opts: { graceMs?: number } = {}): Promise<OwnerSweep> {
    const { doomed } = retentionPlan(await this.deps.records.listByOwner(owner), this.policy, this.now());
    await this.deleteAll(doomed);
    return { deleted: doomed.length, freed: await this.collect(owner, opts.graceMs) };
  }

  private async deleteAll(records: Iterable<CheckpointRecord>): Promise<void> {
    for (const r of records) {
      await this.deps.blobs.deleteManifest(r.owner, r.taskId, r.id);
      await this.deps.records.delete(r.id);
    }
  }

  /**
   * Frees the owner's blobs that no complete checkpoint names; what it freed, or null when skipped: while one of
   * the owner's checkpoints is pending, its agent may have been told a blob exists that no manifest names yet.
   */
  private async collect(owner: string, graceMs = this.deps.gcGraceMs ?? 60_000): Promise<OwnerSweep['freed']> {
    if (this.copying.has(owner)) return null;
    const records = await this.deps.records.listByOwner(owner);
    if (records.some((r) => r.state === 'pending')) return null;
    const live = new Set<string>();
    for (const r of records) {
      // A manifest that cannot be read stops the collection: its blobs must never be taken for garbage.
      const manifest = await readManifest(this.deps.blobs, { owner, taskId: r.taskId, id: r.id });
      for (const e of manifest.entries) if (e.type === 'file') live.add(e.hash);
    }
    const freed = await collectGarbage(this.deps.blobs, owner, live, { graceMs, now: this.now });
    if (freed.blobs > 0) this.deps.log.info({ owner, ...freed }, 'freed checkpoint blobs');
    return freed;
  }
}
