import { createHash } from 'node:crypto';
import { once } from 'node:events';
import fsSync, { constants as fsConstants } from 'node:fs';
import type { Readable } from 'node:stream';
import {
  type AgentCheckpointResult,
  AppError,
  CHECKPOINT_FORMAT,
  CHECKPOINT_MAX_ENTRIES,
  type CheckpointManifest,
  MISSING_BLOBS_BATCH,
} from '@rclaude/protocol';
import type { Logger } from 'pino';
import tar from 'tar-stream';
import type { CheckpointClient } from './proxy-client.js';
import { type BlobSource, type HashCache, scanRoots, TooManyEntriesError } from './scan.js';

export interface PackOptions {
  checkpointId: string;
  /** The workspace and Claude Code's conversation folder for it (absolute; either may be missing). */
  workspace: string;
  claudeDir: string;
  client: CheckpointClient;
  cache: HashCache;
  log: Logger;
  /** Scans and uploads tried when files keep changing under the upload. Default 3. */
  attempts?: number;
  /** Most manifest entries (default the format's limit); for tests. */
  maxEntries?: number;
}

/** A file's bytes were not those it was hashed with when the upload read it (it changed, or vanished). */
export class FileChangedError extends Error {
  constructor(
    readonly source: BlobSource,
    why: string,
  ) {
    super(`${source.abs} changed while it was uploaded (${why})`);
  }
}

/** Files up to this size are read whole and handed to the tar as one buffer; larger ones stream. */
const WHOLE_FILE_BYTES = 1 << 20;

/**
 * Packs the workspace and its Claude conversation folder as checkpoint `checkpointId`: scans both (reusing
 * cached hashes), asks the proxy which blobs it lacks, uploads those as one streamed tar, then the gzipped
 * manifest. A file that changes between its hashing and its upload starts the scan over (it is re-hashed), up
 * to `attempts` times.
 */
export async function packCheckpoint(opts: PackOptions): Promise<AgentCheckpointResult> {
  const attempts = opts.attempts ?? 3;
  for (let attempt = 1; ; attempt++) {
    const started = performance.now();
    let scan: Awaited<ReturnType<typeof scanRoots>>;
    try {
      scan = await scanRoots({
        roots: [
          { root: 'workspace', abs: opts.workspace },
          { root: 'claude', abs: opts.claudeDir },
        ],
        cache: opts.cache,
        maxEntries: opts.maxEntries ?? CHECKPOINT_MAX_ENTRIES,
      });
    } catch (err) {
      if (err instanceof TooManyEntriesError) {
        throw new AppError(
          'CHECKPOINT_FAILED',
          `the workspace has ${err.message}, more than a checkpoint holds; leave generated files out of it`,
        );
      }
      throw failed('reading the workspace', err);
    }
    const createdAt = new Date().toISOString();
    const scannedMs = performance.now() - started;

    const hashes = [...scan.blobs.keys()];
    const missing: string[] = [];
    for (let i = 0; i < hashes.length; i += MISSING_BLOBS_BATCH) {
      const batch = hashes.slice(i, i + MISSING_BLOBS_BATCH);
      const asked = new Set(batch);
      for (const h of await opts.client.missing(opts.checkpointId, batch)) if (asked.has(h)) missing.push(h);
    }
    const sources = missing.map((h) => [h, scan.blobs.get(h) as BlobSource] as const);
    let uploaded = { blobs: 0, bytes: 0 };
    try {
      if (sources.length > 0) uploaded = await uploadBlobs(opts.client, opts.checkpointId, sources);
    } catch (err) {
      if (!(err instanceof FileChangedError)) throw err;
      if (err.source.key) opts.cache.forget(err.source.key);
      if (attempt >= attempts) {
        throw new AppError('CHECKPOINT_FAILED', `${err.message}, ${attempts} times; try again when it settles`);
      }
      opts.log.info({ checkpointId: opts.checkpointId, reason: err.message }, 'checkpoint: a file changed; rescanning');
      continue;
    }

    const manifest: CheckpointManifest = {
      format: CHECKPOINT_FORMAT,
      createdAt,
      workspace: opts.workspace,
      excluded: scan.excluded.slice(0, 100),
      claudeSessionId: scan.claudeSessionId,
      entries: scan.entries,
    };
    await opts.client.putManifest(opts.checkpointId, manifest);
    opts.log.info(
      {
        checkpointId: opts.checkpointId,
        entries: scan.entries.length,
        files: scan.files,
        bytes: scan.bytes,
        uploadedBlobs: uploaded.blobs,
        uploadedBytes: uploaded.bytes,
        scannedMs: Math.round(scannedMs),
        totalMs: Math.round(performance.now() - started),
      },
      'checkpoint packed',
    );
    return {
      files: scan.files,
      bytes: scan.bytes,
      uploadedBlobs: uploaded.blobs,
      uploadedBytes: uploaded.bytes,
      claudeSessionId: scan.claudeSessionId,
    };
  }
}

