import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import {
  AGENT_CHECKPOINTS_PATH,
  AppError,
  type CheckpointManifest,
  EGRESS_SANDBOX_HEADER,
  missingBlobsResponseSchema,
  putBlobsResponseSchema,
} from '@rclaude/protocol';

const gzipAsync = promisify(gzip);

/** Largest manifest the agent reads back (as the proxy's own limit, MANIFEST_MAX_BYTES). */
export const MANIFEST_MAX_BYTES = 256 * 1024 * 1024;
const JSON_MAX_BYTES = 8 * 1024 * 1024;

export interface CheckpointClientOptions {
  /** The proxy's URL (`http(s)://host[:port][/prefix]`); with `socketPath`, only the socket is used. */
  proxyUrl: string;
  socketPath?: string | undefined;
  sandboxId: string;
  /** The sandbox's egress key (from the proxy's hello), or null before it came. */
  key: () => string | null;
  /** A request with no bytes moving for this long fails. Default 120 s. */
  idleTimeoutMs?: number;
}

/**
 * The agent's side of the proxy's checkpoint routes ({@link AGENT_CHECKPOINTS_PATH}), over the proxy's HTTP
 * port or the agent's Unix socket, authenticated as the egress gateway is. Every failure is an AppError
 * CHECKPOINT_FAILED saying which request failed, its status and the proxy's reason.
 */
export class CheckpointClient {
  constructor(private readonly opts: CheckpointClientOptions) {}

  async missing(checkpointId: string, hashes: string[]): Promise<string[]> {
    const body = Buffer.from(JSON.stringify({ hashes }));
    const res = await this.request('POST', checkpointId, 'missing', {
      body,
      headers: { 'content-type': 'application/json' },
    });
    return parseWith(missingBlobsResponseSchema, await readJson(res, JSON_MAX_BYTES, 'POST missing')).missing;
  }

  /** Uploads `tar` (one entry per blob, named by its hash); its own failure wins over the request's. */
  async putBlobs(checkpointId: string, tar: Readable): Promise<{ blobs: number; bytes: number }> {
    const res = await this.request('PUT', checkpointId, 'blobs', {
      body: tar,
      headers: { 'content-type': 'application/x-tar' },
    });
    return parseWith(putBlobsResponseSchema, await readJson(res, JSON_MAX_BYTES, 'PUT blobs'));
  }

  async putManifest(checkpointId: string, manifest: CheckpointManifest): Promise<void> {
    const body = await gzipAsync(Buffer.from(JSON.stringify(manifest)));
    const res = await this.request('PUT', checkpointId, 'manifest', {
      body,
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    });
    await readJson(res, JSON_MAX_BYTES, 'PUT manifest');
  }

  /** The manifest as the proxy stored it, parsed as JSON but not yet validated. */
  async getManifest(checkpointId: string): Promise<unknown> {
    const res = await this.request('GET', checkpointId, 'manifest');
    return readJson(res, MANIFEST_MAX_BYTES, 'GET manifest');
  }

  /** The blobs' tar stream (status already checked). */
  getBlobs(checkpointId: string): Promise<http.IncomingMessage> {
    return this.request('GET', checkpointId, 'blobs');
  }

  private url(checkpointId: string, what: string): URL {
    const route = `${AGENT_CHECKPOINTS_PATH}/${encodeURIComponent(checkpointId)}/${what}`;
    // Over the agent socket the proxy serves its routes at the root, as the egress tunnel's.
    if (this.opts.socketPath) return new URL(route, 'http://localhost');
    return new URL(`${this.opts.proxyUrl.replace(/\/+$/, '')}${route}`);
  }

  private request(
    method: string,
    checkpointId: string,
    what: string,
    init: { body?: Buffer | Readable; headers?: Record<string, string> } = {},
  ): Promise<http.IncomingMessage> {
    const label = `${method} ${what}`;
    const key = this.opts.key();
    if (key === null) {
      return Promise.reject(
        new AppError('CHECKPOINT_FAILED', 'the agent has no egress key yet (the proxy has not answered its hello)'),
      );
    }
    const url = this.url(checkpointId, what);
    const headers: Record<string, string | number> = {
      ...init.headers,
      [EGRESS_SANDBOX_HEADER]: this.opts.sandboxId,
      authorization: `Bearer ${key}`,
    };
    if (Buffer.isBuffer(init.body)) headers['content-length'] = init.body.length;
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (err: unknown): void => {
        if (settled) return;
        settled = true;
        reject(err instanceof AppError ? err : transportError(label, err));
      };
      const req = mod.request(url, {
        method,
        headers,
        ...(this.opts.socketPath ? { socketPath: this.opts.socketPath } : {}),
      });
      req.setTimeout(this.opts.idleTimeoutMs ?? 120_000, () =>
        req.destroy(new Error(`no progress for ${(this.opts.idleTimeoutMs ?? 120_000) / 1000} s`)),
      );
      req.once('error', fail);
      req.once('response', (res) => {
        if (res.statusCode === 200) {
          if (settled) {
            res.resume();
            return;
          }
          settled = true;
          resolve(res);
          return;
        }
        void readError(res, label).then(fail, fail);
        if (init.body && !Buffer.isBuffer(init.body)) init.body.destroy();
      });
      const body = init.body;
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        // The body's own failure (a file that changed as it was read) is the error to report, not the aborted request.
        body.once('error', fail);
        pipeline(body, req).catch((err: unknown) => {
          req.destroy();
          fail(err);
        });
      }
    });
  }
}

function transportError(label: string, err: unknown): AppError {
  const message = err instanceof Error ? err.message : String(err);
  return new AppError('CHECKPOINT_FAILED', `checkpoint ${label} failed: ${message}`, { cause: err });
}

async function readError(res: http.IncomingMessage, label: string): Promise<AppError> {
  let text = '';
  try {
    text = (await readBody(res, 64 * 1024)).toString('utf8');
  } catch {
    // The status alone then.
  }
  let reason = text.slice(0, 500);
  try {
    const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (parsed.error?.message) reason = `${parsed.error.code ?? 'ERROR'}: ${parsed.error.message}`;
  } catch {
    // Not JSON: the text as it came.
  }
  return new AppError(
    'CHECKPOINT_FAILED',
    `the proxy answered checkpoint ${label} with ${res.statusCode}${reason ? ` (${reason})` : ''}`,
  );
}

async function readBody(res: http.IncomingMessage, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      res.destroy();
      throw new Error(`the answer is over ${max} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function readJson(res: http.IncomingMessage, max: number, label: string): Promise<unknown> {
  let raw: Buffer;
  try {
    raw = await readBody(res, max);
  } catch (err) {
    throw transportError(label, err);
  }
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new AppError('CHECKPOINT_FAILED', `the proxy's answer to checkpoint ${label} is not JSON`);
  }
}

function parseWith<T>(
  schema: { safeParse: (v: unknown) => { success: true; data: T } | { success: false } },
  v: unknown,
): T {
  const r = schema.safeParse(v);
  if (!r.success)
    throw new AppError('CHECKPOINT_FAILED', 'the proxy answered a checkpoint request in an unknown shape');
  return r.data;
}
