import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { type Readable, Transform } from 'node:stream';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  S3ServiceException,
  type ServerSideEncryption,
} from '@aws-sdk/client-s3';
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

export interface S3BlobStoreOptions {
  bucket: string;
  /** Prefix of every key: empty or ending in `/` (RCLAUDE_CHECKPOINT_S3_PREFIX, default `rclaude/`). */
  prefix: string;
  region: string;
  /** An S3-compatible endpoint (path-style requests, checksums only where the API requires them). */
  endpoint?: string;
  /** Default: the SDK's credential chain. */
  credentials?: S3ClientConfig['credentials'];
  /** A ready client (then region, endpoint and credentials are ignored); not destroyed by close(). */
  client?: S3Client;
  /** Folder for uploads being verified before they are sent (created 0700; leftovers removed at start). */
  spoolDir: string;
  /** `x-amz-server-side-encryption` of every object; default none (the bucket's default encryption). */
  serverSideEncryption?: ServerSideEncryption;
  /** Blobs up to this size are verified in memory instead of spooled to disk. Default 1 MiB. */
  memorySpoolMaxBytes?: number;
  /** Requests in flight at once for DeleteObjects batches. Default 4. */
  concurrency?: number;
  /** How long a listing of an owner's blobs answers `missing`. Default 60 s. */
  knownHashesTtlMs?: number;
  /** MaxKeys of each ListObjectsV2 page (S3 returns at most 1000). Tests lower it to exercise paging. */
  listPageSize?: number;
  now?: () => number;
}

/** What this process knows of one owner's blobs. */
interface KnownHashes {
  hashes: Set<string>;
  listedAt: number;
}

/** A listing under way: puts and deletes while it runs are recorded so a stale page cannot undo them. */
interface Listing {
  promise: Promise<Set<string>>;
  putDuring: Set<string>;
  deletedDuring: Set<string>;
}

/** Spool files older than this at start are leftovers of a crash. */
const SPOOL_LEFTOVER_MS = 3600_000;

/** S3's limit of keys per DeleteObjects request. */
const DELETE_BATCH = 1000;

/**
 * Checkpoints in S3: `<prefix>blobs/<owner>/<hash>` and `<prefix>manifests/<owner>/<taskId>/<checkpointId>.json`.
 *
 * A blob is verified before it becomes visible: its bytes are hashed and counted into memory (small ones) or a
 * spool file, and only a blob that matches is sent, in one PutObject with its length and SHA-256 checksum, which
 * S3 checks again. S3 makes a PutObject visible whole or not at all, so puts are atomic and idempotent.
 *
 * `missing` answers from one listing of the owner's blob prefix, cached for `knownHashesTtlMs` and kept up
 * to date by this process's puts and deletes; a hash is reported present only if a listing or a put of this
 * process saw it and no delete of this process removed it since.
 */
export class S3BlobStore implements CheckpointBlobStore {
  readonly kind = 's3' as const;
  readonly #client: S3Client;
  readonly #ownsClient: boolean;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #spoolDir: string;
  readonly #sse: ServerSideEncryption | undefined;
  readonly #memoryMax: number;
  readonly #concurrency: number;
  readonly #ttlMs: number;
  readonly #pageSize: number;
  readonly #now: () => number;
  readonly #known = new Map<string, KnownHashes>();
  readonly #listings = new Map<string, Set<Listing>>();
  #spoolReady: Promise<void> | null = null;

