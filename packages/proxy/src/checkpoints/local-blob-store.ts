import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { AppError, blobHashSchema } from '@rclaude/protocol';
import type { BlobRange, CheckpointBlobStore, StoredBlob } from './blob-store.js';
import {
  assertBlobHash,
  assertBlobSize,
  assertCheckpointId,
  assertStoreId,
  mapLimit,
  readVerified,
} from './blob-validation.js';

export interface LocalBlobStoreOptions {
  /** The store's folder (`<dataDir>/checkpoints`); created 0700 when missing. */
  root: string;
  /** File system calls in flight at once for `missing` and `deleteBlobs`. Default 32. */
  concurrency?: number;
}

const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

/**
 * Checkpoints on local disk:
 * `<root>/<owner>/blobs/<first 2 hex>/<hash>` and `<root>/<owner>/tasks/<taskId>/<checkpointId>.json`.
 * Every write goes to a temporary file in the destination's folder (hashed while written, fsynced), then is
 * renamed into place: a reader sees a whole blob or none. Files are 0600 and folders 0700, as the store holds
 * users' workspaces.
 */
export class LocalBlobStore implements CheckpointBlobStore {
  readonly kind = 'local' as const;
  readonly #root: string;
  readonly #concurrency: number;

  constructor(options: LocalBlobStoreOptions) {
    this.#root = path.resolve(options.root);
    this.#concurrency = options.concurrency ?? 32;
  }

  async missing(owner: string, hashes: readonly string[]): Promise<string[]> {
    assertStoreId('owner', owner);
    for (const hash of hashes) assertBlobHash(hash);
    const unique = [...new Set(hashes)];
    const byFolder = new Map<string, string[]>();
    for (const hash of unique) {
      const folder = hash.slice(0, 2);
      byFolder.set(folder, [...(byFolder.get(folder) ?? []), hash]);
    }
    const present = new Set<string>();
    // One readdir answers for many hashes of a folder at once (20,000 lstat calls take seconds); a few are
    // cheaper to look up one by one than to list a folder of a large store.
    await mapLimit([...byFolder], this.#concurrency, async ([folder, asked]) => {
      if (asked.length >= 8) {
        const names = new Set(await readDirOrEmpty(path.join(this.#root, owner, 'blobs', folder)));
        for (const hash of asked) if (names.has(hash)) present.add(hash);
      } else {
        for (const hash of asked) if (await exists(this.#blobPath(owner, hash))) present.add(hash);
      }
    });
    return unique.filter((hash) => !present.has(hash));
  }

  async putBlob(owner: string, hash: string, size: number, body: Readable): Promise<void> {
    assertStoreId('owner', owner);
    assertBlobHash(hash);
    assertBlobSize(size);
    const final = this.#blobPath(owner, hash);
    if (await exists(final)) {
      // Idempotent, and still strict: the bytes sent are checked, then dropped.
      await readVerified(body, hash, size, () => undefined);
      return;
    }
    await writeAtomically(final, async (handle) => {
      await readVerified(body, hash, size, async (chunk) => {
        await handle.write(chunk);
      });
    });
  }

  async getBlob(owner: string, hash: string, range?: BlobRange): Promise<Readable> {
    assertStoreId('owner', owner);
    assertBlobHash(hash);
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.#blobPath(owner, hash), fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    } catch (error) {
      if (isCode(error, 'ENOENT')) throw new AppError('NOT_FOUND', 'no such blob');
      throw error;
    }
    return handle.createReadStream(range ? { start: range.start, end: range.end - 1 } : {});
  }

  async putManifest(owner: string, taskId: string, checkpointId: string, manifest: Buffer): Promise<void> {
    const file = this.#manifestPath(owner, taskId, checkpointId);
    await writeAtomically(file, async (handle) => {
      await handle.writeFile(manifest);
    });
    // A manifest names blobs the proxy acknowledged; make its rename durable before saying it is stored.
    await syncDir(path.dirname(file));
  }

  async getManifest(owner: string, taskId: string, checkpointId: string): Promise<Buffer | null> {
    try {
      return await fs.readFile(this.#manifestPath(owner, taskId, checkpointId));
    } catch (error) {
      if (isCode(error, 'ENOENT')) return null;
      throw error;
    }
  }

  async deleteManifest(owner: string, taskId: string, checkpointId: string): Promise<void> {
    const file = this.#manifestPath(owner, taskId, checkpointId);
    await fs.rm(file, { force: true });
    // The task's folder goes with its last manifest; another put recreates it.
    await fs.rmdir(path.dirname(file)).catch(() => undefined);
  }

  async *listBlobs(owner: string): AsyncIterable<StoredBlob> {
    assertStoreId('owner', owner);
    const blobsDir = path.join(this.#root, owner, 'blobs');
    const fanout = await readDirOrEmpty(blobsDir);
    for (const bucket of fanout.sort()) {
      if (!/^[0-9a-f]{2}$/.test(bucket)) continue;
      const names = await readDirOrEmpty(path.join(blobsDir, bucket));
      for (const name of names.sort()) {
        // Temporary files of puts in progress are not blobs (yet).
        if (!name.startsWith(bucket) || !blobHashSchema.safeParse(name).success) continue;
        try {
          const stat = await fs.lstat(path.join(blobsDir, bucket, name));
          if (stat.isFile()) yield { hash: name, size: stat.size, storedAt: stat.mtime };
        } catch (error) {
          // Deleted since the folder was read.
          if (!isCode(error, 'ENOENT')) throw error;
        }
      }
    }
  }

  async deleteBlobs(owner: string, hashes: readonly string[]): Promise<void> {
    assertStoreId('owner', owner);
    for (const hash of hashes) assertBlobHash(hash);
    await mapLimit([...new Set(hashes)], this.#concurrency, (hash) =>
      fs.rm(this.#blobPath(owner, hash), { force: true }),
    );
  }

  async close(): Promise<void> {}

  #blobPath(owner: string, hash: string): string {
    return path.join(this.#root, owner, 'blobs', hash.slice(0, 2), hash);
  }

  #manifestPath(owner: string, taskId: string, checkpointId: string): string {
    assertStoreId('owner', owner);
    assertStoreId('task', taskId);
    assertCheckpointId(checkpointId);
    return path.join(this.#root, owner, 'tasks', taskId, `${checkpointId}.json`);
  }
}

/**
 * Writes `file` through a temporary sibling: `write` fills it, it is fsynced, then renamed over `file`. On any
 * failure the temporary file is removed and `file` is untouched.
 */
async function writeAtomically(file: string, write: (handle: fs.FileHandle) => Promise<void>): Promise<void> {
  const dir = path.dirname(file);
  await fs.mkdir(dir, { recursive: true, mode: DIR_MODE });
  const temp = path.join(dir, `.tmp-${randomBytes(8).toString('hex')}`);
  const handle = await fs.open(temp, 'wx', FILE_MODE);
  try {
    try {
      await write(handle);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.lstat(file);
    return true;
  } catch (error) {
    if (isCode(error, 'ENOENT')) return false;
    throw error;
  }
}

async function readDirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (error) {
    if (isCode(error, 'ENOENT')) return [];
    throw error;
  }
}

function isCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}
