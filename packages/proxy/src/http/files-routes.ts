import type { Readable } from 'node:stream';
import {
  type AgentFileReadResult,
  AppError,
  listFilesResponseSchema,
  renameFileResponseSchema,
  syncApplyResponseSchema,
  syncChangesResponseSchema,
  syncManifestResponseSchema,
  type WriteFileResponse,
} from '@rclaude/protocol';
import busboy from 'busboy';
import express, { type Request, type Response } from 'express';
import type { CheckpointFiles } from '../checkpoints/checkpoint-files.js';
import { agentMalformed, type Bytes, readAgentFile, writeAgentFile } from '../services/agent-files.js';
import type { AgentRpc } from '../services/agent-rpc.js';
import type { Handlers, TaggedRouteName } from './mount-routes.js';

const MiB = 1024 * 1024;

/** Size limits of the file routes. All in bytes except `maxUploadFiles` and `rpcTimeoutMs`. */
export interface FilesRouterLimits {
  /** Largest `GET /content` answer: a whole file over it, or a longer `length`, is 413 (use ranges or /download). */
  maxReadBytes: number;
  /** Largest `PUT /content` body. */
  maxWriteBytes: number;
  /** Largest single file of a `POST /upload`. */
  maxUploadFileBytes: number;
  /** Most files in one `POST /upload`. */
  maxUploadFiles: number;
  /**
   * Bytes per `files:read`/`files:write` RPC, at most 1 MiB. Keep it under the agent's maxReadBytes and
   * maxWriteBytes and under the agent namespace's Socket.io `maxHttpBufferSize` (1e6 by default).
   */
  chunkBytes: number;
  /** Timeout of each agent RPC, in ms; unset uses the AgentRpc's default. */
  rpcTimeoutMs?: number;
}

/** Defaults for {@link FilesRouterLimits}. */
export const defaultFilesRouterLimits: FilesRouterLimits = {
  maxReadBytes: 10 * MiB,
  maxWriteBytes: 32 * MiB,
  maxUploadFileBytes: 256 * MiB,
  maxUploadFiles: 32,
  chunkBytes: 512 * 1024,
};

export interface FilesRouterDeps {
  /**
   * The sandbox of task `taskId` for the caller of `req`. Throws AppError NOT_FOUND for an unknown task
   * and for another user's task alike, TASK_NOT_RUNNING when it has no live sandbox.
   */
  resolveSandbox(req: Request, taskId: string): Promise<{ sandboxId: string }>;
  /**
   * The latest checkpoint's files of a task with no sandbox, read-only (listings, reads and downloads fall back
   * to it); null: none. Same NOT_FOUND rule as `resolveSandbox`.
   */
  checkpointFiles?(req: Request, taskId: string): Promise<CheckpointFiles | null>;
  rpc: AgentRpc;
  limits?: Partial<FilesRouterLimits>;
}

/** Text if it has no NUL byte and is valid UTF-8 (a sequence cut at the end of the sample is allowed). */
function looksLikeText(sample: Uint8Array): boolean {
  if (sample.includes(0)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(sample, { stream: true });
    return true;
  } catch {
    return false;
  }
}

/**
 * `Content-Disposition: attachment` for the last name of `path`: an ASCII fallback without quotes,
 * backslashes or control characters, and the exact name in RFC 5987 `filename*`.
 */
