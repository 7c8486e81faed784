import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  AGENT_CHECKPOINTS_PATH,
  AppError,
  type CheckpointManifest,
  checkpointManifestSchema,
  EGRESS_SANDBOX_HEADER,
  MISSING_BLOBS_BATCH,
} from '@rclaude/protocol';
import fc from 'fast-check';
import { pino } from 'pino';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Checkpointer } from './checkpointer.js';
import { claudeProjectDir, encodeProjectPath } from './claude-folder.js';
import { ALWAYS_EXCLUDED } from './ignore-policy.js';
import { packCheckpoint } from './pack.js';
import { CheckpointClient } from './proxy-client.js';
import { restoreCheckpoint, validateManifest } from './restore.js';
import { HashCache } from './scan.js';

const log = pino({ level: 'silent' });
const SANDBOX = 'sb_test';
const KEY = 'egress-key-for-tests';

/**
 * The proxy's five checkpoint routes, in memory, on loopback: as strict as the real ones about hashes and sizes,
 * and recording what each request carried.
 */
async function startStubProxy() {
  const blobs = new Map<string, Buffer>();
  const manifests = new Map<string, Buffer>();
  const uploads: string[][] = [];
  const missingAsked: number[] = [];
  const server = http.createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      const status = err instanceof AppError ? err.status : 500;
      const info = err instanceof AppError ? err.toInfo() : { code: 'INTERNAL', message: String(err) };
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: info }));
      req.resume();
    });
  });
  async function body(req: http.IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
    return Buffer.concat(chunks);
  }
  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.headers[EGRESS_SANDBOX_HEADER] !== SANDBOX || req.headers.authorization !== `Bearer ${KEY}`) {
      throw new AppError('UNAUTHENTICATED', 'egress key refused');
    }
    const url = req.url ?? '';
    if (!url.startsWith(`${AGENT_CHECKPOINTS_PATH}/`)) throw new AppError('NOT_FOUND', 'no route');
    const [cp = '', what = ''] = url.slice(AGENT_CHECKPOINTS_PATH.length + 1).split('/');
    const route = `${req.method} ${what}`;
    const json = (v: unknown): void => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(v));
    };
    if (route === 'POST missing') {
      const { hashes } = JSON.parse((await body(req)).toString()) as { hashes: string[] };
      if (hashes.length > MISSING_BLOBS_BATCH) throw new AppError('BAD_REQUEST', 'too many');
      missingAsked.push(hashes.length);
      return json({ missing: hashes.filter((h) => !blobs.has(h)) });
    }
    if (route === 'PUT blobs') {
      const names: string[] = [];
      let bytes = 0;
      const extract = tar.extract();
      req.pipe(extract);
      for await (const entry of extract) {
        const chunks: Buffer[] = [];
        for await (const c of entry as AsyncIterable<Buffer>) chunks.push(c);
        const data = Buffer.concat(chunks);
        if (createHash('sha256').update(data).digest('hex') !== entry.header.name) {
          throw new AppError('CHECKPOINT_CORRUPT', `blob ${entry.header.name} refused`);
        }
        blobs.set(entry.header.name, data);
        names.push(entry.header.name);
        bytes += data.length;
      }
      uploads.push(names);
      return json({ blobs: names.length, bytes });
    }
    if (route === 'PUT manifest') {
      let raw = await body(req);
      if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
      const manifest = checkpointManifestSchema.parse(JSON.parse(raw.toString()));
      for (const e of manifest.entries) {
        if (e.type === 'file' && !blobs.has(e.hash)) throw new AppError('CHECKPOINT_CORRUPT', 'blob not uploaded');
      }
      manifests.set(cp, raw);
      return json({ id: cp });
    }
    if (route === 'GET manifest') {
      const raw = manifests.get(cp);
      if (!raw) throw new AppError('NOT_FOUND', 'no such checkpoint');
      res.writeHead(200, { 'content-type': 'application/json' }).end(raw);
      return;
    }
    if (route === 'GET blobs') {
      const raw = manifests.get(cp);
      if (!raw) throw new AppError('NOT_FOUND', 'no such checkpoint');
      const m = JSON.parse(raw.toString()) as CheckpointManifest;
      const pack = tar.pack();
      res.writeHead(200, { 'content-type': 'application/x-tar' });
      pack.pipe(res);
      const sent = new Set<string>();
      for (const e of m.entries) {
        if (e.type !== 'file' || sent.has(e.hash)) continue;
        sent.add(e.hash);
        const data = blobs.get(e.hash);
        if (data) pack.entry({ name: e.hash, size: data.length, type: 'file' }, data);
      }
      pack.finalize();
      return;
    }
    throw new AppError('NOT_FOUND', 'no route');
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    blobs,
    manifests,
    uploads,
    missingAsked,
    client: new CheckpointClient({ proxyUrl: url, sandboxId: SANDBOX, key: () => KEY }),
    manifest: (cp: string) => JSON.parse(manifests.get(cp)?.toString() ?? 'null') as CheckpointManifest,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type Stub = Awaited<ReturnType<typeof startStubProxy>>;

