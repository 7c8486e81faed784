import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import {
  AGENT_CHECKPOINTS_PATH,
  AppError,
  blobHashSchema,
  type CheckpointManifest,
  checkpointIdSchema,
  checkpointManifestSchema,
  EGRESS_SANDBOX_HEADER,
  missingBlobsRequestSchema,
} from '@rclaude/protocol';
import type { Logger } from 'pino';
import tar from 'tar-stream';
import type { CheckpointBlobStore } from '../checkpoints/blob-store.js';
import { assertUniquePaths } from '../checkpoints/blob-validation.js';
import { publicCheckpoint, readManifest } from '../checkpoints/records.js';
import { verifyEgressKey } from '../egress/egress-key.js';
import type { CheckpointRecord, CheckpointRecordStore, SandboxStore } from '../stores/types.js';

/** Largest manifest (as JSON, after gunzip) an agent may upload: ~500k entries. */
export const MANIFEST_MAX_BYTES = 256 * 1024 * 1024;
const JSON_MAX_BYTES = 2 * 1024 * 1024;
/** Blobs of one upload being written (and synced) by the store at once. */
const PUT_BLOBS_IN_FLIGHT = 16;

export interface AgentCheckpointRoutesDeps {
  /** The egress secret: agents authenticate here with their egress key, as at the egress gateway. */
  secret: Buffer;
  sandboxes: Pick<SandboxStore, 'get'>;
  records: CheckpointRecordStore;
  blobs: CheckpointBlobStore;
  log: Logger;
  /** Called once a checkpoint's manifest is stored and its record complete. */
  onComplete?: (record: CheckpointRecord, manifest: CheckpointManifest) => void;
}

/**
 * The agent's side door for checkpoint data (see AGENT_CHECKPOINTS_PATH in the protocol): served on the HTTP
 * port and on every agent socket, before the REST app. Each request names a checkpoint; it is answered only
 * for the agent of the sandbox that checkpoint belongs to: uploads for the sandbox the proxy asked (while the
 * checkpoint is pending), downloads for any active sandbox of the same task (a resume). Whatever arrives is
 * checked as coming from a hostile sandbox: ids, hashes, sizes, the manifest's paths, and that every blob the
 * manifest names is stored.
 */