export function attachmentDisposition(path: string): string {
  const name =
    path
      .split('/')
      .filter((n) => n !== '' && n !== '.')
      .pop() ?? '';
  const ascii = name.replace(/[^\x20-\x7e]|["\\%;]/g, '_').trim() || 'download';
  let encoded: string;
  try {
    encoded = encodeURIComponent(name || 'download').replace(
      /['()*]/g,
      (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
    );
  } catch {
    encoded = encodeURIComponent(ascii);
  }
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/** Headers that stop a browser from running a workspace file as a page in the app's origin. */
function setSafeContentHeaders(res: Response, contentType: string, size: number): void {
  res.setHeader('Content-Type', contentType);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Content-Security-Policy', "default-src 'none'; sandbox");
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-File-Size', String(size));
}

/** Resolves when `res` can take more data or has closed (the client went away). */
function drained(res: Response): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** An upload's own file name, checked on its face; the agent confines the final path. */
function uploadName(filename: string | undefined): string {
  const name = filename ?? '';
  if (name === '' || name === '.' || name === '..' || /[/\\\u0000]/.test(name)) {
    throw new AppError('PATH_REFUSED', `upload file name ${JSON.stringify(name.slice(0, 200))} is refused`);
  }
  return name;
}

/** Yields `source`'s bytes in pieces of exactly `size` (the last one shorter). */
async function* rechunk(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Bytes> {
  let parts: Uint8Array[] = [];
  let held = 0;
  for await (const piece of source) {
    parts.push(piece);
    held += piece.byteLength;
    while (held >= size) {
      const all = Buffer.concat(parts, held);
      yield all.subarray(0, size);
      parts = held > size ? [all.subarray(size)] : [];
      held -= size;
    }
  }
  if (held > 0) yield Buffer.concat(parts, held);
}

function* slices(body: Bytes, size: number): Generator<Bytes> {
  for (let at = 0; at < body.byteLength; at += size) yield body.subarray(at, at + size);
}

/** The handlers of the file routes (tag `files` in the protocol's route table). */
export type FileHandlers = Handlers<TaggedRouteName<'files'>>;

/**
 * The file API of a task's workspace, relayed to the sandbox's agent (routes `listFiles`, `readFile`,
 * `writeFile`, `deleteFile`, `uploadFiles`, `downloadFile` of the protocol's route table):
 *
 * - `readFile` answers the bytes (text/plain; charset=utf-8 or application/octet-stream) with `X-File-Size`;
 *   413 over `maxReadBytes` unless a range is asked
 * - `writeFile` takes a raw body; 413 over `maxWriteBytes`
 * - `uploadFiles` takes multipart (field `file`, several files)
 * - `downloadFile` streams the bytes as an attachment
 *
 * Errors are AppErrors for the shared error middleware; paths are confined by the agent (PATH_REFUSED).
 */
export function createFileHandlers(deps: FilesRouterDeps): FileHandlers {
  const limits: FilesRouterLimits = { ...defaultFilesRouterLimits, ...deps.limits };
  for (const key of ['maxReadBytes', 'maxWriteBytes', 'maxUploadFileBytes', 'maxUploadFiles', 'chunkBytes'] as const) {
    if (!Number.isSafeInteger(limits[key]) || limits[key] <= 0)
      throw new Error(`files limit ${key} must be a positive integer`);
  }
  if (limits.chunkBytes > MiB) throw new Error('files limit chunkBytes must be at most 1 MiB');
  const { rpc, resolveSandbox } = deps;
  const chunkBytes = limits.chunkBytes;

  const sandboxOf = async (req: Request, taskId: string): Promise<string> =>
    (await resolveSandbox(req, taskId)).sandboxId;

  /** Reads at most `length` bytes of `path` from `offset`: from the sandbox, or from a checkpoint. */
  type Reader = (path: string, offset: number, length: number) => Promise<AgentFileReadResult>;

  /**
   * Where a read-only request reads: the task's sandbox, or, when it has none, its latest checkpoint (marked
   * on the answer with `X-Rclaude-Checkpoint`).
   */
  async function readSource(
    req: Request,
    res: Response,
    taskId: string,
  ): Promise<{ read: Reader; list: (path: string) => Promise<unknown>; checkpoint: CheckpointFiles | null }> {
    try {
      const sandboxId = await sandboxOf(req, taskId);
      return {
        read: (path, offset, length) => readAgentFile(rpc, sandboxId, path, offset, length, limits.rpcTimeoutMs),
        list: (path) => rpc.call(sandboxId, 'files:list', { path }, limits.rpcTimeoutMs),
        checkpoint: null,
      };
    } catch (err) {
      if (!(err instanceof AppError) || err.code !== 'TASK_NOT_RUNNING' || !deps.checkpointFiles) throw err;
      const view = await deps.checkpointFiles(req, taskId);
      if (!view) throw err;
      res.setHeader('X-Rclaude-Checkpoint', view.checkpoint.id);
      return {
        read: (path, offset, length) => view.read(path, offset, length),
        list: async (path) => view.list(path),
        checkpoint: view,
      };
    }
  }

  const writeChunks = (sandboxId: string, path: string, chunks: AsyncIterable<Bytes> | Iterable<Bytes>) =>
    writeAgentFile(rpc, sandboxId, path, chunks, limits.rpcTimeoutMs);

  /**
   * Sends `total` bytes of `path` from `offset`, `first` being the read already made there. Content-Length
   * promises `total`: if the file shrinks meanwhile the response is cut off rather than ended short, so a
   * client never takes a partial file for a whole one. Stops reading when the client goes away.
   */
  async function sendBytes(
    res: Response,
    read: Reader,
    path: string,
    offset: number,
    total: number,
    first: AgentFileReadResult,
  ): Promise<void> {
    res.setHeader('Content-Length', String(total));
    // Express answers HEAD with the GET route: headers only, so read no further.
    if (res.req.method === 'HEAD') {
      res.end();
      return;
    }
    // 'close' also fires after a normal finish; before it, it means the client went away.
    let gone = false;
    res.once('close', () => {
      gone = true;
    });
    let sent = 0;
    let chunk = first;
    for (;;) {
      if (gone) return;
      const piece = chunk.data.subarray(0, total - sent);
      sent += piece.byteLength;
      if (piece.byteLength > 0 && !res.write(piece) && !gone) await drained(res);
      if (gone) return;
      if (sent >= total) break;
      if (chunk.eof || chunk.data.byteLength === 0) {
        res.destroy(new Error('the file shrank while it was being sent'));
        return;
      }
      chunk = await read(path, offset + sent, Math.min(chunkBytes, total - sent));
    }
    res.end();
  }

  /** Reads the multipart body of `req`, storing each `file` part as it streams. */
  function receiveUpload(req: Request, sandboxId: string, dir: string): Promise<WriteFileResponse[]> {
    return new Promise((resolve, reject) => {
      let parser: busboy.Busboy;
      try {
        parser = busboy({
          headers: req.headers,
          // Browsers and fetch send file names as raw UTF-8; busboy would read them as latin1.
          defParamCharset: 'utf8',
          limits: {
            files: limits.maxUploadFiles,
            // busboy flags a file that reaches its limit exactly; one byte more lets a file of exactly the max through.
            fileSize: limits.maxUploadFileBytes + 1,
            fields: 16,
            fieldSize: 4096,
            parts: limits.maxUploadFiles + 16,
            headerPairs: 64,
          },
        });
      } catch (err) {
        reject(
          new AppError('BAD_REQUEST', 'send the files as multipart/form-data, in the field "file"', { cause: err }),
        );
        return;
      }
      const stored: WriteFileResponse[] = [];
      let failure: AppError | null = null;
      let queue: Promise<void> = Promise.resolve();
      let settled = false;
      const fail = (err: unknown) => {
        failure ??= err instanceof AppError ? err : new AppError('INTERNAL', 'upload failed', { cause: err });
      };
      const settle = () => {
        if (settled) return;
        settled = true;
        void queue.then(() => {
          if (failure) reject(failure);
          else if (stored.length === 0) reject(new AppError('BAD_REQUEST', 'no file was sent in the field "file"'));
          else resolve(stored);
        });
      };

      parser.on('file', (field, stream: Readable & { truncated?: boolean }, info) => {
        queue = queue.then(async () => {
          if (failure) return void stream.resume();
          let target: string | null = null;
          let written = false;
          try {
            if (field !== 'file')
              throw new AppError('BAD_REQUEST', `files go in the field "file", not ${JSON.stringify(field)}`);
            const name = uploadName(info.filename);
            target = dir === '' ? name : `${dir}/${name}`;
            const path = target;
            const pieces = (async function* () {
              for await (const piece of rechunk(stream, chunkBytes)) {
                yield piece;
                written = true;
              }
            })();
            const result = await writeChunks(sandboxId, path, pieces);
            if (stream.truncated) {
              throw new AppError(
                'PAYLOAD_TOO_LARGE',
                `${JSON.stringify(name)} is over the ${limits.maxUploadFileBytes}-byte upload limit`,
              );
            }
            stored.push(result);
          } catch (err) {
            fail(err);
            stream.resume();
            // Leave no partial file behind; a failure here must not hide the first one.
            if (written && target !== null) {
              await rpc
                .call(sandboxId, 'files:delete', { path: target, recursive: false }, limits.rpcTimeoutMs)
                .catch(() => {});
            }
          }
        });
      });
      parser.on('field', () => {
        // Plain fields carry nothing we use; the limits above bound them.
      });
      parser.on('filesLimit', () =>
        fail(new AppError('PAYLOAD_TOO_LARGE', `at most ${limits.maxUploadFiles} files per upload`)),
      );
      parser.on('partsLimit', () => fail(new AppError('PAYLOAD_TOO_LARGE', 'too many parts in the upload')));
      parser.on('fieldsLimit', () => fail(new AppError('PAYLOAD_TOO_LARGE', 'too many fields in the upload')));
      parser.on('error', (err: unknown) => {
        fail(new AppError('BAD_REQUEST', 'the multipart body is malformed', { cause: err }));
        req.unpipe(parser);
        // Drain what the client still sends so it gets to read our answer.
        req.resume();
        settle();
      });
      parser.on('close', settle);
      req.once('close', () => {
        if (req.complete) return;
        // The client went away mid-body: end the file stream being stored so nothing waits forever.
        fail(new AppError('BAD_REQUEST', 'the upload was aborted'));
        parser.destroy(new Error('the client went away'));
        settle();
      });
      req.pipe(parser);
    });
  }

  /** Reads the raw body of `req`; failures become AppErrors with the error shape (413 over the limit). */
  const parseRaw = express.raw({ type: () => true, limit: limits.maxWriteBytes, inflate: false });
  const rawBody = (req: Request, res: Response): Promise<Bytes> =>
    new Promise((resolve, reject) => {
      parseRaw(req, res, (err?: unknown) => {
        if (err === undefined || err === null) {
          resolve(req.body instanceof Uint8Array ? (req.body as Bytes) : new Uint8Array(0));
          return;
        }
        const type = (err as { type?: unknown }).type;
        reject(
          type === 'entity.too.large'
            ? new AppError(
                'PAYLOAD_TOO_LARGE',
                `the body is over the ${limits.maxWriteBytes}-byte limit; send large files with POST /upload`,
              )
            : new AppError('BAD_REQUEST', 'the body could not be read', { cause: err }),
        );
      });
    });

  return {
    listFiles: async ({ params, query }, { req, res }) => {
      const source = await readSource(req, res, params.id);
      const parsed = listFilesResponseSchema.safeParse(await source.list(query.path));
      if (!parsed.success) throw agentMalformed();
      // Only a checkpoint's listing says it is one; an agent's claim to be one is dropped.
      const { checkpointId: _claimed, ...listing } = parsed.data;
      return source.checkpoint ? { ...listing, checkpointId: source.checkpoint.checkpoint.id } : listing;
    },

    readFile: async ({ params, query: q }, { req, res }) => {
      if (q.length !== undefined && q.length > limits.maxReadBytes) {
        throw new AppError('PAYLOAD_TOO_LARGE', `ask for at most ${limits.maxReadBytes} bytes at a time`);
      }
      const { read } = await readSource(req, res, params.id);
      const first = await read(q.path, q.offset, Math.min(chunkBytes, q.length ?? chunkBytes));
      const remaining = Math.max(0, first.size - q.offset);
      if (q.length === undefined && remaining > limits.maxReadBytes) {
        throw new AppError(
          'PAYLOAD_TOO_LARGE',
          `the file is ${first.size} bytes, over the ${limits.maxReadBytes}-byte limit: ask for a range with offset and length, or use /download`,
        );
      }
      const total = Math.min(q.length ?? remaining, remaining);
      const type = looksLikeText(first.data.subarray(0, 8192))
        ? 'text/plain; charset=utf-8'
        : 'application/octet-stream';
      setSafeContentHeaders(res, type, first.size);
      await sendBytes(res, read, q.path, q.offset, total, first);
    },

    // The query is validated and the sandbox found before a body that may be large is read.
    writeFile: async ({ params, query }, { req, res }) => {
      const sandboxId = await sandboxOf(req, params.id);
      const body = await rawBody(req, res);
      return writeChunks(sandboxId, query.path, slices(body, chunkBytes));
    },

    deleteFile: async ({ params, query }, { req }) => {
      const sandboxId = await sandboxOf(req, params.id);
      await rpc.call(sandboxId, 'files:delete', { path: query.path, recursive: query.recursive }, limits.rpcTimeoutMs);
    },

    uploadFiles: async ({ params, query }, { req }) => {
      const sandboxId = await sandboxOf(req, params.id);
      return { files: await receiveUpload(req, sandboxId, query.dir) };
    },

    renameFile: async ({ params, body }, { req }) => {
      const sandboxId = await sandboxOf(req, params.id);
      const parsed = renameFileResponseSchema.safeParse(
        await rpc.call(sandboxId, 'files:rename', { from: body.from, to: body.to }, limits.rpcTimeoutMs),
      );
      if (!parsed.success) throw agentMalformed();
      return parsed.data;
    },

    syncManifest: async ({ params, query }, { req }) => {
      const sandboxId = await sandboxOf(req, params.id);
      // Hashing a page of large files takes a while: a longer timeout than a single read's.
      const answer = await rpc.call(
        sandboxId,
        'files:manifest',
        query.after === undefined ? {} : { after: query.after },
        Math.max(limits.rpcTimeoutMs ?? 0, 120_000),
      );
      const parsed = syncManifestResponseSchema.safeParse(answer);
      if (!parsed.success) throw agentMalformed();
      return parsed.data;
    },

    syncChanges: async ({ params, query }, { req }) => {
      const sandboxId = await sandboxOf(req, params.id);
      const answer = await rpc.call(
        sandboxId,
        'files:changes',
        query.cursor === undefined ? { waitMs: query.waitMs } : { cursor: query.cursor, waitMs: query.waitMs },
        query.waitMs + Math.max(limits.rpcTimeoutMs ?? 0, 60_000),
      );
      const parsed = syncChangesResponseSchema.safeParse(answer);
      if (!parsed.success) throw agentMalformed();
      return parsed.data;
    },

    // The body passes through whole: the agent checks `expect` right before it changes anything.
    syncApply: async ({ params, body }, { req }) => {
      const sandboxId = await sandboxOf(req, params.id);
      const answer = await rpc.call(sandboxId, 'files:sync-apply', body, Math.max(limits.rpcTimeoutMs ?? 0, 60_000));
      const parsed = syncApplyResponseSchema.safeParse(answer);
      if (!parsed.success) throw agentMalformed();
      return parsed.data;
    },

    downloadFile: async ({ params, query }, { req, res }) => {
      const { read } = await readSource(req, res, params.id);
      const first = await read(query.path, 0, chunkBytes);
      setSafeContentHeaders(res, 'application/octet-stream', first.size);
      res.setHeader('Content-Disposition', attachmentDisposition(query.path));
      await sendBytes(res, read, query.path, 0, first.size, first);
    },
  };
}
