import { EventEmitter } from 'node:events';
import { mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Ack, type AgentToProxyEvents, AppError, type ProxyToAgentEvents } from '@rclaude/protocol';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { createFileService, type FileService } from './file-service.js';
import { type FileEventSocket, registerFileHandlers } from './register-file-handlers.js';

let dir: string;
let service: FileService;

beforeAll(() => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'rclaude-file-rpc-')));
  writeFileSync(join(dir, 'a.txt'), 'abc');
  symlinkSync('/etc/passwd', join(dir, 'passwd'));
  service = createFileService({ root: dir });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Emits like the proxy does: payload plus acknowledgement callback, answered asynchronously. */
function call(socket: EventEmitter, event: string, payload: unknown): Promise<Ack<unknown>> {
  return new Promise((resolve) => socket.emit(event, payload, resolve));
}

describe('registerFileHandlers', () => {
  it('fits the agent socket type', () => {
    expectTypeOf<Socket<ProxyToAgentEvents, AgentToProxyEvents>>().toExtend<FileEventSocket>();
  });

  it('answers each files:* event with { ok, data }', async () => {
    const socket = new EventEmitter();
    registerFileHandlers(socket, service);
    const list = await call(socket, 'files:list', { path: '' });
    expect(list.ok && (list.data as { entries: { name: string }[] }).entries.map((e) => e.name)).toEqual([
      'a.txt',
      'passwd',
    ]);
    expect(await call(socket, 'files:stat', { path: 'a.txt' })).toMatchObject({ ok: true, data: { size: 3 } });
    const written = await call(socket, 'files:write', {
      path: 'b/c.bin',
      data: Buffer.from([0, 255, 1]),
      mode: 'truncate',
    });
    expect(written).toEqual({ ok: true, data: { path: 'b/c.bin', size: 3 } });
    const read = await call(socket, 'files:read', { path: 'b/c.bin', offset: 0, length: 10 });
    expect(read.ok && [...(read.data as { data: Uint8Array }).data]).toEqual([0, 255, 1]);
    expect(await call(socket, 'files:delete', { path: 'b', recursive: true })).toEqual({ ok: true, data: null });
  });

  it('answers refusals with { ok: false, error } carrying the service code', async () => {
    const socket = new EventEmitter();
    registerFileHandlers(socket, service);
    expect(await call(socket, 'files:read', { path: 'passwd', offset: 0, length: 10 })).toMatchObject({
      ok: false,
      error: { code: 'PATH_REFUSED' },
    });
    expect(await call(socket, 'files:stat', { path: 'missing' })).toMatchObject({
      ok: false,
      error: { code: 'NOT_FOUND' },
    });
  });

  it.each([
    ['files:list', undefined],
    ['files:list', { path: 42 }],
    ['files:list', { path: 'a', extra: true }],
    ['files:read', { path: 'a.txt', offset: -1, length: 1 }],
    ['files:read', { path: 'a.txt', offset: 0, length: 5 * 1024 * 1024 }],
    ['files:write', { path: 'x', data: 'not bytes', mode: 'truncate' }],
    ['files:write', { path: 'x', data: Buffer.from('x'), mode: 'overwrite' }],
    ['files:delete', { path: 'a.txt' }],
    ['files:stat', { path: 'a\u0000b' }],
  ])('refuses a malformed %s payload %j with BAD_REQUEST, never throwing', async (event, payload) => {
    const socket = new EventEmitter();
    registerFileHandlers(socket, service);
    const res = await call(socket, event, payload);
    expect(res).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
  });

  it('ignores an event without an acknowledgement callback', () => {
    const socket = new EventEmitter();
    registerFileHandlers(socket, service);
    expect(() => socket.emit('files:list', { path: '' })).not.toThrow();
    expect(() => socket.emit('files:list', { path: '' }, 'not a function')).not.toThrow();
  });

  it('logs unexpected failures and answers INTERNAL without internal detail', async () => {
    const socket = new EventEmitter();
    const logged: object[] = [];
    const broken: FileService = {
      ...service,
      list: () => Promise.reject(new Error('disk on fire at /secret/path')),
      stat: () => Promise.reject(new AppError('NOT_FOUND', 'no such file or folder: "x"')),
    };
    registerFileHandlers(socket, broken, { log: { error: (obj) => logged.push(obj) } });
    const res = await call(socket, 'files:list', { path: '' });
    expect(res).toEqual({ ok: false, error: { code: 'INTERNAL', message: 'internal error' } });
    await call(socket, 'files:stat', { path: 'x' });
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ event: 'files:list' });
  });

  it('removes every listener it added', () => {
    const socket = new EventEmitter();
    const off = registerFileHandlers(socket, service);
    expect(socket.eventNames().sort()).toEqual([
      'files:delete',
      'files:list',
      'files:read',
      'files:rename',
      'files:stat',
      'files:write',
    ]);
    off();
    expect(socket.eventNames()).toEqual([]);
  });
});