export function createAgentCheckpointRoutes(deps: AgentCheckpointRoutesDeps) {
  const log = deps.log.child({ component: 'checkpoints' });

  async function authorize(req: IncomingMessage, checkpointId: string, upload: boolean): Promise<CheckpointRecord> {
    const sandboxId = req.headers[EGRESS_SANDBOX_HEADER];
    const auth = req.headers.authorization ?? '';
    const key = auth.startsWith('Bearer ') ? auth.slice('Bearer '.length).trim() : '';
    if (typeof sandboxId !== 'string' || sandboxId.length === 0 || sandboxId.length > 128 || !key) {
      throw new AppError('UNAUTHENTICATED', 'checkpoint requests need the sandbox id and its egress key');
    }
    if (!verifyEgressKey(deps.secret, sandboxId, key)) throw new AppError('UNAUTHENTICATED', 'egress key refused');
    if (!checkpointIdSchema.safeParse(checkpointId).success) throw new AppError('NOT_FOUND', 'no such checkpoint');
    const [record, sandbox] = await Promise.all([deps.records.get(checkpointId), deps.sandboxes.get(sandboxId)]);
    if (!record || !sandbox || sandbox.state === 'stopped' || sandbox.taskId !== record.taskId) {
      throw new AppError('NOT_FOUND', 'no such checkpoint for this sandbox');
    }
    if (upload && (record.state !== 'pending' || record.sandboxId !== sandboxId)) {
      throw new AppError('CONFLICT', `checkpoint ${checkpointId} is not waiting for an upload from this sandbox`);
    }
    if (!upload && record.state !== 'complete')
      throw new AppError('CONFLICT', `checkpoint ${checkpointId} is not complete`);
    return record;
  }

  async function missing(req: IncomingMessage, res: ServerResponse, record: CheckpointRecord): Promise<void> {
    const body = missingBlobsRequestSchema.safeParse(
      JSON.parse((await readBody(req, JSON_MAX_BYTES)).toString('utf8')),
    );
    if (!body.success) throw new AppError('BAD_REQUEST', 'expected {hashes: [sha256 hex, ...]}');
    sendJson(res, 200, { missing: await deps.blobs.missing(record.owner, [...new Set(body.data.hashes)]) });
  }

  async function putBlobs(req: IncomingMessage, res: ServerResponse, record: CheckpointRecord): Promise<void> {
    let blobs = 0;
    let bytes = 0;
    const extract = tar.extract();
    // A blob's write, sync and rename overlap the next entries' (a store's per-blob latency, not the stream,
    // bounds a first checkpoint of many small files); at most PUT_BLOBS_IN_FLIGHT are unsettled at once.
    const inFlight = new Set<Promise<void>>();
    let failure: Error | null = null;
    extract.on('entry', (header, stream, next) => {
      // A failed upload destroys the extract, which destroys the entry being read with the same error; it is
      // answered through the pipeline, so the entry's own copy needs a listener.
      stream.on('error', () => undefined);
      const hash = header.name;
      if (header.type !== 'file' || !blobHashSchema.safeParse(hash).success || header.size === undefined) {
        stream.resume();
        extract.destroy(
          new AppError(
            'BAD_REQUEST',
            `a blob entry must be a regular file named by its sha256 (got "${hash.slice(0, 80)}")`,
          ),
        );
        return;
      }
      const size = header.size;
      const put = deps.blobs.putBlob(record.owner, hash, size, Readable.from(stream)).then(
        () => {
          blobs++;
          bytes += size;
        },
        (err: unknown) => {
          stream.resume();
          failure ??= err instanceof Error ? err : new Error(String(err));
          extract.destroy(failure);
        },
      );
      const settled = put.finally(() => inFlight.delete(settled));
      inFlight.add(settled);
      // The next entry may start once this one's bytes are all read (and a slot is free).
      stream.once('end', () => {
        const go = () => {
          if (failure) return;
          if (inFlight.size < PUT_BLOBS_IN_FLIGHT) next();
          else void Promise.race(inFlight).then(go);
        };
        go();
      });
    });
    try {
      await pipeline(req, extract);
    } finally {
      await Promise.all(inFlight);
    }
    if (failure) throw failure;
    await deps.records.addUploaded(record.id, bytes);
    sendJson(res, 200, { blobs, bytes });
  }

  async function putManifest(req: IncomingMessage, res: ServerResponse, record: CheckpointRecord): Promise<void> {
    const raw = await readBody(req, MANIFEST_MAX_BYTES, req.headers['content-encoding'] === 'gzip');
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new AppError('BAD_REQUEST', 'the manifest is not JSON');
    }
    const result = checkpointManifestSchema.safeParse(parsed);
    if (!result.success) {
      throw new AppError(
        'CHECKPOINT_CORRUPT',
        `the manifest is not valid: ${result.error.issues[0]?.message ?? 'unknown'}`,
      );
    }
    const manifest = result.data;
    assertUniquePaths(manifest);
    const hashes = [...new Set(manifest.entries.flatMap((e) => (e.type === 'file' ? [e.hash] : [])))];
    for (let i = 0; i < hashes.length; i += 10_000) {
      // Fresh: another proxy's garbage collection may have freed a blob since this one's listing.
      const absent = await deps.blobs.missing(record.owner, hashes.slice(i, i + 10_000), { fresh: true });
      if (absent.length > 0) {
        throw new AppError('CHECKPOINT_CORRUPT', `the manifest names ${absent.length} blob(s) that were not uploaded`);
      }
    }
    await deps.blobs.putManifest(record.owner, record.taskId, record.id, Buffer.from(JSON.stringify(manifest)));
    let files = 0;
    let bytes = 0;
    for (const e of manifest.entries) {
      if (e.type !== 'file') continue;
      files++;
      bytes += e.size;
    }
    const done = await deps.records.complete(record.id, {
      files,
      bytes,
      durationMs: Date.now() - Date.parse(record.createdAt),
      claudeSessionId: manifest.claudeSessionId,
    });
    if (!done) throw new AppError('CONFLICT', `checkpoint ${record.id} is no longer pending`);
    deps.onComplete?.(done, manifest);
    sendJson(res, 200, publicCheckpoint(done));
  }

  async function getManifest(res: ServerResponse, record: CheckpointRecord): Promise<void> {
    const raw = await deps.blobs.getManifest(record.owner, record.taskId, record.id);
    if (!raw) throw new AppError('NOT_FOUND', `the manifest of checkpoint ${record.id} is gone from the store`);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': raw.length }).end(raw);
  }

  async function getBlobs(res: ServerResponse, record: CheckpointRecord): Promise<void> {
    const manifest = await readManifest(deps.blobs, record);
    const sizes = new Map<string, number>();
    for (const e of manifest.entries) if (e.type === 'file') sizes.set(e.hash, e.size);
    const pack = tar.pack();
    res.writeHead(200, { 'content-type': 'application/x-tar' });
    const sending = pipeline(pack, res);
    for (const [hash, size] of sizes) {
      const body = await deps.blobs.getBlob(record.owner, hash);
      await new Promise<void>((resolve, reject) => {
        const entry = pack.entry({ name: hash, size, type: 'file', mode: 0o600 }, (err) =>
          err ? reject(err) : resolve(),
        );
        body.once('error', reject);
        body.pipe(entry);
      });
    }
    pack.finalize();
    await sending;
  }

  return {
    /** Whether the request is for these routes (so the caller hands it to {@link handle}). */
    handles: (req: IncomingMessage): boolean => (req.url ?? '').startsWith(`${AGENT_CHECKPOINTS_PATH}/`),

    handle(req: IncomingMessage, res: ServerResponse): void {
      const url = (req.url ?? '').split('?')[0] ?? '';
      const [checkpointId = '', what = '', extra] = url.slice(AGENT_CHECKPOINTS_PATH.length + 1).split('/');
      const route = `${req.method} ${what}`;
      const upload = route === 'POST missing' || route === 'PUT blobs' || route === 'PUT manifest';
      const download = route === 'GET manifest' || route === 'GET blobs';
      (async () => {
        if (extra !== undefined || (!upload && !download)) throw new AppError('NOT_FOUND', 'no such checkpoint route');
        const record = await authorize(req, checkpointId, upload);
        if (route === 'POST missing') return missing(req, res, record);
        if (route === 'PUT blobs') return putBlobs(req, res, record);
        if (route === 'PUT manifest') return putManifest(req, res, record);
        if (route === 'GET manifest') return getManifest(res, record);
        return getBlobs(res, record);
      })().catch((err: unknown) => {
        const appErr = err instanceof AppError ? err : null;
        if (!appErr) log.error({ err, checkpointId, route }, 'checkpoint request failed');
        else if (appErr.code !== 'NOT_FOUND')
          log.warn({ checkpointId, route, reason: appErr.message }, 'checkpoint request refused');
        if (res.headersSent) {
          res.destroy();
          return;
        }
        const info = appErr?.toInfo() ?? {
          code: 'INTERNAL',
          message: 'storing the checkpoint failed; see the server log',
        };
        sendJson(res, appErr?.status ?? 500, { error: info });
        req.resume();
      });
    },
  };
}

async function readBody(req: IncomingMessage, max: number, gunzip = false): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  const source = gunzip ? req.pipe(createGunzip()) : req;
  for await (const chunk of source as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new AppError('PAYLOAD_TOO_LARGE', `the body is over ${max} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}
