import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Config } from '../config.js';
import { assertStoreId } from './blob-validation.js';
import { LocalBlobStore } from './local-blob-store.js';
import { S3BlobStore, type S3BlobStoreOptions } from './s3-blob-store.js';

export {
  assertBlobHash,
  assertCheckpointId,
  assertStoreId,
} from './blob-validation.js';

/**
 * Where checkpoints are kept (docs/checkpoints.md): content-addressed blobs (a file's bytes, named by their
 * lowercase hex SHA-256) and the manifests that list them, both namespaced per owner. Blobs are never shared
 * across owners: a store that deduplicated across users would let one user's sandbox learn, by asking what is
 * missing, whether another user stores some content.
 *
 * Every owner, task and checkpoint id and every hash is validated before it becomes a path or a key
 * (BAD_REQUEST otherwise), so nothing a sandbox sends can address another owner's data or leave the store.
 */
/** Bytes `start` to `end - 1` of a blob; `end > start`. */
export interface BlobRange {
  start: number;
  end: number;
}

export interface CheckpointBlobStore {
  readonly kind: 'local' | 's3';
  /**
   * Of `hashes`, those this owner's store lacks, each once, in the order asked. Fast for tens of thousands of
   * hashes. It never reports a blob present that this store does not hold, as far as this process knows: the
   * S3 store answers from a listing at most `knownHashesTtlMs` old, updated by this process's puts and deletes;
   * `fresh` lists again first (for a check right before a manifest is committed, when another proxy may have
   * collected garbage).
   */
  missing(owner: string, hashes: readonly string[], opts?: { fresh?: boolean }): Promise<string[]>;
  /**
   * Stores one blob read from `body` to its end. Refuses with AppError CHECKPOINT_CORRUPT, storing nothing,
   * when its SHA-256 is not `hash` or its length is not `size` (it stops reading as soon as `body` runs past
   * `size`). Atomic (a failed or concurrent put never leaves a partial blob visible) and idempotent (a blob
   * already stored is verified from `body` and kept).
   */
  putBlob(owner: string, hash: string, size: number, body: Readable): Promise<void>;
  /**
   * The blob's bytes, or those in `range` (from `start`, up to but not including `end`, both within the blob);
   * AppError NOT_FOUND when absent.
   */
  getBlob(owner: string, hash: string, range?: BlobRange): Promise<Readable>;
  /** Stores (or replaces) a checkpoint's manifest, atomically. */
  putManifest(owner: string, taskId: string, checkpointId: string, manifest: Buffer): Promise<void>;
  /** The manifest's bytes as put, or null when there is none. */
  getManifest(owner: string, taskId: string, checkpointId: string): Promise<Buffer | null>;
  /** Deletes a manifest; deleting one that is absent is not an error. */
  deleteManifest(owner: string, taskId: string, checkpointId: string): Promise<void>;
  /** Every blob of an owner, with its size in bytes and when it was stored (for garbage collection and accounting). */
  listBlobs(owner: string): AsyncIterable<StoredBlob>;
  /** Deletes these blobs of the owner; absent ones are skipped. */
  deleteBlobs(owner: string, hashes: readonly string[]): Promise<void>;
  /** Releases clients; the store is unusable afterwards. */
  close(): Promise<void>;
}

/** One blob as {@link CheckpointBlobStore.listBlobs} reports it. */
export interface StoredBlob {
  hash: string;
  size: number;
  /** When it was stored (file mtime, S3 LastModified: whole seconds there). */
  storedAt: Date;
}

/** Blobs removed by {@link collectGarbage}, and their bytes. */
export interface GarbageCollected {
  blobs: number;
  bytes: number;
}

/** How many hashes {@link collectGarbage} deletes at once (S3's DeleteObjects takes at most 1000 keys). */
const GC_DELETE_BATCH = 1000;

/**
 * Deletes the owner's blobs that no live manifest names (`liveHashes`: every hash named by the owner's
 * manifests that are kept), sparing blobs stored within the last `graceMs` (a checkpoint uploading now has
 * blobs no manifest names yet). Returns what it freed.
 *
 * The grace covers blobs uploaded by a checkpoint in progress, not blobs that checkpoint was told exist
 * (`missing` left them out) and will name: the caller must count the hashes of checkpoints being taken as
 * live, or not collect an owner's garbage while one of its checkpoints is being taken.
 */
