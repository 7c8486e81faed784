import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Ack, AppError, errorBodySchema, listFilesResponseSchema, loadRouteSchemas } from '@rclaude/protocol';
import express from 'express';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
// The agent's own file service answers the RPCs in-process, exactly as it does behind the agent socket.
import { createFileService, registerFileHandlers } from '../../../agent/src/files/index.js';
import { errorMiddleware } from '../auth/error-middleware.js';
import type { AgentRpc } from '../services/agent-rpc.js';
import { createFileHandlers } from './files-routes.js';
import { mountRoutes, routesTagged } from './mount-routes.js';

const CHUNK = 1000;
const MAX_READ = 5000;
const MAX_WRITE = 8000;
const MAX_UPLOAD_FILE = 20_000;
const MAX_UPLOAD_FILES = 3;
const SECRET = 'TOP SECRET outside the workspace';

let base: string;
let ws: string;
let outside: string;
let server: Server;
let url: string;
/** Every RPC the router made: event and payload size (bytes of data or length asked). */
let rpcLog: { event: string; bytes: number; offset: number }[] = [];
/** When set, files:read calls at or past `from` wait for `open` (to freeze the router mid-download). */
let readGate: { from: number; open: Promise<void> } | null = null;
/** Responses of the test app that have closed, whatever the reason. */
let closedResponses = 0;

/** Waits (bounded) until `check` holds; these are waits for a state, not timing assertions. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** An AgentRpc that emits on an in-process socket served by registerFileHandlers, like the real agent. */
function inProcessRpc(agents: Map<string, EventEmitter>): AgentRpc {
  const call = (sandboxId: string, event: string, payload: unknown): Promise<unknown> => {
    const p = payload as { data?: Uint8Array; length?: number; offset?: number };
    const offset = p.offset ?? 0;
    rpcLog.push({ event, bytes: p.data?.byteLength ?? p.length ?? 0, offset });
    const socket = agents.get(sandboxId);
    if (!socket) return Promise.reject(new AppError('AGENT_UNAVAILABLE', 'no agent'));
    const gate = event === 'files:read' && readGate && offset >= readGate.from ? readGate.open : Promise.resolve();
    return gate.then(
      () =>
        new Promise((resolve, reject) => {
          socket.emit(event, payload, (ack: Ack<unknown>) =>
            ack.ok ? resolve(ack.data) : reject(AppError.from(ack.error)),
          );
        }),
    );
  };
  return { call } as AgentRpc;
}