/**
 * Streams the blobs as one tar to the proxy, each read from its file as the upload goes (never all in memory)
 * and checked against the size and hash it was scanned with.
 */
async function uploadBlobs(
  client: CheckpointClient,
  checkpointId: string,
  sources: readonly (readonly [string, BlobSource])[],
): Promise<{ blobs: number; bytes: number }> {
  const pack = tar.pack();
  // tar-stream's pack is a streamx Readable, which Node's pipeline reads like its own.
  const sending = client.putBlobs(checkpointId, pack as unknown as Readable);
  const feeding = (async () => {
    for (const [hash, source] of sources) {
      if (pack.destroyed) return;
      await addBlob(pack, hash, source);
    }
    pack.finalize();
  })();
  feeding.catch((err: unknown) => pack.destroy(err instanceof Error ? err : new Error(String(err))));
  const [fed, sent] = await Promise.allSettled([feeding, sending]);
  // A file that changed explains the aborted upload better than the upload's own error.
  if (fed.status === 'rejected' && fed.reason instanceof FileChangedError) throw fed.reason;
  if (sent.status === 'rejected') throw sent.reason;
  if (fed.status === 'rejected') throw failed('reading a file for the upload', fed.reason);
  return sent.value;
}

async function addBlob(pack: tar.Pack, hash: string, source: BlobSource): Promise<void> {
  // Synchronous reads, as in the scan (see createYielder): each entry's await gives the loop back.
  let fd: number;
  try {
    fd = fsSync.openSync(source.abs, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch (err) {
    throw new FileChangedError(source, `cannot open it: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  try {
    const st = fsSync.fstatSync(fd);
    if (!st.isFile()) throw new FileChangedError(source, 'no longer a regular file');
    if (st.size < source.size) throw new FileChangedError(source, `${st.size} bytes, hashed at ${source.size}`);
    const sha = createHash('sha256');
    // Only the first `size` bytes: a file that grew keeps the prefix it was hashed with, or fails the check.
    if (source.size <= WHOLE_FILE_BYTES) {
      const buf = Buffer.alloc(source.size);
      let off = 0;
      while (off < source.size) {
        const bytesRead = fsSync.readSync(fd, buf, off, source.size - off, off);
        if (bytesRead === 0) break;
        off += bytesRead;
      }
      if (off !== source.size) throw new FileChangedError(source, `read ${off} of ${source.size} bytes`);
      if (sha.update(buf).digest('hex') !== hash) throw new FileChangedError(source, 'its bytes changed');
      await new Promise<void>((resolve, reject) =>
        pack.entry({ name: hash, size: source.size, type: 'file', mode: 0o600 }, buf, (err) =>
          err ? reject(err) : resolve(),
        ),
      );
      return;
    }
    const entry = pack.entry({ name: hash, size: source.size, type: 'file', mode: 0o600 });
    const done = new Promise<void>((resolve, reject) => {
      entry.once('error', reject);
      entry.once('finish', () => resolve());
      entry.once('close', () => resolve());
    });
    done.catch(() => undefined);
    let off = 0;
    while (off < source.size) {
      const chunk = Buffer.allocUnsafe(Math.min(WHOLE_FILE_BYTES, source.size - off));
      const bytesRead = fsSync.readSync(fd, chunk, 0, chunk.length, off);
      if (bytesRead === 0) break;
      off += bytesRead;
      const data = bytesRead === chunk.length ? chunk : chunk.subarray(0, bytesRead);
      sha.update(data);
      // Checked before the last bytes go: a blob that is not what it claims is never sent whole.
      if (off === source.size && sha.copy().digest('hex') !== hash) {
        throw new FileChangedError(source, 'its bytes changed');
      }
      if (!entry.write(data)) await Promise.race([once(entry, 'drain'), done]);
      else await new Promise<void>((resolve) => setImmediate(resolve));
      if (pack.destroyed) throw new Error('the upload was aborted');
    }
    if (off !== source.size) throw new FileChangedError(source, `read ${off} of ${source.size} bytes`);
    (entry as unknown as { end(): void }).end();
    await done;
  } finally {
    fsSync.closeSync(fd);
  }
}

function failed(what: string, err: unknown): AppError {
  if (err instanceof AppError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new AppError('CHECKPOINT_FAILED', `checkpoint failed ${what}: ${message}`, { cause: err });
}