let tmp: string;
let stub: Stub;

beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'rclaude-cp-'));
  stub = await startStubProxy();
});

afterEach(async () => {
  await stub.close();
  await fs.rm(tmp, { recursive: true, force: true });
});

/** A workspace with every kind of entry a checkpoint must handle, and a Claude conversation folder. */
async function makeWorkspace(root: string, claudeDir: string): Promise<void> {
  await fs.mkdir(path.join(root, 'src/deep/er'), { recursive: true });
  await fs.writeFile(path.join(root, 'README.md'), '# hello\n');
  await fs.writeFile(path.join(root, 'empty.txt'), '');
  await fs.writeFile(path.join(root, 'src/deep/er/data.bin'), Buffer.alloc(3 * 1024 * 1024 + 17, 7));
  await fs.writeFile(path.join(root, 'src/copy-a.txt'), 'same bytes');
  await fs.writeFile(path.join(root, 'src/copy-b.txt'), 'same bytes');
  await fs.writeFile(path.join(root, 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  await fs.chmod(path.join(root, 'run.sh'), 0o755);
  await fs.mkdir(path.join(root, 'private'), { mode: 0o700 });
  await fs.chmod(path.join(root, 'private'), 0o700);
  await fs.writeFile(path.join(root, 'private/secret'), 's', { mode: 0o600 });
  await fs.chmod(path.join(root, 'private/secret'), 0o600);
  await fs.symlink('README.md', path.join(root, 'link-in'));
  await fs.symlink('/etc/passwd', path.join(root, 'link-out'));
  await fs.symlink('../../outside', path.join(root, 'src/escape'));
  await fs.mkdir(path.join(root, 'node_modules/left-pad'), { recursive: true });
  await fs.writeFile(path.join(root, 'node_modules/left-pad/index.js'), 'x'.repeat(1000));
  await fs.mkdir(path.join(root, 'src/node_modules'), { recursive: true });
  await fs.writeFile(path.join(root, 'src/node_modules/y.js'), 'y'.repeat(24));
  await fs.writeFile(path.join(root, 'package-lock.json'), '{"lockfileVersion":3}');
  await fs.mkdir(path.join(root, 'target'), { recursive: true });
  await fs.writeFile(path.join(root, 'target/kept.txt'), 'not a Cargo project, so kept');
  await fs.mkdir(path.join(root, '.git/objects'), { recursive: true });
  await fs.writeFile(path.join(root, '.git/HEAD'), 'ref: refs/heads/main\n');
  execFileSync('mkfifo', [path.join(root, 'a-fifo')]);
  await fs.mkdir(claudeDir, { recursive: true });
  await fs.writeFile(path.join(claudeDir, 'older-session.jsonl'), '{"a":1}\n');
  const past = new Date(Date.now() - 60_000);
  await fs.utimes(path.join(claudeDir, 'older-session.jsonl'), past, past);
  await fs.writeFile(path.join(claudeDir, '0b6c2a4e-1111-4222-8333-944455556666.jsonl'), '{"b":2}\n');
}

async function treeOf(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(dir: string, rel: string): Promise<void> {
    for (const name of (await fs.readdir(dir)).sort()) {
      const abs = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = await fs.lstat(abs);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out[r] = `dir ${mode}`;
        await walk(abs, r);
      } else if (st.isSymbolicLink()) out[r] = `link -> ${await fs.readlink(abs)}`;
      else if (st.isFile()) {
        const sha = createHash('sha256')
          .update(await fs.readFile(abs))
          .digest('hex');
        out[r] = `file ${mode} ${st.size} ${sha.slice(0, 16)}`;
      } else out[r] = 'special';
    }
  }
  await walk(root, '');
  return out;
}

function expectCode(err: unknown, code: string): void {
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).code).toBe(code);
}