beforeAll(async () => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'rclaude-files-http-')));
  ws = join(base, 'ws');
  outside = join(base, 'outside');
  mkdirSync(join(ws, 'sub'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret.txt'), SECRET);
  writeFileSync(join(ws, 'hello.txt'), 'hello, wörld\n');
  writeFileSync(join(ws, 'sub', 'inner.txt'), 'inner');
  symlinkSync('../outside/secret.txt', join(ws, 'link-out-file'));
  symlinkSync('../outside', join(ws, 'link-out-dir'));
  symlinkSync('/dev/null', join(ws, 'link-dev-null'));
  execFileSync('mkfifo', [join(ws, 'fifo')]);

  const agent = new EventEmitter();
  // The agent reads less per call than the proxy asks for, so the proxy's loops see short reads.
  registerFileHandlers(agent, createFileService({ root: ws, maxReadBytes: 700, maxWriteBytes: CHUNK }));
  const app = express();
  app.use((_req, res, next) => {
    res.once('close', () => {
      closedResponses += 1;
    });
    next();
  });
  mountRoutes(
    app,
    routesTagged('files'),
    createFileHandlers({
      rpc: inProcessRpc(new Map([['sb-1', agent]])),
      resolveSandbox: async (_req, taskId) => {
        if (taskId === 'task1') return { sandboxId: 'sb-1' };
        if (taskId === 'stopped1') throw new AppError('TASK_NOT_RUNNING', 'the task is not running');
        throw new AppError('NOT_FOUND', 'no such task');
      },
      limits: {
        chunkBytes: CHUNK,
        maxReadBytes: MAX_READ,
        maxWriteBytes: MAX_WRITE,
        maxUploadFileBytes: MAX_UPLOAD_FILE,
        maxUploadFiles: MAX_UPLOAD_FILES,
      },
    }),
    await loadRouteSchemas(),
  );
  app.use(errorMiddleware(pino({ level: 'silent' })));
  server = app.listen(0, '127.0.0.1');
  await new Promise<void>((r) => server.once('listening', () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/tasks/task1/files`;
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(base, { recursive: true, force: true });
});

beforeEach(() => {
  rpcLog = [];
  readGate = null;
});

async function expectError(res: Response, status: number, code: string): Promise<void> {
  expect(res.status, await res.clone().text()).toBe(status);
  const body = errorBodySchema.parse(await res.json());
  expect(body.error.code).toBe(code);
  expect(body.error.message).not.toContain(base);
}

function form(files: { name: string; data: Uint8Array<ArrayBuffer>; field?: string }[]): FormData {
  const fd = new FormData();
  for (const f of files) fd.append(f.field ?? 'file', new Blob([f.data]), f.name);
  return fd;
}

describe('files routes: the happy paths', () => {
  it('lists a folder', async () => {
    const res = await fetch(`${url}?path=sub`);
    expect(res.status).toBe(200);
    const body = listFilesResponseSchema.parse(await res.json());
    expect(body.entries.map((e) => e.path)).toEqual(['sub/inner.txt']);
    const root = listFilesResponseSchema.parse(await (await fetch(url)).json());
    expect(root.entries.map((e) => e.name)).toContain('hello.txt');
  });

  it('reads a text file as text/plain with its size, and ranges of it', async () => {
    const res = await fetch(`${url}/content?path=hello.txt`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-file-size')).toBe(String(Buffer.byteLength('hello, wörld\n')));
    expect(await res.text()).toBe('hello, wörld\n');
    const range = await fetch(`${url}/content?path=hello.txt&offset=7&length=3`);
    expect(Buffer.from(await range.arrayBuffer()).toString()).toBe('wö');
  });

  it('writes a binary body in chunks of at most chunkBytes and reads it back byte for byte', async () => {
    const bytes = randomBytes(MAX_WRITE);
    const put = await fetch(`${url}/content?path=bin/data.bin`, { method: 'PUT', body: bytes });
    expect(put.status).toBe(200);
    expect(await put.json()).toEqual({ path: 'bin/data.bin', size: MAX_WRITE });
    const writes = rpcLog.filter((c) => c.event === 'files:write');
    expect(writes.length).toBe(Math.ceil(MAX_WRITE / CHUNK));
    expect(Math.max(...writes.map((w) => w.bytes))).toBeLessThanOrEqual(CHUNK);
    expect(readFileSync(join(ws, 'bin/data.bin')).equals(bytes)).toBe(true);

    const get = await fetch(`${url}/content?path=bin/data.bin&offset=10&length=${MAX_READ}`);
    expect(get.headers.get('content-type')).toBe('application/octet-stream');
    expect(Buffer.from(await get.arrayBuffer()).equals(bytes.subarray(10, 10 + MAX_READ))).toBe(true);
    const down = await fetch(`${url}/download?path=bin/data.bin`);
    expect(Buffer.from(await down.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('answers HEAD with the headers only, reading one chunk', async () => {
    writeFileSync(join(ws, 'head.bin'), randomBytes(10 * CHUNK));
    const res = await fetch(`${url}/download?path=head.bin`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(10 * CHUNK));
    expect(rpcLog.filter((r) => r.event === 'files:read')).toHaveLength(1);
  });

  it('writes an empty body as an empty file', async () => {
    const put = await fetch(`${url}/content?path=empty.txt`, { method: 'PUT' });
    expect(await put.json()).toEqual({ path: 'empty.txt', size: 0 });
    expect(readFileSync(join(ws, 'empty.txt')).byteLength).toBe(0);
  });

  it('uploads several binary files and downloads them back byte for byte', async () => {
    const a = randomBytes(MAX_UPLOAD_FILE);
    const b = randomBytes(1);
    const c = new Uint8Array(0);
    const res = await fetch(`${url}/upload?dir=up/load`, {
      method: 'POST',
      body: form([
        { name: 'a.bin', data: a },
        { name: 'b é.bin', data: b },
        { name: 'c.bin', data: c },
      ]),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toEqual({
      files: [
        { path: 'up/load/a.bin', size: a.byteLength },
        { path: 'up/load/b é.bin', size: 1 },
        { path: 'up/load/c.bin', size: 0 },
      ],
    });
    const writes = rpcLog.filter((w) => w.event === 'files:write');
    expect(Math.max(...writes.map((w) => w.bytes))).toBeLessThanOrEqual(CHUNK);

    rpcLog = [];
    const down = await fetch(`${url}/download?path=up/load/a.bin`);
    expect(down.status).toBe(200);
    expect(down.headers.get('content-disposition')).toBe(`attachment; filename="a.bin"; filename*=UTF-8''a.bin`);
    expect(down.headers.get('content-length')).toBe(String(a.byteLength));
    expect(Buffer.from(await down.arrayBuffer()).equals(a)).toBe(true);
    const reads = rpcLog.filter((r) => r.event === 'files:read');
    expect(reads.length).toBeGreaterThan(1);
    expect(Math.max(...reads.map((r) => r.bytes))).toBeLessThanOrEqual(CHUNK);

    const down2 = await fetch(`${url}/download?path=${encodeURIComponent('up/load/b é.bin')}`);
    expect(down2.headers.get('content-disposition')).toBe(
      `attachment; filename="b _.bin"; filename*=UTF-8''b%20%C3%A9.bin`,
    );
    expect(Buffer.from(await down2.arrayBuffer()).equals(b)).toBe(true);
  });

  it('gives a download a safe file name whatever the path holds', async () => {
    mkdirSync(join(ws, 'names'), { recursive: true });
    const nasty = 'a";b%c\r\nd ü.txt';
    writeFileSync(join(ws, 'names', nasty), 'x');
    const res = await fetch(`${url}/download?path=${encodeURIComponent(`names/${nasty}`)}`);
    expect(res.status).toBe(200);
    const cd = res.headers.get('content-disposition') ?? '';
    expect(cd).toBe(`attachment; filename="a__b_c__d _.txt"; filename*=UTF-8''a%22%3Bb%25c%0D%0Ad%20%C3%BC.txt`);
    expect(await res.text()).toBe('x');
  });

  it('deletes a file (204) and a folder only with recursive=true', async () => {
    mkdirSync(join(ws, 'gone/deep'), { recursive: true });
    writeFileSync(join(ws, 'gone/deep/f.txt'), 'x');
    await expectError(await fetch(`${url}?path=gone`, { method: 'DELETE' }), 409, 'CONFLICT');
    const res = await fetch(`${url}?path=gone&recursive=true`, { method: 'DELETE' });
    expect(res.status).toBe(204);
    expect(existsSync(join(ws, 'gone'))).toBe(false);
  });
});

describe('files routes: limits', () => {
  it('refuses a whole-file read over maxReadBytes with 413, but serves a range of it', async () => {
    writeFileSync(join(ws, 'big.bin'), Buffer.alloc(MAX_READ + 1, 1));
    await expectError(await fetch(`${url}/content?path=big.bin`), 413, 'PAYLOAD_TOO_LARGE');
    await expectError(await fetch(`${url}/content?path=big.bin&length=${MAX_READ + 1}`), 413, 'PAYLOAD_TOO_LARGE');
    const range = await fetch(`${url}/content?path=big.bin&offset=1&length=${MAX_READ}`);
    expect(range.status).toBe(200);
    expect(range.headers.get('x-file-size')).toBe(String(MAX_READ + 1));
    expect((await range.arrayBuffer()).byteLength).toBe(MAX_READ);
    // The download route streams it whole.
    const down = await fetch(`${url}/download?path=big.bin`);
    expect((await down.arrayBuffer()).byteLength).toBe(MAX_READ + 1);
  });

  it('refuses a PUT body over maxWriteBytes with 413 and the error shape, writing nothing', async () => {
    const res = await fetch(`${url}/content?path=too-big.bin`, { method: 'PUT', body: randomBytes(MAX_WRITE + 1) });
    await expectError(res, 413, 'PAYLOAD_TOO_LARGE');
    expect(existsSync(join(ws, 'too-big.bin'))).toBe(false);
  });

  it('refuses an uploaded file over maxUploadFileBytes with 413 and leaves no partial file', async () => {
    const res = await fetch(`${url}/upload`, {
      method: 'POST',
      body: form([{ name: 'huge.bin', data: randomBytes(MAX_UPLOAD_FILE + 1) }]),
    });
    await expectError(res, 413, 'PAYLOAD_TOO_LARGE');
    expect(existsSync(join(ws, 'huge.bin'))).toBe(false);
  });

  it('refuses more than maxUploadFiles files with 413', async () => {
    const files = Array.from({ length: MAX_UPLOAD_FILES + 1 }, (_, i) => ({
      name: `n${i}.txt`,
      data: randomBytes(10),
    }));
    await expectError(
      await fetch(`${url}/upload?dir=many`, { method: 'POST', body: form(files) }),
      413,
      'PAYLOAD_TOO_LARGE',
    );
  });

  it('refuses uploads that are not multipart, empty, or use another field', async () => {
    await expectError(await fetch(`${url}/upload`, { method: 'POST', body: 'plain' }), 400, 'BAD_REQUEST');
    await expectError(await fetch(`${url}/upload`, { method: 'POST', body: new FormData() }), 400, 'BAD_REQUEST');
    const other = form([{ name: 'x.txt', data: randomBytes(3), field: 'upload' }]);
    await expectError(await fetch(`${url}/upload`, { method: 'POST', body: other }), 400, 'BAD_REQUEST');
    const broken = await fetch(`${url}/upload`, {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=XYZ' },
      body: '--XYZ\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\nno closing boundary',
    });
    expect(broken.status).toBeGreaterThanOrEqual(400);
    expect(broken.status).toBeLessThan(500);
    expect(existsSync(join(ws, 'x.txt'))).toBe(false);
  });
});

describe('files routes: clients that go away', () => {
  it('stops reading from the agent when a download is abandoned', async () => {
    writeFileSync(join(ws, 'long.bin'), randomBytes(50 * CHUNK));
    let open!: () => void;
    readGate = { from: 5 * CHUNK, open: new Promise<void>((r) => (open = r)) };
    const ac = new AbortController();
    const res = await fetch(`${url}/download?path=long.bin`, { signal: ac.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    expect((await reader.read()).done).toBe(false);
    await until(
      () => rpcLog.some((r) => r.event === 'files:read' && r.offset >= 5 * CHUNK),
      'the router to wait on a read',
    );
    const closedBefore = closedResponses;
    ac.abort();
    await until(() => closedResponses > closedBefore, 'the server to see the client go');
    open();
    // A router that kept going would now ask for the next chunk; give it ample chance to.
    await new Promise((r) => setTimeout(r, 200));
    const gated = rpcLog.filter((r) => r.event === 'files:read' && r.offset >= 5 * CHUNK);
    expect(gated).toHaveLength(1);
  });

  it('ends an upload whose client went away mid-file and removes the partial file', async () => {
    const boundary = 'xBOUNDARYx';
    const { request } = await import('node:http');
    const req = request(`${url}/upload?dir=aborted`, {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    });
    req.on('error', () => {});
    req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="part.bin"\r\n\r\n`);
    req.write(randomBytes(3 * CHUNK));
    await until(() => existsSync(join(ws, 'aborted', 'part.bin')), 'the first chunk to be stored');
    req.destroy();
    await until(() => rpcLog.some((r) => r.event === 'files:delete'), 'the partial file to be deleted');
    await until(() => !existsSync(join(ws, 'aborted', 'part.bin')), 'the partial file to be gone');
  });
});

