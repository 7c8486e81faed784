import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { AppError } from '@rclaude/protocol';
import { type S3Emulator, startS3Emulator } from '@rclaude/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { type CheckpointBlobStore, collectGarbage, createBlobStore } from './blob-store.js';
import { S3BlobStore } from './s3-blob-store.js';

interface Harness {
  store: CheckpointBlobStore;
  /** Folders a put may leave files in (the local store's blob folders, the S3 store's spool). */
  scratchDirs(owner: string): string[];
  close(): Promise<void>;
}

const BUCKET = 'rclaude-checkpoints-test';

const implementations: [string, () => Promise<Harness>][] = [
  [
    'local',
    async () => {
      const dataDir = await mkdtemp(path.join(os.tmpdir(), 'rclaude-blobs-'));
      const store = createBlobStore(loadConfig({ RCLAUDE_DATA_DIR: dataDir }), dataDir);
      return {
        store,
        scratchDirs: (owner) => [path.join(dataDir, 'checkpoints', owner, 'blobs')],
        async close() {
          await store.close();
          await rm(dataDir, { recursive: true, force: true });
        },
      };
    },
  ],
  [
    's3',
    async () => {
      const emulator: S3Emulator = await startS3Emulator({ buckets: [BUCKET] });
      const dataDir = await mkdtemp(path.join(os.tmpdir(), 'rclaude-blobs-s3-'));
      // Through the same configuration as the server; the emulator needs its static credentials.
      const config = loadConfig({
        RCLAUDE_DATA_DIR: dataDir,
        RCLAUDE_CHECKPOINT_STORE: 's3',
        RCLAUDE_CHECKPOINT_S3_BUCKET: BUCKET,
        RCLAUDE_CHECKPOINT_S3_PREFIX: 'test/rclaude/',
        RCLAUDE_CHECKPOINT_S3_ENDPOINT: emulator.url,
        AWS_REGION: emulator.region,
      });
      // Pages of 3 keys exercise paging; the encryption header is sent as on AWS (s3rver accepts it).
      const store = createBlobStore(config, dataDir, {
        s3Credentials: emulator.credentials,
        s3: { listPageSize: 3, serverSideEncryption: 'AES256' },
      });
      return {
        store,
        scratchDirs: () => [path.join(dataDir, 'checkpoint-spool')],
        async close() {
          await store.close();
          await emulator.stop();
          await rm(dataDir, { recursive: true, force: true });
        },
      };
    },
  ],
];

let owners = 0;
function newOwner(): string {
  owners += 1;
  return `u${process.pid}_${owners}`;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** `data` as a stream of chunks of `chunkBytes`, as a tar entry or an HTTP body arrives. */
function streamOf(data: Buffer, chunkBytes = 64 * 1024): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += chunkBytes) yield data.subarray(i, i + chunkBytes);
    })(),
  );
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

async function listed(store: CheckpointBlobStore, owner: string) {
  const out = [];
  for await (const blob of store.listBlobs(owner)) out.push(blob);
  return out.sort((a, b) => a.hash.localeCompare(b.hash));
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return error instanceof AppError ? error.code : `not an AppError: ${String(error)}`;
  }
  return 'resolved';
}

/** Files in `dirs`, recursively (none when a folder does not exist). */
async function filesUnder(dirs: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const dir of dirs) {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isFile()) out.push(path.join(e.parentPath, e.name));
  }
  return out;
}