describe('claude folder', () => {
  it('encodes the workspace path as Claude Code does: every non-alphanumeric character becomes -', async () => {
    expect(encodeProjectPath('/home/user/my_app.v2')).toBe('-home-user-my-app-v2');
    const ws = path.join(tmp, 'ws');
    await fs.mkdir(ws);
    await fs.symlink(ws, path.join(tmp, 'alias'));
    // Claude Code's cwd is the real path: a symlinked spelling leads to the same folder.
    const real = await fs.realpath(ws);
    expect(await claudeProjectDir('/h', path.join(tmp, 'alias'))).toBe(
      path.join('/h/.claude/projects', encodeProjectPath(real)),
    );
  });
});

describe('pack and restore', () => {
  it('round-trips files, empty files, folders, modes and links; leaves out node_modules, FIFOs; keeps .git', async () => {
    const ws = path.join(tmp, 'ws');
    const claude = path.join(tmp, 'home/.claude/projects/-ws');
    await fs.mkdir(ws);
    await makeWorkspace(ws, claude);
    const packed = await packCheckpoint({
      checkpointId: 'cp_aaaaaaaa',
      workspace: ws,
      claudeDir: claude,
      client: stub.client,
      cache: new HashCache(),
      log,
    });
    const m = stub.manifest('cp_aaaaaaaa');
    const paths = m.entries.map((e) => `${e.root}:${e.path}`);
    expect(paths).toContain('workspace:.git/HEAD');
    expect(paths).toContain('workspace:.git/objects');
    expect(paths).toContain('workspace:package-lock.json');
    expect(paths).toContain('workspace:target/kept.txt');
    expect(paths.some((p) => p.includes('node_modules'))).toBe(false);
    expect(paths.some((p) => p.includes('a-fifo'))).toBe(false);
    expect(m.excluded).toContainEqual({ name: 'node_modules', dirs: 2, bytes: 1024 });
    expect(m.excluded.some((x) => x.name.startsWith('special files (1)'))).toBe(true);
    // Parents before children.
    const index = new Map(paths.map((p, i) => [p, i]));
    for (const [p, i] of index) {
      const parent = p.slice(0, p.lastIndexOf('/'));
      if (p.includes('/')) expect(index.get(parent)).toBeLessThan(i);
    }
    expect(m.entries.find((e) => e.path === 'link-out')).toEqual({
      type: 'symlink',
      root: 'workspace',
      path: 'link-out',
      target: '/etc/passwd',
    });
    expect(m.claudeSessionId).toBe('0b6c2a4e-1111-4222-8333-944455556666');
    expect(packed.claudeSessionId).toBe('0b6c2a4e-1111-4222-8333-944455556666');
    // copy-a and copy-b share one blob; everything is uploaded once.
    const distinct = new Set(m.entries.flatMap((e) => (e.type === 'file' ? [e.hash] : [])));
    expect(packed.uploadedBlobs).toBe(distinct.size);
    expect(stub.uploads).toHaveLength(1);
    expect(packed.files).toBe(m.entries.filter((e) => e.type === 'file').length);

    const ws2 = path.join(tmp, 'restored/ws-elsewhere');
    const claude2 = path.join(tmp, 'home2/.claude/projects/-restored-ws-elsewhere');
    const restored = await restoreCheckpoint({
      checkpointId: 'cp_aaaaaaaa',
      workspace: ws2,
      claudeDir: claude2,
      client: stub.client,
      log,
    });
    expect(restored.mismatches).toEqual([]);
    expect(restored.files).toBe(packed.files);
    expect(restored.bytes).toBe(packed.bytes);
    expect(restored.symlinks).toBe(3);
    expect(restored.claudeSessionId).toBe('0b6c2a4e-1111-4222-8333-944455556666');

    const before = await treeOf(ws);
    delete before['a-fifo'];
    for (const k of Object.keys(before)) if (k.includes('node_modules')) delete before[k];
    expect(await treeOf(ws2)).toEqual(before);
    expect(await treeOf(claude2)).toEqual(await treeOf(claude));
    expect((await fs.stat(path.join(ws2, 'run.sh'))).mode & 0o777).toBe(0o755);
    expect(await fs.readlink(path.join(ws2, 'link-out'))).toBe('/etc/passwd');
    // No staging folder or temporary file is left behind.
    expect((await fs.readdir(path.dirname(ws2))).filter((n) => n.startsWith('.rclaude'))).toEqual([]);
  });

  it('uploads only the blobs that changed on a second checkpoint, and re-reads only changed files', async () => {
    const ws = path.join(tmp, 'ws');
    await fs.mkdir(path.join(ws, 'a'), { recursive: true });
    for (let i = 0; i < 50; i++) await fs.writeFile(path.join(ws, 'a', `f${i}.txt`), `file ${i}`);
    const cache = new HashCache();
    const claude = path.join(tmp, 'no-claude');
    const first = await packCheckpoint({
      checkpointId: 'cp_first000',
      workspace: ws,
      claudeDir: claude,
      client: stub.client,
      cache,
      log,
    });
    expect(first.uploadedBlobs).toBe(50);
    expect(first.claudeSessionId).toBeNull();
    await fs.writeFile(path.join(ws, 'a', 'f7.txt'), 'changed!');
    await fs.writeFile(path.join(ws, 'new.txt'), 'new');
    const second = await packCheckpoint({
      checkpointId: 'cp_second00',
      workspace: ws,
      claudeDir: claude,
      client: stub.client,
      cache,
      log,
    });
    expect(second.uploadedBlobs).toBe(2);
    expect(second.files).toBe(51);
    expect(stub.uploads.at(-1)?.length).toBe(2);
    const third = await packCheckpoint({
      checkpointId: 'cp_third000',
      workspace: ws,
      claudeDir: claude,
      client: stub.client,
      cache,
      log,
    });
    expect(third.uploadedBlobs).toBe(0);
    // Nothing to upload: no PUT blobs at all.
    expect(stub.uploads).toHaveLength(2);
    expect(stub.manifests.has('cp_third000')).toBe(true);
  });

  it('reuses cached hashes: a file rewritten with the same size and mtime is not re-read within the racy window', async () => {
    const ws = path.join(tmp, 'ws');
    await fs.mkdir(ws);
    const f = path.join(ws, 'x.txt');
    await fs.writeFile(f, 'aaaa');
    const old = new Date(Date.now() - 3600_000);
    await fs.utimes(f, old, old);
    const cache = new HashCache();
    const claude = path.join(tmp, 'nc');
    await packCheckpoint({
      checkpointId: 'cp_cache001',
      workspace: ws,
      claudeDir: claude,
      client: stub.client,
      cache,
      log,
    });
    expect(cache.size).toBe(1);
    // A recently modified file is hashed but not cached.
    await fs.writeFile(path.join(ws, 'fresh.txt'), 'b');
    await packCheckpoint({
      checkpointId: 'cp_cache002',
      workspace: ws,
      claudeDir: claude,
      client: stub.client,
      cache,
      log,
    });
    expect(cache.size).toBe(1);
  });

  it('re-hashes and uploads the real bytes when a file is not what it was hashed as (changed under the upload)', async () => {
    const ws = path.join(tmp, 'ws');
    await fs.mkdir(ws);
    const f = path.join(ws, 'x.txt');
    await fs.writeFile(f, 'real bytes');
    const cache = new HashCache();
    // As if the file had been hashed with other bytes and then changed keeping its size and times.
    cache.set(
      HashCache.key(await fs.lstat(f, { bigint: true })),
      createHash('sha256').update('fake bytes').digest('hex'),
    );
    const r = await packCheckpoint({
      checkpointId: 'cp_changed0',
      workspace: ws,
      claudeDir: path.join(tmp, 'nc'),
      client: stub.client,
      cache,
      log,
    });
    expect(r.uploadedBlobs).toBe(1);
    const entry = stub.manifest('cp_changed0').entries.find((e) => e.path === 'x.txt');
    expect(entry?.type === 'file' && entry.hash).toBe(createHash('sha256').update('real bytes').digest('hex'));
    expect(stub.uploads).toHaveLength(1);
  });

  it('asks about missing blobs in batches of MISSING_BLOBS_BATCH', async () => {
    const ws = path.join(tmp, 'ws');
    await fs.mkdir(ws);
    await Promise.all(
      Array.from({ length: MISSING_BLOBS_BATCH + 5 }, (_, i) => fs.writeFile(path.join(ws, `f${i}`), String(i))),
    );
    const r = await packCheckpoint({
      checkpointId: 'cp_batches0',
      workspace: ws,
      claudeDir: path.join(tmp, 'nc'),
      client: stub.client,
      cache: new HashCache(),
      log,
    });
    expect(stub.missingAsked).toEqual([MISSING_BLOBS_BATCH, 5]);
    expect(r.uploadedBlobs).toBe(MISSING_BLOBS_BATCH + 5);
  });

  it('refuses a corrupt blob with CHECKPOINT_CORRUPT before touching the workspace', async () => {
    const ws = path.join(tmp, 'ws');
    await fs.mkdir(ws);
    await fs.writeFile(path.join(ws, 'a.txt'), 'the real bytes');
    await fs.writeFile(path.join(ws, 'b.txt'), 'other bytes');
    await packCheckpoint({
      checkpointId: 'cp_corrupt0',
      workspace: ws,
      claudeDir: path.join(tmp, 'nc'),
      client: stub.client,
      cache: new HashCache(),
      log,
    });
    const m = stub.manifest('cp_corrupt0');
    const a = m.entries.find((e) => e.path === 'a.txt');
    if (a?.type !== 'file') throw new Error('no a.txt');
    stub.blobs.set(a.hash, Buffer.from('the fake bytes'));

    const target = path.join(tmp, 'target');
    await fs.mkdir(target);
    await fs.writeFile(path.join(target, 'b.txt'), 'what was there');
    const err = await restoreCheckpoint({
      checkpointId: 'cp_corrupt0',
      workspace: target,
      claudeDir: path.join(tmp, 'nc2'),
      client: stub.client,
      log,
    }).catch((e: unknown) => e);
    expectCode(err, 'CHECKPOINT_CORRUPT');
    expect(await fs.readdir(target)).toEqual(['b.txt']);
    expect(await fs.readFile(path.join(target, 'b.txt'), 'utf8')).toBe('what was there');
    expect((await fs.readdir(tmp)).filter((n) => n.startsWith('.rclaude'))).toEqual([]);

    // A blob that never comes is as bad.
    stub.blobs.delete(a.hash);
    const err2 = await restoreCheckpoint({
      checkpointId: 'cp_corrupt0',
      workspace: target,
      claudeDir: path.join(tmp, 'nc2'),
      client: stub.client,
      log,
    }).catch((e: unknown) => e);
    expectCode(err2, 'CHECKPOINT_CORRUPT');
    expect(await fs.readdir(target)).toEqual(['b.txt']);
  });

  it('overwrites what the manifest names in a non-empty workspace, replaces links in the way, keeps the rest', async () => {
    const ws = path.join(tmp, 'ws');
    await fs.mkdir(path.join(ws, 'dir'), { recursive: true });
    await fs.writeFile(path.join(ws, 'dir/f.txt'), 'from checkpoint');
    await fs.writeFile(path.join(ws, 'top.txt'), 'top');
    await packCheckpoint({
      checkpointId: 'cp_overwr00',
      workspace: ws,
      claudeDir: path.join(tmp, 'nc'),
      client: stub.client,
      cache: new HashCache(),
      log,
    });

    const target = path.join(tmp, 'target');
    const victim = path.join(tmp, 'victim');
    await fs.mkdir(victim);
    await fs.mkdir(target);
    await fs.writeFile(path.join(target, 'other.txt'), 'mine');
    // A link where the checkpoint has a folder, and one where it has a file: neither may be written through.
    await fs.symlink(victim, path.join(target, 'dir'));
    await fs.writeFile(path.join(victim, 'top-target'), 'victim file');
    await fs.symlink(path.join(victim, 'top-target'), path.join(target, 'top.txt'));
    const r = await restoreCheckpoint({
      checkpointId: 'cp_overwr00',
      workspace: target,
      claudeDir: path.join(tmp, 'nc2'),
      client: stub.client,
      log,
    });
    expect(r.mismatches).toEqual([]);
    expect(await fs.readdir(victim)).toEqual(['top-target']);
    expect(await fs.readFile(path.join(victim, 'top-target'), 'utf8')).toBe('victim file');
    expect((await fs.lstat(path.join(target, 'dir'))).isDirectory()).toBe(true);
    expect(await fs.readFile(path.join(target, 'dir/f.txt'), 'utf8')).toBe('from checkpoint');
    expect((await fs.lstat(path.join(target, 'top.txt'))).isFile()).toBe(true);
    expect(await fs.readFile(path.join(target, 'other.txt'), 'utf8')).toBe('mine');
  });
});

