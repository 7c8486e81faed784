import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { AppError, blobHashSchema, type CheckpointManifest, checkpointIdSchema } from '@rclaude/protocol';

// Shared by the checkpoint stores; apart from blob-store.ts so the implementations import no factory.

/** Owner and task ids as they become path segments and keys: lowercase letters, digits and `_`. */
const storeIdPattern = /^[a-z0-9_]{1,64}$/;

/** Refuses an owner or task id that is not 1 to 64 lowercase letters, digits or `_` (BAD_REQUEST). */
export function assertStoreId(kind: 'owner' | 'task', id: string): void {
  if (typeof id !== 'string' || !storeIdPattern.test(id)) {
    throw new AppError('BAD_REQUEST', `not a valid ${kind} id for the checkpoint store`);
  }
}

/** Refuses a checkpoint id that {@link checkpointIdSchema} refuses (BAD_REQUEST). */
export function assertCheckpointId(id: string): void {
  if (!checkpointIdSchema.safeParse(id).success) {
    throw new AppError('BAD_REQUEST', 'not a valid checkpoint id');
  }
}

/** Refuses anything but 64 lowercase hex digits (BAD_REQUEST). */
export function assertBlobHash(hash: string): void {
  if (!blobHashSchema.safeParse(hash).success) {
    throw new AppError('BAD_REQUEST', 'a blob hash is 64 lowercase hex digits');
  }
}

/** Validates a put's declared size: a non-negative safe integer (BAD_REQUEST). */
export function assertBlobSize(size: number): void {
  if (!Number.isSafeInteger(size) || size < 0)
    throw new AppError('BAD_REQUEST', 'a blob size is a whole number of bytes');
}

/** The error of a blob whose bytes are not what was declared. */
export function corruptBlob(hash: string, why: string): AppError {
  return new AppError('CHECKPOINT_CORRUPT', `blob ${hash.slice(0, 12)}… refused: ${why}`);
}

/** Runs `fn` over `items` with at most `limit` calls in flight; rejects with the first failure. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Reads `body` to its end, handing each chunk to `write` while hashing and counting it, and refuses (CHECKPOINT_CORRUPT)
 * as soon as it runs past `size`, or at its end when its length or SHA-256 is not the declared one.
 */
export async function readVerified(
  body: Readable,
  hash: string,
  size: number,
  write: (chunk: Buffer) => Promise<void> | void,
): Promise<void> {
  const sha = createHash('sha256');
  let length = 0;
  for await (const chunk of body as AsyncIterable<Buffer | string>) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    length += bytes.length;
    // Stop at once: a body longer than declared is refused without storing (or spooling) the rest.
    if (length > size) throw corruptBlob(hash, `longer than the declared ${size} bytes`);
    sha.update(bytes);
    await write(bytes);
  }
  if (length !== size) throw corruptBlob(hash, `${length} bytes, not the declared ${size}`);
  if (sha.digest('hex') !== hash) throw corruptBlob(hash, 'its SHA-256 is not its name');
}

/** Refuses a manifest that names one path of a root twice (CHECKPOINT_CORRUPT): a restore would be ambiguous. */
export function assertUniquePaths(manifest: Pick<CheckpointManifest, 'entries'>): void {
  const seen = new Set<string>();
  for (const e of manifest.entries) {
    const key = `${e.root}/${e.path}`;
    if (seen.has(key)) throw new AppError('CHECKPOINT_CORRUPT', `the manifest names ${key} twice`);
    seen.add(key);
  }
}