  constructor(options: S3BlobStoreOptions) {
    if (options.prefix !== '' && !options.prefix.endsWith('/')) throw new Error('the S3 prefix must end with /');
    this.#bucket = options.bucket;
    this.#prefix = options.prefix;
    this.#spoolDir = options.spoolDir;
    this.#sse = options.serverSideEncryption;
    this.#memoryMax = options.memorySpoolMaxBytes ?? 1024 * 1024;
    this.#concurrency = options.concurrency ?? 4;
    this.#ttlMs = options.knownHashesTtlMs ?? 60_000;
    this.#pageSize = Math.min(1000, options.listPageSize ?? 1000);
    this.#now = options.now ?? Date.now;
    this.#ownsClient = options.client === undefined;
    this.#client =
      options.client ??
      new S3Client({
        region: options.region,
        ...(options.credentials ? { credentials: options.credentials } : {}),
        ...(options.endpoint
          ? {
              endpoint: options.endpoint,
              forcePathStyle: true,
              // Streaming uploads otherwise go out aws-chunked with a trailing checksum, which several
              // S3-compatible stores do not decode (s3rver stores the chunk framing as the object's bytes).
              requestChecksumCalculation: 'WHEN_REQUIRED' as const,
              responseChecksumValidation: 'WHEN_REQUIRED' as const,
            }
          : {}),
      });
  }

  async missing(owner: string, hashes: readonly string[], opts: { fresh?: boolean } = {}): Promise<string[]> {
    assertStoreId('owner', owner);
    for (const hash of hashes) assertBlobHash(hash);
    const known = await this.#knownHashes(owner, opts.fresh === true);
    return [...new Set(hashes)].filter((hash) => !known.has(hash));
  }

  async putBlob(owner: string, hash: string, size: number, body: Readable): Promise<void> {
    assertStoreId('owner', owner);
    assertBlobHash(hash);
    assertBlobSize(size);
    if (size <= this.#memoryMax) {
      const chunks: Buffer[] = [];
      await readVerified(body, hash, size, (chunk) => {
        chunks.push(chunk);
      });
      await this.#putVerified(owner, hash, size, Buffer.concat(chunks, size));
    } else {
      await this.#ensureSpool();
      const spool = path.join(this.#spoolDir, `${hash}.${randomBytes(8).toString('hex')}`);
      const handle = await fs.open(spool, 'wx', 0o600);
      try {
        try {
          await readVerified(body, hash, size, async (chunk) => {
            await handle.write(chunk);
          });
        } finally {
          await handle.close();
        }
        await this.#putVerified(owner, hash, size, createReadStream(spool));
      } finally {
        await fs.rm(spool, { force: true });
      }
    }
    this.#knownPut(owner, hash);
  }

  async getBlob(owner: string, hash: string, range?: BlobRange): Promise<Readable> {
    assertStoreId('owner', owner);
    assertBlobHash(hash);
    try {
      const out = await this.#client.send(
        new GetObjectCommand({
          Bucket: this.#bucket,
          Key: this.#blobKey(owner, hash),
          ...(range ? { Range: `bytes=${range.start}-${range.end - 1}` } : {}),
        }),
      );
      if (!out.Body) throw new Error('S3 answered GetObject without a body');
      const body = out.Body as Readable;
      if (!range) return body;
      // A store may answer more than the Range asked (s3rver sends the whole object): cut what it sent.
      const sent = /^bytes (\d+)-(\d+)\//.exec(out.ContentRange ?? '');
      const sentStart = sent ? Number(sent[1]) : 0;
      if (sent && sentStart === range.start && Number(sent[2]) === range.end - 1) return body;
      if (sentStart > range.start) throw new Error(`S3 answered bytes from ${sentStart}, not ${range.start}`);
      return sliceStream(body, { start: range.start - sentStart, end: range.end - sentStart });
    } catch (error) {
      if (isNotFound(error)) throw new AppError('NOT_FOUND', 'no such blob');
      throw error;
    }
  }

  async putManifest(owner: string, taskId: string, checkpointId: string, manifest: Buffer): Promise<void> {
    await this.#client.send(
      new PutObjectCommand({
        Bucket: this.#bucket,
        Key: this.#manifestKey(owner, taskId, checkpointId),
        Body: manifest,
        ContentLength: manifest.length,
        ContentType: 'application/json',
        ...(this.#sse ? { ServerSideEncryption: this.#sse } : {}),
      }),
    );
  }