describe('round trip, as a property', () => {
  /** A file or folder name: any text a Linux file system takes (spaces, unicode), but no excluded cache name. */
  const segment = fc
    .oneof(fc.stringMatching(/^[a-zA-Z0-9 ._-]{1,12}$/), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }))
    .filter(
      (s) =>
        !/[/\\\u0000]/.test(s) &&
        s !== '.' &&
        s !== '..' &&
        !ALWAYS_EXCLUDED.has(s) &&
        !['target', '.venv', 'venv'].includes(s) &&
        Buffer.byteLength(s) <= 255,
    );
  const node = fc.oneof(
    fc.record({
      kind: fc.constant('file' as const),
      // Mostly small, some empty, now and then a large binary one.
      data: fc.oneof(
        { weight: 6, arbitrary: fc.uint8Array({ maxLength: 3000 }) },
        { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) },
        { weight: 1, arbitrary: fc.integer({ min: 1, max: 255 }).map((b) => new Uint8Array(600_000).fill(b)) },
      ),
      mode: fc.constantFrom(0o644, 0o755, 0o600, 0o444),
    }),
    fc.record({
      kind: fc.constant('link' as const),
      target: fc.string({ minLength: 1, maxLength: 40 }).filter((t) => !t.includes('\u0000')),
    }),
    fc.record({ kind: fc.constant('dir' as const), mode: fc.constantFrom(0o755, 0o700, 0o750) }),
  );
  const trees = fc.uniqueArray(fc.tuple(fc.array(segment, { minLength: 1, maxLength: 3 }), node), {
    selector: ([segments]) => segments.join('/'),
    minLength: 1,
    maxLength: 25,
  });

  /** Makes the tree; an entry whose parent is already a file or a link is left out. Returns what it made. */
  async function build(root: string, tree: [string[], { kind: string }][]): Promise<void> {
    const ordered = [...tree].sort((a, b) => a[0].length - b[0].length);
    for (const [segments, n] of ordered) {
      const abs = path.join(root, ...segments);
      try {
        await fs.mkdir(path.dirname(abs), { recursive: true });
        await fs.lstat(abs).then(
          () => {
            throw new Error('exists');
          },
          () => undefined,
        );
      } catch {
        continue; // a parent is not a folder, or the path was made as a parent already
      }
      const made = n as
        | { kind: 'file'; data: Uint8Array; mode: number }
        | { kind: 'link'; target: string }
        | { kind: 'dir'; mode: number };
      if (made.kind === 'file') {
        await fs.writeFile(abs, made.data);
        await fs.chmod(abs, made.mode);
      } else if (made.kind === 'link') await fs.symlink(made.target, abs);
      else {
        await fs.mkdir(abs);
        await fs.chmod(abs, made.mode);
      }
    }
  }

  it('brings back random trees exactly: names with spaces and unicode, modes, empty folders and files, links, large binaries', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(trees, async (tree) => {
        run++;
        const ws = path.join(tmp, `prop-${run}/ws`);
        await fs.mkdir(ws, { recursive: true });
        await build(ws, tree);
        const id = `cp_prop${String(run).padStart(5, '0')}`;
        const packed = await packCheckpoint({
          checkpointId: id,
          workspace: ws,
          claudeDir: path.join(tmp, `prop-${run}/no-claude`),
          client: stub.client,
          cache: new HashCache(),
          log,
        });
        const back = path.join(tmp, `prop-${run}/back`);
        const restored = await restoreCheckpoint({
          checkpointId: id,
          workspace: back,
          claudeDir: path.join(tmp, `prop-${run}/claude-back`),
          client: stub.client,
          log,
        });
        expect(restored.mismatches).toEqual([]);
        expect(restored.files).toBe(packed.files);
        expect(await treeOf(back)).toEqual(await treeOf(ws));
      }),
      { numRuns: 25 },
    );
  });
});

