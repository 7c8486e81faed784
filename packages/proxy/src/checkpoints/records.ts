import { AppError, type Checkpoint, type CheckpointManifest, checkpointManifestSchema } from '@rclaude/protocol';
import type { CheckpointRecord } from '../stores/types.js';
import type { CheckpointBlobStore } from './blob-store.js';

/** A stored manifest, read back and validated (the store is ours, but a file on disk can rot). */
export async function readManifest(
  blobs: Pick<CheckpointBlobStore, 'getManifest'>,
  record: Pick<CheckpointRecord, 'owner' | 'taskId' | 'id'>,
): Promise<CheckpointManifest> {
  const raw = await blobs.getManifest(record.owner, record.taskId, record.id);
  if (!raw) throw new AppError('NOT_FOUND', `the manifest of checkpoint ${record.id} is gone from the store`);
  const parsed = checkpointManifestSchema.safeParse(JSON.parse(raw.toString('utf8')));
  if (!parsed.success)
    throw new AppError('CHECKPOINT_CORRUPT', `the stored manifest of checkpoint ${record.id} is damaged`);
  return parsed.data;
}

/** The API's view of a record (no owner, sandbox or state). */
export function publicCheckpoint(r: CheckpointRecord): Checkpoint {
  return {
    id: r.id,
    taskId: r.taskId,
    createdAt: r.createdAt,
    trigger: r.trigger,
    files: r.files,
    bytes: r.bytes,
    uploadedBytes: r.uploadedBytes,
    durationMs: r.durationMs,
    claudeSessionId: r.claudeSessionId,
  };
}