describe.each(implementations)('CheckpointBlobStore contract (%s)', (kind, makeHarness) => {
  let h: Harness;
  beforeAll(async () => {
    h = await makeHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('reports its kind', () => {
    expect(h.store.kind).toBe(kind);
  });

  it('stores and returns blobs, including an empty one, and missing() follows puts', async () => {
    const owner = newOwner();
    const blobs = [Buffer.alloc(0), Buffer.from('hello\n'), randomBytes(200_000)];
    const hashes = blobs.map(sha256);
    expect(await h.store.missing(owner, hashes)).toEqual(hashes);
    for (const [i, blob] of blobs.entries()) await h.store.putBlob(owner, hashes[i] ?? '', blob.length, streamOf(blob));
    for (const [i, blob] of blobs.entries()) {
      expect((await readAll(await h.store.getBlob(owner, hashes[i] ?? ''))).equals(blob)).toBe(true);
    }
    const absent = sha256(Buffer.from('never stored'));
    // Each missing hash once, in the order asked.
    expect(await h.store.missing(owner, [absent, ...hashes, absent])).toEqual([absent]);
    expect(await h.store.missing(owner, [absent], { fresh: true })).toEqual([absent]);
    expect(await h.store.missing(owner, hashes, { fresh: true })).toEqual([]);
    expect(await codeOf(h.store.getBlob(owner, absent))).toBe('NOT_FOUND');
    const list = await listed(h.store, owner);
    expect(list.map((b) => b.hash)).toEqual([...hashes].sort());
    for (const blob of list) {
      expect(blob.size).toBe(blobs[hashes.indexOf(blob.hash)]?.length);
      expect(Math.abs(blob.storedAt.getTime() - Date.now())).toBeLessThan(120_000);
    }
  });

  it('returns a byte range of a blob', async () => {
    const owner = newOwner();
    const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 13) % 256));
    const hash = createHash('sha256').update(data).digest('hex');
    await h.store.putBlob(owner, hash, data.length, Readable.from([data]));
    for (const [start, end] of [
      [0, 1],
      [1234, 4321],
      [4999, 5000],
      [0, 5000],
    ] as const) {
      const got = await readAll(await h.store.getBlob(owner, hash, { start, end }));
      expect(got.equals(data.subarray(start, end))).toBe(true);
    }
  });

  it('refuses bytes that do not match the hash or the size, and keeps nothing of them', async () => {
    const owner = newOwner();
    const good = randomBytes(3 * 1024 * 1024 + 17);
    const hash = sha256(good);
    const flipped = Buffer.from(good);
    flipped[flipped.length - 1] = (flipped.at(-1) ?? 0) ^ 1;
    expect(await codeOf(h.store.putBlob(owner, hash, good.length, streamOf(flipped)))).toBe('CHECKPOINT_CORRUPT');
    expect(await codeOf(h.store.putBlob(owner, hash, good.length, streamOf(good.subarray(1))))).toBe(
      'CHECKPOINT_CORRUPT',
    );
    expect(await codeOf(h.store.putBlob(owner, hash, good.length - 1, streamOf(good)))).toBe('CHECKPOINT_CORRUPT');
    expect(await codeOf(h.store.putBlob(owner, hash, good.length + 1, streamOf(good)))).toBe('CHECKPOINT_CORRUPT');
    // A body that fails part-way (a dropped connection) is not a blob either.
    const failing = Readable.from(
      (async function* () {
        yield good.subarray(0, 1024 * 1024);
        throw new Error('connection reset');
      })(),
    );
    await expect(h.store.putBlob(owner, hash, good.length, failing)).rejects.toThrow('connection reset');

    expect(await codeOf(h.store.getBlob(owner, hash))).toBe('NOT_FOUND');
    expect(await h.store.missing(owner, [hash], { fresh: true })).toEqual([hash]);
    expect(await listed(h.store, owner)).toEqual([]);
    expect(await filesUnder(h.scratchDirs(owner))).toEqual([]);

    // A later honest put succeeds, and a corrupt put of a stored blob is refused without touching it.
    await h.store.putBlob(owner, hash, good.length, streamOf(good));
    expect(await codeOf(h.store.putBlob(owner, hash, good.length, streamOf(flipped)))).toBe('CHECKPOINT_CORRUPT');
    expect((await readAll(await h.store.getBlob(owner, hash))).equals(good)).toBe(true);
  });

  it('survives concurrent puts of one blob, honest and corrupt, leaving exactly the right bytes', async () => {
    const owner = newOwner();
    const good = randomBytes(2 * 1024 * 1024 + 5);
    const hash = sha256(good);
    const bad = Buffer.from(good);
    bad[0] = (bad[0] ?? 0) ^ 0xff;
    const results = await Promise.allSettled([
      ...Array.from({ length: 6 }, () => h.store.putBlob(owner, hash, good.length, streamOf(good, 16 * 1024))),
      h.store.putBlob(owner, hash, good.length, streamOf(bad, 16 * 1024)),
    ]);
    expect(results.slice(0, 6).every((r) => r.status === 'fulfilled')).toBe(true);
    const last = results[6];
    expect(last?.status === 'rejected' && last.reason instanceof AppError && last.reason.code).toBe(
      'CHECKPOINT_CORRUPT',
    );
    expect((await readAll(await h.store.getBlob(owner, hash))).equals(good)).toBe(true);
    expect((await listed(h.store, owner)).map((b) => [b.hash, b.size])).toEqual([[hash, good.length]]);
    expect(await filesUnder(h.scratchDirs(owner))).toEqual([
      ...(kind === 'local' ? [path.join(h.scratchDirs(owner)[0] ?? '', hash.slice(0, 2), hash)] : []),
    ]);
  });

  it('answers missing() for 20,000 hashes, and again after deleteBlobs', async () => {
    const owner = newOwner();
    const stored = Array.from({ length: 7 }, (_, i) => Buffer.from(`blob ${i} ${owner}`));
    const storedHashes = stored.map(sha256);
    for (const [i, blob] of stored.entries()) {
      await h.store.putBlob(owner, storedHashes[i] ?? '', blob.length, streamOf(blob));
    }
    const others = Array.from({ length: 20_000 - stored.length }, (_, i) => sha256(Buffer.from(`other ${i}`)));
    const asked = [...others.slice(0, 10_000), ...storedHashes, ...others.slice(10_000)];
    expect(await h.store.missing(owner, asked)).toEqual(others);

    await h.store.deleteBlobs(owner, [storedHashes[0] ?? '', storedHashes[3] ?? '', others[0] ?? '']);
    const gone = [storedHashes[0], storedHashes[3]];
    expect(await h.store.missing(owner, storedHashes)).toEqual(gone);
    expect(await h.store.missing(owner, storedHashes, { fresh: true })).toEqual(gone);
    expect(await codeOf(h.store.getBlob(owner, storedHashes[0] ?? ''))).toBe('NOT_FOUND');
    expect((await listed(h.store, owner)).map((b) => b.hash)).toEqual(
      storedHashes.filter((x) => !gone.includes(x)).sort(),
    );
    // Deleting what is absent is not an error; a put brings a deleted blob back.
    await h.store.deleteBlobs(owner, [storedHashes[0] ?? '']);
    await h.store.putBlob(owner, storedHashes[0] ?? '', stored[0]?.length ?? 0, streamOf(stored[0] ?? Buffer.alloc(0)));
    expect(await h.store.missing(owner, storedHashes)).toEqual([storedHashes[3]]);
  });

  it('keeps each owner apart: no blob or manifest of one is visible to another', async () => {
    const [a, b] = [newOwner(), newOwner()];
    const blob = Buffer.from('shared content');
    const hash = sha256(blob);
    await h.store.putBlob(a, hash, blob.length, streamOf(blob));
    await h.store.putManifest(a, 'task1', 'cp_abcdefgh', Buffer.from('{}'));
    expect(await h.store.missing(b, [hash])).toEqual([hash]);
    expect(await codeOf(h.store.getBlob(b, hash))).toBe('NOT_FOUND');
    expect(await h.store.getManifest(b, 'task1', 'cp_abcdefgh')).toBeNull();
    expect(await listed(h.store, b)).toEqual([]);
  });

  it('puts, replaces, gets and deletes manifests', async () => {
    const owner = newOwner();
    const one = Buffer.from(JSON.stringify({ format: 1, n: 1 }));
    const two = Buffer.from(JSON.stringify({ format: 1, n: 2 }));
    expect(await h.store.getManifest(owner, 'task_1', 'cp_0000aaaa')).toBeNull();
    await h.store.putManifest(owner, 'task_1', 'cp_0000aaaa', one);
    await h.store.putManifest(owner, 'task_1', 'cp_0000bbbb', two);
    expect((await h.store.getManifest(owner, 'task_1', 'cp_0000aaaa'))?.equals(one)).toBe(true);
    await h.store.putManifest(owner, 'task_1', 'cp_0000aaaa', two);
    expect((await h.store.getManifest(owner, 'task_1', 'cp_0000aaaa'))?.equals(two)).toBe(true);
    await h.store.deleteManifest(owner, 'task_1', 'cp_0000aaaa');
    expect(await h.store.getManifest(owner, 'task_1', 'cp_0000aaaa')).toBeNull();
    expect((await h.store.getManifest(owner, 'task_1', 'cp_0000bbbb'))?.equals(two)).toBe(true);
    await h.store.deleteManifest(owner, 'task_1', 'cp_0000aaaa');
    await h.store.deleteManifest(owner, 'task_1', 'cp_0000bbbb');
    expect(await h.store.getManifest(owner, 'task_1', 'cp_0000bbbb')).toBeNull();
    // Manifests are not blobs.
    expect(await listed(h.store, owner)).toEqual([]);
  });

  it('refuses hostile owner, task and checkpoint ids and malformed hashes before touching anything', async () => {
    const owner = newOwner();
    const blob = Buffer.from('x');
    const hash = sha256(blob);
    const badIds = ['../x', 'a/b', '', '..', '.', 'A', 'a b', 'a\\b', 'x'.repeat(65), 'é', 'a\u0000'];
    const badCheckpoints = ['../cp_abcdefgh', 'cp_abc', 'cp_ABCDEFGH', 'cp_abcdefgh/..', 'abcdefgh', ''];
    const badHashes = [hash.toUpperCase(), hash.slice(1), `../${hash.slice(3)}`, `${hash}0`, ''];
    const refusals: Promise<unknown>[] = [];
    for (const bad of badIds) {
      refusals.push(
        h.store.missing(bad, [hash]),
        h.store.putBlob(bad, hash, 1, streamOf(blob)),
        h.store.getBlob(bad, hash),
        h.store.deleteBlobs(bad, [hash]),
        h.store.putManifest(bad, 'task1', 'cp_abcdefgh', blob),
        h.store.getManifest(bad, 'task1', 'cp_abcdefgh'),
        h.store.deleteManifest(bad, 'task1', 'cp_abcdefgh'),
        h.store.putManifest(owner, bad, 'cp_abcdefgh', blob),
        h.store.getManifest(owner, bad, 'cp_abcdefgh'),
        h.store.deleteManifest(owner, bad, 'cp_abcdefgh'),
        (async () => {
          for await (const _ of h.store.listBlobs(bad)) break;
        })(),
        collectGarbage(h.store, bad, new Set(), { graceMs: 0 }),
      );
    }
    for (const bad of badCheckpoints) {
      refusals.push(
        h.store.putManifest(owner, 'task1', bad, blob),
        h.store.getManifest(owner, 'task1', bad),
        h.store.deleteManifest(owner, 'task1', bad),
      );
    }
    for (const bad of badHashes) {
      refusals.push(
        h.store.missing(owner, [hash, bad]),
        h.store.putBlob(owner, bad, 1, streamOf(blob)),
        h.store.getBlob(owner, bad),
        h.store.deleteBlobs(owner, [bad]),
      );
    }
    refusals.push(h.store.putBlob(owner, hash, -1, streamOf(blob)), h.store.putBlob(owner, hash, 1.5, streamOf(blob)));
    const codes = await Promise.all(refusals.map(codeOf));
    expect(new Set(codes)).toEqual(new Set(['BAD_REQUEST']));
    expect(await h.store.missing(owner, [hash])).toEqual([hash]);
  });

  it('collects garbage: unreferenced blobs older than the grace go, referenced and recent ones stay', async () => {
    const owner = newOwner();
    const [live, dead, recent] = ['live', 'dead', 'recent'].map((s) => Buffer.from(`${s} ${owner} ${'.'.repeat(100)}`));
    const [liveHash, deadHash, recentHash] = [live, dead, recent].map((b) => sha256(b ?? Buffer.alloc(0)));
    if (!live || !dead || !recent || !liveHash || !deadHash || !recentHash) throw new Error('unreachable');
    await h.store.putBlob(owner, liveHash, live.length, streamOf(live));
    await h.store.putBlob(owner, deadHash, dead.length, streamOf(dead));
    // This test is about time passing: S3 keeps whole seconds, so the recent blob must be stored a second later.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await h.store.putBlob(owner, recentHash, recent.length, streamOf(recent));
    const times = new Map((await listed(h.store, owner)).map((b) => [b.hash, b.storedAt.getTime()]));
    const oldAt = Math.max(times.get(liveHash) ?? 0, times.get(deadHash) ?? 0);
    const recentAt = times.get(recentHash) ?? 0;
    expect(recentAt).toBeGreaterThan(oldAt);
    const now = recentAt + 10_000;
    // The grace reaches back to between the two: `dead` is older than it, `recent` within it.
    const graceMs = now - (oldAt + recentAt) / 2;
    const liveSet = new Set([liveHash]);

    expect(await collectGarbage(h.store, owner, liveSet, { graceMs, now: () => now })).toEqual({
      blobs: 1,
      bytes: dead.length,
    });
    expect(await h.store.missing(owner, [liveHash, deadHash, recentHash])).toEqual([deadHash]);
    expect(await collectGarbage(h.store, owner, liveSet, { graceMs, now: () => now })).toEqual({ blobs: 0, bytes: 0 });

    expect(await collectGarbage(h.store, owner, liveSet, { graceMs: 0, now: () => now })).toEqual({
      blobs: 1,
      bytes: recent.length,
    });
    expect(await h.store.missing(owner, [liveHash, deadHash, recentHash], { fresh: true })).toEqual([
      deadHash,
      recentHash,
    ]);
    expect((await readAll(await h.store.getBlob(owner, liveHash))).equals(live)).toBe(true);
  });

  it('streams a 20 MB blob in and out', async () => {
    const owner = newOwner();
    const size = 20 * 1024 * 1024;
    // Generated chunk by chunk, so neither side holds the blob whole: the store must stream it.
    const chunk = (i: number) => createHash('sha512').update(`chunk ${i}`).digest();
    const chunks = size / 64;
    const hasher = createHash('sha256');
    for (let i = 0; i < chunks; i++) hasher.update(chunk(i));
    const hash = hasher.digest('hex');
    const body = Readable.from(
      (function* () {
        for (let i = 0; i < chunks; i += 1024) {
          yield Buffer.concat(Array.from({ length: Math.min(1024, chunks - i) }, (_, j) => chunk(i + j)));
        }
      })(),
    );
    await h.store.putBlob(owner, hash, size, body);
    const out = await h.store.getBlob(owner, hash);
    const check = createHash('sha256');
    let length = 0;
    for await (const part of out) {
      check.update(part as Buffer);
      length += (part as Buffer).length;
    }
    expect(length).toBe(size);
    expect(check.digest('hex')).toBe(hash);
    expect(await listed(h.store, owner)).toEqual([{ hash, size, storedAt: expect.any(Date) }]);
  });
});