describe('hostile manifests', () => {
  const base = { format: 1, createdAt: 'x', workspace: '/w', excluded: [], claudeSessionId: null };
  const hash = createHash('sha256').update('x').digest('hex');

  it.each([
    ['a path with ..', [{ type: 'file', root: 'workspace', path: '../x', mode: 0o644, size: 1, hash }]],
    ['an absolute path', [{ type: 'file', root: 'workspace', path: '/etc/x', mode: 0o644, size: 1, hash }]],
    [
      'an entry under a symlink',
      [
        { type: 'symlink', root: 'workspace', path: 'l', target: '/etc' },
        { type: 'file', root: 'workspace', path: 'l/passwd', mode: 0o644, size: 1, hash },
      ],
    ],
    ['an entry before its folder', [{ type: 'file', root: 'workspace', path: 'd/f', mode: 0o644, size: 1, hash }]],
    [
      'a path twice',
      [
        { type: 'dir', root: 'workspace', path: 'd', mode: 0o755 },
        { type: 'symlink', root: 'workspace', path: 'd', target: '/' },
      ],
    ],
    ['an unknown root', [{ type: 'dir', root: 'home', path: 'd', mode: 0o755 }]],
  ])('refuses %s', (_name, entries) => {
    let err: unknown;
    try {
      validateManifest({ ...base, entries });
    } catch (e) {
      err = e;
    }
    expectCode(err, 'CHECKPOINT_CORRUPT');
  });

  it('refuses a hostile manifest from the proxy without writing anything', async () => {
    const outside = path.join(tmp, 'outside');
    const target = path.join(tmp, 'target');
    await fs.mkdir(target);
    stub.manifests.set(
      'cp_hostile0',
      Buffer.from(
        JSON.stringify({
          ...base,
          entries: [
            { type: 'symlink', root: 'workspace', path: 'l', target: outside },
            { type: 'file', root: 'workspace', path: 'l/pwned', mode: 0o644, size: 1, hash },
          ],
        }),
      ),
    );
    stub.blobs.set(hash, Buffer.from('x'));
    const err = await restoreCheckpoint({
      checkpointId: 'cp_hostile0',
      workspace: target,
      claudeDir: path.join(tmp, 'nc'),
      client: stub.client,
      log,
    }).catch((e: unknown) => e);
    expectCode(err, 'CHECKPOINT_CORRUPT');
    expect(await fs.readdir(target)).toEqual([]);
    await expect(fs.access(outside)).rejects.toThrow();
  });
});