export async function collectGarbage(
  store: CheckpointBlobStore,
  owner: string,
  liveHashes: ReadonlySet<string>,
  opts: { graceMs: number; now?: () => number },
): Promise<GarbageCollected> {
  assertStoreId('owner', owner);
  const cutoff = (opts.now ?? Date.now)() - opts.graceMs;
  const doomed: string[] = [];
  let bytes = 0;
  for await (const blob of store.listBlobs(owner)) {
    if (liveHashes.has(blob.hash) || blob.storedAt.getTime() > cutoff) continue;
    doomed.push(blob.hash);
    bytes += blob.size;
  }
  for (let i = 0; i < doomed.length; i += GC_DELETE_BATCH) {
    await store.deleteBlobs(owner, doomed.slice(i, i + GC_DELETE_BATCH));
  }
  return { blobs: doomed.length, bytes };
}

/** The settings {@link createBlobStore} reads (all from {@link Config}). */
export type BlobStoreSettings = Pick<
  Config,
  | 'RCLAUDE_CHECKPOINT_STORE'
  | 'RCLAUDE_CHECKPOINT_S3_BUCKET'
  | 'RCLAUDE_CHECKPOINT_S3_PREFIX'
  | 'RCLAUDE_CHECKPOINT_S3_ENDPOINT'
  | 'AWS_REGION'
>;

/** What tests (or a composition root) may hand {@link createBlobStore} besides settings. */
export interface BlobStoreDeps {
  /** S3 credentials; default the SDK's chain (task role, environment, profile). */
  s3Credentials?: S3BlobStoreOptions['credentials'];
  /** Tuning of the S3 store over what the settings give (tests lower the page size to exercise paging). */
  s3?: Partial<
    Pick<
      S3BlobStoreOptions,
      'listPageSize' | 'serverSideEncryption' | 'knownHashesTtlMs' | 'memorySpoolMaxBytes' | 'concurrency'
    >
  >;
}

/**
 * The configured store: `local` keeps checkpoints under `<dataDir>/checkpoints`; `s3` in
 * RCLAUDE_CHECKPOINT_S3_BUCKET under RCLAUDE_CHECKPOINT_S3_PREFIX, spooling uploads under
 * `<dataDir>/checkpoint-spool`. Throws a message naming the variable to set when s3 lacks a bucket or region.
 */
export function createBlobStore(
  settings: BlobStoreSettings,
  dataDir: string,
  deps: BlobStoreDeps = {},
): CheckpointBlobStore {
  const kind = settings.RCLAUDE_CHECKPOINT_STORE;
  switch (kind) {
    case 'local':
      return new LocalBlobStore({ root: path.join(dataDir, 'checkpoints') });
    case 's3': {
      const bucket = settings.RCLAUDE_CHECKPOINT_S3_BUCKET;
      if (!bucket) throw new Error('RCLAUDE_CHECKPOINT_STORE=s3 needs a bucket: set RCLAUDE_CHECKPOINT_S3_BUCKET');
      const endpoint = settings.RCLAUDE_CHECKPOINT_S3_ENDPOINT;
      if (!endpoint && !settings.AWS_REGION) {
        throw new Error('RCLAUDE_CHECKPOINT_STORE=s3 needs a region: set AWS_REGION (see docs/deploy-aws.md)');
      }
      return new S3BlobStore({
        bucket,
        prefix: settings.RCLAUDE_CHECKPOINT_S3_PREFIX,
        region: settings.AWS_REGION ?? 'us-east-1',
        spoolDir: path.join(dataDir, 'checkpoint-spool'),
        ...(endpoint ? { endpoint } : {}),
        // AWS encrypts with S3-managed keys, as the stack's bucket does by default. S3-compatible stores differ
        // (MinIO refuses the header without a KMS), so there the bucket's own default applies.
        ...(endpoint ? {} : { serverSideEncryption: 'AES256' as const }),
        ...(deps.s3Credentials ? { credentials: deps.s3Credentials } : {}),
        ...deps.s3,
      });
    }
    default: {
      const never: never = kind;
      throw new Error(`unknown checkpoint store: ${String(never)}`);
    }
  }
}
