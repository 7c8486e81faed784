import { createHash } from 'node:crypto';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SYNC_EMPTY_SHA256 } from '@rclaude/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileService, type FileService } from './file-service.js';
import { createSyncService, type SyncService } from './sync-service.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

let base: string;
let ws: string;
let files: FileService;
let sync: SyncService;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'rclaude-sync-svc-'));
  ws = join(base, 'ws');
  mkdirSync(join(ws, 'src/deep'), { recursive: true });
  mkdirSync(join(ws, 'node_modules/pkg'), { recursive: true });
  mkdirSync(join(ws, '.git'));
  mkdirSync(join(base, 'outside'));
  writeFileSync(join(base, 'outside/secret'), 'secret');
  writeFileSync(join(ws, 'a.txt'), 'A');
  writeFileSync(join(ws, 'src/deep/b.txt'), 'B');
  writeFileSync(join(ws, 'node_modules/pkg/index.js'), 'x');
  writeFileSync(join(ws, '.git/HEAD'), 'ref');
  writeFileSync(join(ws, '.rclaude-sync-0123'), 'partial');
  symlinkSync(join(base, 'outside'), join(ws, 'escape'));
  symlinkSync(join(base, 'outside/secret'), join(ws, 'secret-link'));
  files = createFileService({ root: ws });
  sync = createSyncService({ files, debounceMs: 50 });
});

afterEach(async () => {
  await sync.close();
  rmSync(base, { recursive: true, force: true });
});

describe('the sync service', () => {
  it("lists files with their sha256 and exec bit, links as their text, folders; never .git, node_modules or sync's temp files", async () => {
    chmodSync(join(ws, 'a.txt'), 0o755);
    const m = await sync.manifest({});
    expect(m.next).toBeUndefined();
    expect(m.entries.map((e) => [e.path, e.type, e.sha256, e.size, e.exec, e.target])).toEqual([
      ['a.txt', 'file', sha('A'), 1, true, undefined],
      ['escape', 'link', sha(join(base, 'outside')), 0, false, join(base, 'outside')],
      ['secret-link', 'link', sha(join(base, 'outside/secret')), 0, false, join(base, 'outside/secret')],
      ['src', 'dir', SYNC_EMPTY_SHA256, 0, false, undefined],
      ['src/deep', 'dir', SYNC_EMPTY_SHA256, 0, false, undefined],
      ['src/deep/b.txt', 'file', sha('B'), 1, false, undefined],
    ]);
  });

  it('applies a change only while the path holds what the client expects (compare-and-swap)', async () => {
    const file = (body: string, exec = false) => ({ type: 'file' as const, sha256: sha(body), exec });
    writeFileSync(join(ws, 'up.tmp'), 'new');
    // The sandbox wrote A2 after the client saw A: nothing is replaced, the answer says what is there.
    writeFileSync(join(ws, 'a.txt'), 'A2');
    const stale = await sync.apply({ op: 'put', path: 'a.txt', from: 'up.tmp', exec: true, expect: file('A') });
    expect(stale).toMatchObject({ applied: false, entry: { path: 'a.txt', sha256: sha('A2') } });
    expect(readFileSync(join(ws, 'a.txt'), 'utf8')).toBe('A2');
    const put = await sync.apply({ op: 'put', path: 'a.txt', from: 'up.tmp', exec: true, expect: file('A2') });
    expect(put).toMatchObject({ applied: true, entry: { sha256: sha('new'), exec: true } });
    expect(statSync(join(ws, 'a.txt')).mode & 0o7777).toBe(0o755);
    // Nothing may appear where the client saw nothing.
    writeFileSync(join(ws, 'up2.tmp'), 'x');
    expect(
      await sync.apply({ op: 'put', path: 'src/deep/b.txt', from: 'up2.tmp', exec: false, expect: null }),
    ).toMatchObject({
      applied: false,
    });
    expect(await sync.apply({ op: 'delete', path: 'a.txt', expect: file('new') })).toMatchObject({ applied: false });
    expect(await sync.apply({ op: 'delete', path: 'a.txt', expect: file('new', true) })).toEqual({
      applied: true,
      entry: null,
    });
    expect(await sync.apply({ op: 'mkdir', path: 'e/f', expect: null })).toMatchObject({
      applied: true,
      entry: { type: 'dir' },
    });
    expect(await sync.apply({ op: 'link', path: 'l', target: '/etc/passwd', expect: null })).toMatchObject({
      applied: true,
      entry: { type: 'link', target: '/etc/passwd' },
    });
    expect(readlinkSync(join(ws, 'l'))).toBe('/etc/passwd');
    // Never written through a link out of the workspace, whatever the client says.
    await expect(sync.apply({ op: 'mkdir', path: 'escape/x', expect: null })).rejects.toMatchObject({
      code: 'PATH_REFUSED',
    });
    await expect(sync.apply({ op: 'link', path: 'escape/y', target: 'z', expect: null })).rejects.toMatchObject({
      code: 'PATH_REFUSED',
    });
    expect(readdirSync(join(base, 'outside'))).toEqual(['secret']);
  });

  it('reports changes and deletes after a cursor, once each, hashed as they are now', async () => {
    const first = await sync.changes({ waitMs: 0 });
    expect(first.reset).toBe(true);
    const polled = sync.changes({ cursor: first.cursor, waitMs: 10_000 });
    writeFileSync(join(ws, 'a.txt'), 'A2');
    unlinkSync(join(ws, 'src/deep/b.txt'));
    writeFileSync(join(ws, 'node_modules/pkg/index.js'), 'y');
    let res = await polled;
    let cursor = res.cursor;
    const seen = new Map(res.changes.map((c) => [c.path, c]));
    // Two events may arrive in two answers on a slow machine: poll until both are seen, bounded.
    for (let i = 0; i < 5 && !(seen.has('a.txt') && seen.has('src/deep/b.txt')); i += 1) {
      res = await sync.changes({ cursor, waitMs: 2000 });
      cursor = res.cursor;
      for (const c of res.changes) seen.set(c.path, c);
    }
    expect(seen.get('a.txt')).toMatchObject({ kind: 'change', sha256: sha('A2'), size: 2 });
    expect(seen.get('src/deep/b.txt')).toEqual({ kind: 'delete', path: 'src/deep/b.txt' });
    expect([...seen.keys()].some((p) => p.startsWith('node_modules'))).toBe(false);
    // Nothing new: an empty answer after the wait, the cursor kept.
    const quiet = await sync.changes({ cursor, waitMs: 100 });
    expect(quiet).toEqual({ cursor, changes: [], reset: false });
  });

  it('says reset for a cursor from before the watcher started', async () => {
    const res = await sync.changes({ cursor: 5, waitMs: 0 });
    expect(res.reset).toBe(true);
    expect(res.cursor).toBeGreaterThan(5);
  });

  it('renames a file within the workspace, and refuses one through a symlink out of it', async () => {
    await files.rename({ from: 'a.txt', to: 'new/dir/a.txt' });
    expect((await sync.manifest({})).entries.filter((e) => e.type === 'file').map((e) => e.path)).toEqual([
      'new/dir/a.txt',
      'src/deep/b.txt',
    ]);
    await expect(files.rename({ from: 'new/dir/a.txt', to: 'escape/stolen' })).rejects.toMatchObject({
      code: 'PATH_REFUSED',
    });
    await expect(files.rename({ from: 'secret-link', to: 'x' })).rejects.toMatchObject({ code: 'PATH_REFUSED' });
  });
});