  async getManifest(owner: string, taskId: string, checkpointId: string): Promise<Buffer | null> {
    const key = this.#manifestKey(owner, taskId, checkpointId);
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }));
      if (!out.Body) throw new Error('S3 answered GetObject without a body');
      return Buffer.from(await out.Body.transformToByteArray());
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async deleteManifest(owner: string, taskId: string, checkpointId: string): Promise<void> {
    const key = this.#manifestKey(owner, taskId, checkpointId);
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key }));
  }

  async *listBlobs(owner: string): AsyncIterable<StoredBlob> {
    assertStoreId('owner', owner);
    for await (const object of this.#listOwnerBlobs(owner)) yield object;
  }

  async deleteBlobs(owner: string, hashes: readonly string[]): Promise<void> {
    assertStoreId('owner', owner);
    for (const hash of hashes) assertBlobHash(hash);
    const unique = [...new Set(hashes)];
    // Forget them first: a concurrent `missing` then reports them missing (an upload too many), never present.
    this.#knownDeleted(owner, unique);
    const batches: string[][] = [];
    for (let i = 0; i < unique.length; i += DELETE_BATCH) batches.push(unique.slice(i, i + DELETE_BATCH));
    await mapLimit(batches, this.#concurrency, async (batch) => {
      const out = await this.#client.send(
        new DeleteObjectsCommand({
          Bucket: this.#bucket,
          Delete: { Objects: batch.map((hash) => ({ Key: this.#blobKey(owner, hash) })), Quiet: true },
        }),
      );
      const errors = out.Errors ?? [];
      if (errors.length > 0) {
        const first = errors[0];
        throw new Error(
          `S3 did not delete ${errors.length} blob(s): ${first?.Code ?? ''} ${first?.Message ?? ''}`.trim(),
        );
      }
    });
  }

  async close(): Promise<void> {
    this.#known.clear();
    if (this.#ownsClient) this.#client.destroy();
  }

  // ---- keys --------------------------------------------------------------------------------------------

  #ownerBlobPrefix(owner: string): string {
    return `${this.#prefix}blobs/${owner}/`;
  }

  #blobKey(owner: string, hash: string): string {
    return `${this.#ownerBlobPrefix(owner)}${hash}`;
  }

  #manifestKey(owner: string, taskId: string, checkpointId: string): string {
    assertStoreId('owner', owner);
    assertStoreId('task', taskId);
    assertCheckpointId(checkpointId);
    return `${this.#prefix}manifests/${owner}/${taskId}/${checkpointId}.json`;
  }

  // ---- uploads -----------------------------------------------------------------------------------------

  async #putVerified(owner: string, hash: string, size: number, body: Buffer | Readable): Promise<void> {
    await this.#client.send(
      new PutObjectCommand({
        Bucket: this.#bucket,
        Key: this.#blobKey(owner, hash),
        Body: body,
        ContentLength: size,
        // S3 recomputes it and refuses the put on a mismatch: bytes damaged between here and S3 are never stored.
        ChecksumSHA256: Buffer.from(hash, 'hex').toString('base64'),
        ContentType: 'application/octet-stream',
        ...(this.#sse ? { ServerSideEncryption: this.#sse } : {}),
      }),
    );
  }

  #ensureSpool(): Promise<void> {
    this.#spoolReady ??= (async () => {
      await fs.mkdir(this.#spoolDir, { recursive: true, mode: 0o700 });
      // Files left by a process that died mid-upload were never sent. Only old ones: another store (a second
      // process on the same data folder) may be spooling right now.
      const cutoff = this.#now() - SPOOL_LEFTOVER_MS;
      for (const name of await fs.readdir(this.#spoolDir)) {
        const file = path.join(this.#spoolDir, name);
        const stat = await fs.lstat(file).catch(() => null);
        if (stat && stat.mtimeMs < cutoff) await fs.rm(file, { force: true });
      }
    })().catch((error: unknown) => {
      this.#spoolReady = null;
      throw error;
    });
    return this.#spoolReady;
  }

  // ---- what this process knows of an owner's blobs -----------------------------------------------------

  async #knownHashes(owner: string, fresh: boolean): Promise<Set<string>> {
    const known = this.#known.get(owner);
    if (!fresh && known && this.#now() - known.listedAt < this.#ttlMs) return known.hashes;
    // A fresh answer must come from a listing started after the call, not one already under way.
    const running = fresh ? undefined : [...this.#listingsOf(owner)].at(-1);
    return (running ?? this.#startListing(owner)).promise;
  }

  #startListing(owner: string): Listing {
    const startedAt = this.#now();
    const putDuring = new Set<string>();
    const deletedDuring = new Set<string>();
    const listing: Listing = {
      putDuring,
      deletedDuring,
      promise: (async () => {
        const hashes = new Set<string>();
        for await (const blob of this.#listOwnerBlobs(owner)) hashes.add(blob.hash);
        // A page read before a delete of ours may still show the blob; one read before a put may lack it.
        for (const hash of deletedDuring) hashes.delete(hash);
        for (const hash of putDuring) hashes.add(hash);
        return hashes;
      })(),
    };
    const listings = this.#listings.get(owner) ?? new Set<Listing>();
    listings.add(listing);
    this.#listings.set(owner, listings);
    const done = () => {
      listings.delete(listing);
      if (listings.size === 0 && this.#listings.get(owner) === listings) this.#listings.delete(owner);
    };
    listing.promise.then(
      (hashes) => {
        done();
        const known = this.#known.get(owner);
        // An older listing that ends last must not replace a newer one.
        if (!known || known.listedAt <= startedAt) this.#known.set(owner, { hashes, listedAt: startedAt });
      },
      // The caller that started it gets the error; nothing is cached.
      done,
    );
    return listing;
  }

  #knownPut(owner: string, hash: string): void {
    this.#known.get(owner)?.hashes.add(hash);
    for (const listing of this.#listingsOf(owner)) {
      listing.deletedDuring.delete(hash);
      listing.putDuring.add(hash);
    }
  }

  #knownDeleted(owner: string, hashes: readonly string[]): void {
    const known = this.#known.get(owner);
    for (const hash of hashes) known?.hashes.delete(hash);
    for (const listing of this.#listingsOf(owner)) {
      for (const hash of hashes) {
        listing.putDuring.delete(hash);
        listing.deletedDuring.add(hash);
      }
    }
  }

  #listingsOf(owner: string): Iterable<Listing> {
    return this.#listings.get(owner) ?? [];
  }

  async *#listOwnerBlobs(owner: string): AsyncIterable<StoredBlob> {
    const prefix = this.#ownerBlobPrefix(owner);
    let token: string | undefined;
    do {
      const page = await this.#client.send(
        new ListObjectsV2Command({
          Bucket: this.#bucket,
          Prefix: prefix,
          MaxKeys: this.#pageSize,
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      for (const object of page.Contents ?? []) {
        const hash = object.Key?.slice(prefix.length) ?? '';
        if (!blobHashSchema.safeParse(hash).success) continue;
        yield { hash, size: object.Size ?? 0, storedAt: object.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
}

function isNotFound(error: unknown): boolean {
  if (error instanceof S3ServiceException) {
    // Not NoSuchBucket: a missing bucket is a configuration error, never an absent blob.
    return error.name === 'NoSuchKey' || error.name === 'NotFound';
  }
  return false;
}

/** Bytes `range.start` to `range.end - 1` of `body`. */
function sliceStream(body: Readable, range: BlobRange): Readable {
  let at = 0;
  return body.pipe(
    new Transform({
      transform(chunk: Buffer, _encoding, done) {
        const from = Math.max(0, range.start - at);
        const to = Math.min(chunk.length, range.end - at);
        at += chunk.length;
        done(null, to > from ? chunk.subarray(from, to) : undefined);
      },
    }),
  );
}