describe('files routes: escapes and bad input get 4xx with the error shape, never 200 or 500', () => {
  // Query strings exactly as sent on the wire (percent-encoding included).
  const escapes = [
    '..%2Foutside%2Fsecret.txt',
    '../outside/secret.txt',
    'sub/../../outside/secret.txt',
    '%2Fetc%2Fpasswd',
    '/etc/passwd',
    '%2e%2e%2foutside%2fsecret.txt',
    '..%5Coutside%5Csecret.txt',
    'hello.txt%00.png',
    'link-out-file',
    'link-out-dir%2Fsecret.txt',
    'link-dev-null',
    'fifo',
  ];

  const routes: { name: string; skip?: string[]; request: (q: string) => Promise<Response> }[] = [
    { name: 'GET /', request: (q) => fetch(`${url}?path=${q}`) },
    { name: 'GET /content', request: (q) => fetch(`${url}/content?path=${q}`) },
    { name: 'GET /download', request: (q) => fetch(`${url}/download?path=${q}`) },
    { name: 'PUT /content', request: (q) => fetch(`${url}/content?path=${q}`, { method: 'PUT', body: 'pwned' }) },
    {
      name: 'DELETE /',
      // Deleting a symlink or a FIFO itself is allowed (it removes the entry, never its target): not an escape.
      skip: ['link-out-file', 'link-dev-null', 'fifo'],
      request: (q) => fetch(`${url}?path=${q}&recursive=true`, { method: 'DELETE' }),
    },
    {
      name: 'POST /upload',
      request: (q) =>
        fetch(`${url}/upload?dir=${q}`, {
          method: 'POST',
          body: form([{ name: 'p.txt', data: Buffer.from('pwned') }]),
        }),
    },
  ];

  for (const route of routes) {
    it(`${route.name}: every escape is refused and nothing outside changes`, async () => {
      for (const q of escapes.filter((e) => !route.skip?.includes(e))) {
        const res = await route.request(q);
        const text = await res.text();
        expect(res.status, `${route.name} ${q}: ${text}`).toBeGreaterThanOrEqual(400);
        expect(res.status, `${route.name} ${q}: ${text}`).toBeLessThan(500);
        const body = errorBodySchema.parse(JSON.parse(text));
        expect(['PATH_REFUSED', 'NOT_FOUND', 'BAD_REQUEST', 'CONFLICT']).toContain(body.error.code);
        expect(text).not.toContain('SECRET');
      }
      expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe(SECRET);
    });
  }

  it('deletes a symlink that points outside as a link, leaving its target alone', async () => {
    symlinkSync('../outside/secret.txt', join(ws, 'del-link-out'));
    expect((await fetch(`${url}?path=del-link-out`, { method: 'DELETE' })).status).toBe(204);
    expect(existsSync(join(ws, 'del-link-out'))).toBe(false);
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe(SECRET);
  });

  it('takes a double-encoded escape as a literal name (404), decoding only once', async () => {
    await expectError(await fetch(`${url}/content?path=%252e%252e%252foutside%252fsecret.txt`), 404, 'NOT_FOUND');
    const put = await fetch(`${url}/content?path=%252e%252e`, { method: 'PUT', body: 'lit' });
    expect(await put.json()).toEqual({ path: '%2e%2e', size: 3 });
    expect(readFileSync(join(ws, '%2e%2e'), 'utf8')).toBe('lit');
  });

  it.each([
    ['GET', '/content?path=hello.txt&offset=-1'],
    ['GET', '/content?path=hello.txt&length=0'],
    ['GET', '/content?path=hello.txt&length=abc'],
    ['GET', '/content?path=hello.txt&path=sub'],
    ['GET', '/content?path=hello.txt&extra=1'],
    ['GET', '/content'],
    ['GET', `?path=${'a'.repeat(5000)}`],
    ['DELETE', '?path=hello.txt&recursive=yes'],
    ['DELETE', '?path='],
    ['PUT', '/content'],
    ['GET', '/download'],
    ['POST', '/upload?dir=a&dir=b'],
  ])('%s %s -> 400', async (method, suffix) => {
    const res = await fetch(`${url}${suffix}`, { method, body: method === 'PUT' ? 'x' : undefined });
    expect(res.status).toBe(400);
    expect(['BAD_REQUEST', 'PATH_REFUSED']).toContain(errorBodySchema.parse(await res.json()).error.code);
  });

  it("answers 404 for an unknown or another user's task on every route, 409 when it is not running", async () => {
    for (const task of ['nope', 'someoneelses']) {
      const base404 = url.replace('/task1/', `/${task}/`);
      await expectError(await fetch(`${base404}?path=`), 404, 'NOT_FOUND');
      await expectError(await fetch(`${base404}/content?path=hello.txt`), 404, 'NOT_FOUND');
      await expectError(await fetch(`${base404}/download?path=hello.txt`), 404, 'NOT_FOUND');
      await expectError(await fetch(`${base404}/content?path=x`, { method: 'PUT', body: 'x' }), 404, 'NOT_FOUND');
      await expectError(await fetch(`${base404}?path=hello.txt`, { method: 'DELETE' }), 404, 'NOT_FOUND');
      await expectError(
        await fetch(`${base404}/upload`, { method: 'POST', body: form([{ name: 'a', data: Buffer.from('a') }]) }),
        404,
        'NOT_FOUND',
      );
    }
    // A malformed task id is refused before any sandbox is looked up, as on every task route.
    await expectError(await fetch(`${url.replace('/task1/', '/Not-An-Id/')}?path=`), 400, 'BAD_REQUEST');
    const stopped = url.replace('/task1/', '/stopped1/');
    await expectError(await fetch(`${stopped}/content?path=hello.txt`), 409, 'TASK_NOT_RUNNING');
    expect(existsSync(join(ws, 'x'))).toBe(false);
    expect(existsSync(join(ws, 'a'))).toBe(false);
  });
});