describe('errors and the Checkpointer', () => {
  it('reports the proxy refusing with CHECKPOINT_FAILED, its status and reason', async () => {
    const ws = path.join(tmp, 'ws');
    await fs.mkdir(ws);
    await fs.writeFile(path.join(ws, 'f'), 'x');
    const client = new CheckpointClient({ proxyUrl: stub.url, sandboxId: SANDBOX, key: () => 'wrong' });
    const err = await packCheckpoint({
      checkpointId: 'cp_refused0',
      workspace: ws,
      claudeDir: path.join(tmp, 'nc'),
      client,
      cache: new HashCache(),
      log,
    }).catch((e: unknown) => e);
    expectCode(err, 'CHECKPOINT_FAILED');
    expect((err as Error).message).toMatch(/401.*egress key refused/);
    const noKey = new CheckpointClient({ proxyUrl: stub.url, sandboxId: SANDBOX, key: () => null });
    const err2 = await noKey.missing('cp_refused0', []).catch((e: unknown) => e);
    expectCode(err2, 'CHECKPOINT_FAILED');
  });

  it('runs one pack at a time; the same checkpoint asked twice is packed once', async () => {
    const ws = path.join(tmp, 'ws');
    const home = path.join(tmp, 'home');
    await fs.mkdir(ws);
    await fs.writeFile(path.join(ws, 'f'), 'x');
    const cp = new Checkpointer({ workspace: ws, home, client: stub.client, log });
    const [a, b, c] = await Promise.all([
      cp.create({ checkpointId: 'cp_same0000' }),
      cp.create({ checkpointId: 'cp_same0000' }),
      cp.create({ checkpointId: 'cp_other000' }),
    ]);
    expect(a).toBe(b);
    expect(c.uploadedBlobs).toBe(0);
    expect(stub.uploads).toHaveLength(1);
    expectCode(await cp.create({ checkpointId: '../x' }).catch((e: unknown) => e), 'BAD_REQUEST');
    // Restores into the Claude folder of its own workspace path.
    const claude = await claudeProjectDir(home, ws);
    await fs.mkdir(claude, { recursive: true });
    await fs.writeFile(path.join(claude, 'abc.jsonl'), '{}\n');
    await cp.create({ checkpointId: 'cp_withcla0' });
    const ws2 = path.join(tmp, 'ws2');
    const home2 = path.join(tmp, 'home2');
    const cp2 = new Checkpointer({ workspace: ws2, home: home2, client: stub.client, log });
    const r = await cp2.restore({ checkpointId: 'cp_withcla0' });
    expect(r.claudeSessionId).toBe('abc');
    expect(await fs.readFile(path.join(await claudeProjectDir(home2, ws2), 'abc.jsonl'), 'utf8')).toBe('{}\n');
  });
});
