import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  it("lists regular files with their sha256, never .git, node_modules, sync's temp files or symlinks", async () => {
    const m = await sync.manifest({});
    expect(m.next).toBeUndefined();
    expect(m.entries.map((e) => [e.path, e.sha256, e.size])).toEqual([
      ['a.txt', sha('A'), 1],
      ['src/deep/b.txt', sha('B'), 1],
    ]);
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
    expect((await sync.manifest({})).entries.map((e) => e.path)).toEqual(['new/dir/a.txt', 'src/deep/b.txt']);
    await expect(files.rename({ from: 'new/dir/a.txt', to: 'escape/stolen' })).rejects.toMatchObject({
      code: 'PATH_REFUSED',
    });
    await expect(files.rename({ from: 'secret-link', to: 'x' })).rejects.toMatchObject({ code: 'PATH_REFUSED' });
  });
});