describe('local blob store on disk', () => {
  it('keeps blobs and manifests at their documented paths, 0600 files in 0700 folders', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'rclaude-blobs-modes-'));
    try {
      const store = createBlobStore(loadConfig({ RCLAUDE_DATA_DIR: dataDir }), dataDir);
      const blob = Buffer.from('mode test');
      const hash = sha256(blob);
      await store.putBlob('owner1', hash, blob.length, streamOf(blob));
      await store.putManifest('owner1', 'task1', 'cp_abcdefgh', Buffer.from('{}'));
      const root = path.join(dataDir, 'checkpoints');
      const blobFile = path.join(root, 'owner1', 'blobs', hash.slice(0, 2), hash);
      const manifestFile = path.join(root, 'owner1', 'tasks', 'task1', 'cp_abcdefgh.json');
      for (const file of [blobFile, manifestFile]) expect((await stat(file)).mode & 0o777).toBe(0o600);
      for (const dir of [root, path.dirname(blobFile), path.dirname(manifestFile)]) {
        expect((await stat(dir)).mode & 0o777).toBe(0o700);
      }
      expect((await filesUnder([root])).sort()).toEqual([blobFile, manifestFile].sort());
      await store.close();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('S3 blob store wire', () => {
  let emulator: S3Emulator;
  beforeAll(async () => {
    emulator = await startS3Emulator();
  });
  afterAll(async () => {
    await emulator?.stop();
  });

  it('keeps blobs and manifests under the prefix at their documented keys, bytes as sent', async () => {
    const client = new S3Client({
      endpoint: emulator.url,
      region: emulator.region,
      credentials: emulator.credentials,
      forcePathStyle: true,
    });
    await client.send(new CreateBucketCommand({ Bucket: 'keys-test' }));
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'rclaude-blobs-keys-'));
    const env = {
      RCLAUDE_DATA_DIR: dataDir,
      RCLAUDE_CHECKPOINT_STORE: 's3',
      RCLAUDE_CHECKPOINT_S3_BUCKET: 'keys-test',
      RCLAUDE_CHECKPOINT_S3_ENDPOINT: emulator.url,
      AWS_REGION: emulator.region,
    };
    const store = createBlobStore(loadConfig(env), dataDir, { s3Credentials: emulator.credentials });
    try {
      const blob = randomBytes(2 * 1024 * 1024);
      const hash = sha256(blob);
      await store.putBlob('owner1', hash, blob.length, streamOf(blob));
      await store.putManifest('owner1', 'task1', 'cp_abcdefgh', Buffer.from('{"m":1}'));
      const read = async (key: string) => {
        const out = await client.send(new GetObjectCommand({ Bucket: 'keys-test', Key: key }));
        return Buffer.from((await out.Body?.transformToByteArray()) ?? []);
      };
      // The default prefix, and plain bytes (no aws-chunked framing stored by the emulator).
      expect((await read(`rclaude/blobs/owner1/${hash}`)).equals(blob)).toBe(true);
      expect((await read('rclaude/manifests/owner1/task1/cp_abcdefgh.json')).toString()).toBe('{"m":1}');
    } finally {
      await store.close();
      client.destroy();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('with the SDK default checksums (as on AWS) sends a blob as plain bytes with its SHA-256 in a header', async () => {
    const client = new S3Client({
      endpoint: emulator.url,
      region: emulator.region,
      credentials: emulator.credentials,
      forcePathStyle: true,
    });
    await client.send(new CreateBucketCommand({ Bucket: 'default-checksums' }));
    const spoolDir = await mkdtemp(path.join(os.tmpdir(), 'rclaude-blobs-spool-'));
    const store = new S3BlobStore({
      bucket: 'default-checksums',
      prefix: '',
      region: emulator.region,
      client,
      spoolDir,
    });
    try {
      // Spooled (over 1 MiB) and in memory: a streamed body must not go out aws-chunked, which s3rver would store.
      for (const blob of [randomBytes(3 * 1024 * 1024), randomBytes(1000)]) {
        const hash = sha256(blob);
        await store.putBlob('owner1', hash, blob.length, streamOf(blob));
        expect((await readAll(await store.getBlob('owner1', hash))).equals(blob)).toBe(true);
      }
    } finally {
      await store.close();
      client.destroy();
      await rm(spoolDir, { recursive: true, force: true });
    }
  });

  it('is refused without a bucket, and without a region on AWS', () => {
    expect(() => loadConfig({ RCLAUDE_CHECKPOINT_STORE: 's3' })).toThrow(
      /RCLAUDE_CHECKPOINT_S3_BUCKET: RCLAUDE_CHECKPOINT_STORE=s3 needs a bucket/,
    );
    expect(() => loadConfig({ RCLAUDE_CHECKPOINT_STORE: 's3', RCLAUDE_CHECKPOINT_S3_BUCKET: 'Bad_Bucket' })).toThrow(
      /RCLAUDE_CHECKPOINT_S3_BUCKET: not an S3 bucket name/,
    );
    expect(() => loadConfig({ RCLAUDE_CHECKPOINT_S3_PREFIX: '/abs' })).toThrow(/RCLAUDE_CHECKPOINT_S3_PREFIX/);
    expect(() => loadConfig({ RCLAUDE_CHECKPOINT_S3_PREFIX: 'no-slash' })).toThrow(/RCLAUDE_CHECKPOINT_S3_PREFIX/);
    const config = loadConfig({ RCLAUDE_CHECKPOINT_STORE: 's3', RCLAUDE_CHECKPOINT_S3_BUCKET: 'my-bucket' });
    expect(config.RCLAUDE_CHECKPOINT_S3_PREFIX).toBe('rclaude/');
    expect(() => createBlobStore({ ...config, AWS_REGION: undefined }, '/nonexistent')).toThrow(/set AWS_REGION/);
    expect(loadConfig({}).RCLAUDE_CHECKPOINT_STORE).toBe('local');
  });
});
