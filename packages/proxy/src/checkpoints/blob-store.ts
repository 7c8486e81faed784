import type { Readable } from 'node:stream';

/** Where checkpoint blobs and manifests are kept, per owner (see the checkpoint-store branch for the full version). */
export interface CheckpointBlobStore {
  readonly kind: 'local' | 's3';
  missing(owner: string, hashes: readonly string[]): Promise<string[]>;
  putBlob(owner: string, hash: string, size: number, body: Readable): Promise<void>;
  getBlob(owner: string, hash: string): Promise<Readable>;
  putManifest(owner: string, taskId: string, checkpointId: string, manifest: Buffer): Promise<void>;
  getManifest(owner: string, taskId: string, checkpointId: string): Promise<Buffer | null>;
  deleteManifest(owner: string, taskId: string, checkpointId: string): Promise<void>;
  listBlobs(owner: string): AsyncIterable<{ hash: string; size: number; storedAt: Date }>;
  deleteBlobs(owner: string, hashes: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

/** Deletes the owner's blobs not in `liveHashes` and older than `graceMs`. */
export async function collectGarbage(
  store: CheckpointBlobStore,
  owner: string,
  liveHashes: ReadonlySet<string>,
  opts: { graceMs: number; now?: () => number },
): Promise<{ blobs: number; bytes: number }> {
  const now = (opts.now ?? Date.now)();
  const dead: string[] = [];
  let bytes = 0;
  for await (const b of store.listBlobs(owner)) {
    if (liveHashes.has(b.hash) || now - b.storedAt.getTime() < opts.graceMs) continue;
    dead.push(b.hash);
    bytes += b.size;
  }
  if (dead.length > 0) await store.deleteBlobs(owner, dead);
  return { blobs: dead.length, bytes };
}
