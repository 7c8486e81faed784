import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../api.js';
import { SyncEngine, type SyncEvent } from './engine.js';
import { IgnoreRules } from './ignore.js';
import { SyncState } from './state.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const entry = (p: string, body: string) => ({
  path: p,
  type: 'file',
  size: body.length,
  mtimeMs: 1,
  sha256: sha(body),
  exec: false,
});

/**
 * A hostile sandbox, as the CLI sees it: a server whose manifest names paths out of the folder. The engine runs
 * against it through the real API client (a fetch that answers like the server would).
 */
describe('the sync engine against a hostile workspace', () => {
  let root: string;
  let dir: string;
  let outside: string;
  const downloads: string[] = [];

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-sync-engine-'));
    dir = path.join(root, 'dir');
    outside = path.join(root, 'outside');
    fs.mkdirSync(dir);
    fs.mkdirSync(outside);
    fs.symlinkSync(outside, path.join(dir, 'link'));
    downloads.length = 0;
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const files: Record<string, string> = {
    '../evil': 'x',
    '/etc/evil': 'x',
    'a/../../evil': 'x',
    'link/pwned': 'pwned',
    'esc\u001b]52;c;QQ==\u0007': 'x',
    'ok/fine.txt': 'fine',
    'trap/pwned': 'pwned',
  };

  const applied: string[] = [];
  const fakeFetch = async (input: string, init?: RequestInit): Promise<Response> => {
    const url = new URL(input);
    const json = (v: unknown) => new Response(JSON.stringify(v), { headers: { 'content-type': 'application/json' } });
    if (url.pathname.endsWith('/files/changes')) return json({ cursor: 1, changes: [], reset: true });
    if (url.pathname.endsWith('/files/manifest')) {
      // A link out of the folder, then a file "inside" it: the link is a link, the file never lands outside.
      const trap = {
        path: 'trap',
        type: 'link',
        size: 0,
        mtimeMs: 1,
        sha256: sha(outside),
        exec: false,
        target: outside,
      };
      const okDir = { ...entry('ok', ''), type: 'dir' };
      return json({ entries: [okDir, trap, ...Object.entries(files).map(([p, b]) => entry(p, b))] });
    }
    if (url.pathname.endsWith('/files/sync-apply')) {
      applied.push(JSON.parse(String(init?.body)).path);
      return json({ applied: true, entry: null });
    }
    if (url.pathname.endsWith('/files/download')) {
      const p = url.searchParams.get('path') as string;
      downloads.push(p);
      return new Response(files[p] ?? '', { headers: { 'content-type': 'application/octet-stream' } });
    }
    return json({ error: { code: 'NOT_FOUND', message: 'no' } });
  };

  it('refuses every path out of the folder, writes nothing outside, and still syncs the rest', async () => {
    const events: SyncEvent[] = [];
    const engine = new SyncEngine({
      api: new ApiClient('http://127.0.0.1:9', 'rcl_test', fakeFetch),
      taskId: 'abcdefghij',
      dir: fs.realpathSync(dir),
      state: SyncState.load(path.join(root, 'state.json'), 'abcdefghij', dir),
      rules: IgnoreRules.create(dir, []),
      report: (e) => events.push(e),
      progress: () => {},
    });
    await engine.reconcile();
    const refused = events.filter((e) => e.type === 'refused').map((e) => (e as { path: string }).path);
    expect(refused.sort()).toEqual(
      Object.keys(files)
        .filter((p) => p !== 'ok/fine.txt')
        .sort(),
    );
    expect(downloads).toEqual(['ok/fine.txt']);
    expect(fs.readFileSync(path.join(dir, 'ok/fine.txt'), 'utf8')).toBe('fine');
    expect(fs.readlinkSync(path.join(dir, 'trap'))).toBe(outside);
    expect(fs.readdirSync(outside)).toEqual([]);
    expect(fs.readdirSync(root).sort()).toEqual(['dir', 'outside', 'state.json']);
    // The local link (out of the folder too) goes to the workspace as a link: its text is data.
    expect(applied).toEqual(['link']);
    // ok (a folder), ok/fine.txt, trap (a link) came; link went.
    expect(events.at(-1)).toMatchObject({ type: 'ready', changes: 4 });
  });
});
