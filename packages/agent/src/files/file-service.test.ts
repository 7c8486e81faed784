import { execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppError } from '@rclaude/protocol';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileService, type FileService } from './file-service.js';

const SECRET = 'TOP SECRET outside the workspace';
const INSIDE = 'inside the workspace';
/** A folder only the outside has; seeing it in a listing means the listing escaped. */
const VICTIM = 'outside-only-victim';

let base: string;
let ws: string;
let outside: string;
let files: FileService;
let socketServer: Server;

/** Every file under `dir` with its contents, to prove nothing outside the workspace changed. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const full = join(entry.parentPath, entry.name);
    out[full] = entry.isFile() ? readFileSync(full, 'utf8') : entry.isDirectory() ? '<dir>' : '<other>';
  }
  return out;
}

async function refusal(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => new Error('expected a refusal, got success'),
    (e: unknown) => e,
  );
  if (!(err instanceof AppError)) throw err;
  return err;
}

beforeAll(async () => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'rclaude-files-')));
  ws = join(base, 'ws');
  outside = join(base, 'outside');
  mkdirSync(join(outside, VICTIM), { recursive: true });
  writeFileSync(join(outside, 'secret.txt'), SECRET);
  writeFileSync(join(outside, VICTIM, 'keep.txt'), SECRET);
  mkdirSync(join(ws, 'sub', 'deeper'), { recursive: true });
  writeFileSync(join(ws, 'hello.txt'), 'hello world');
  writeFileSync(join(ws, 'sub', 'inner.txt'), INSIDE);
  symlinkSync('sub/inner.txt', join(ws, 'link-in-file'));
  symlinkSync('sub', join(ws, 'link-in-dir'));
  symlinkSync(join(ws, 'sub', 'inner.txt'), join(ws, 'link-abs-in'));
  symlinkSync('../inner.txt', join(ws, 'sub', 'deeper', 'link-up-in'));
  symlinkSync('sub/new-target.txt', join(ws, 'link-dangling-in'));
  symlinkSync('../outside/secret.txt', join(ws, 'link-out-file'));
  symlinkSync(join(outside, 'secret.txt'), join(ws, 'link-out-abs'));
  symlinkSync('../outside', join(ws, 'link-out-dir'));
  symlinkSync('link-in-dir/../../outside', join(ws, 'link-chain-out'));
  symlinkSync('/dev/null', join(ws, 'link-dev-null'));
  symlinkSync('/', join(ws, 'link-fs-root'));
  symlinkSync('link-loop', join(ws, 'link-loop'));
  execFileSync('mkfifo', [join(ws, 'fifo')]);
  socketServer = createServer();
  await new Promise<void>((r) => socketServer.listen(join(ws, 'sock'), r));
  files = createFileService({ root: ws, maxReadBytes: 64, maxWriteBytes: 1024, maxListEntries: 1000 });
});

afterAll(async () => {
  await new Promise<void>((r) => socketServer.close(() => r()));
  rmSync(base, { recursive: true, force: true });
});

describe('file service: the happy paths', () => {
  it('lists a folder sorted by name, describing symlinks and special files without following them', async () => {
    const res = await files.list({ path: '' });
    expect(res.path).toBe('');
    const byName = Object.fromEntries(res.entries.map((e) => [e.name, e]));
    expect(res.entries.map((e) => e.name)).toEqual([...res.entries.map((e) => e.name)].sort());
    expect(byName['hello.txt']).toMatchObject({ path: 'hello.txt', type: 'file', size: 11 });
    expect(byName.sub).toMatchObject({ type: 'dir', size: 0 });
    expect(byName['link-out-dir']).toMatchObject({ type: 'symlink' });
    expect(byName.fifo).toMatchObject({ type: 'other' });
    expect(byName.sock).toMatchObject({ type: 'other' });
    expect(res.truncated).toBeUndefined();
  });

  it('lists a folder reached through a symlink that stays inside', async () => {
    const res = await files.list({ path: 'link-in-dir' });
    expect(res.entries.map((e) => e.path)).toEqual(['link-in-dir/deeper', 'link-in-dir/inner.txt']);
  });

  it('says when a listing was cut at maxListEntries', async () => {
    const small = createFileService({ root: ws, maxListEntries: 2 });
    const res = await small.list({ path: '' });
    expect(res.entries).toHaveLength(2);
    expect(res.truncated).toBe(true);
  });

  it('reads ranges and reports size and eof, capping one read at maxReadBytes', async () => {
    const all = await files.read({ path: 'hello.txt', offset: 0, length: 100 });
    expect(Buffer.from(all.data).toString()).toBe('hello world');
    expect(all).toMatchObject({ size: 11, eof: true });
    const mid = await files.read({ path: 'hello.txt', offset: 6, length: 3 });
    expect(Buffer.from(mid.data).toString()).toBe('wor');
    expect(mid.eof).toBe(false);
    const past = await files.read({ path: 'hello.txt', offset: 50, length: 3 });
    expect(past).toMatchObject({ size: 11, eof: true });
    expect(past.data.byteLength).toBe(0);
    writeFileSync(join(ws, 'big.bin'), Buffer.alloc(200, 7));
    const capped = await files.read({ path: 'big.bin', offset: 0, length: 200 });
    expect(capped.data.byteLength).toBe(64);
    expect(capped.eof).toBe(false);
  });

  it('reads through symlinks that stay inside (relative, absolute, and "../" within)', async () => {
    for (const path of ['link-in-file', 'link-abs-in', 'link-in-dir/inner.txt', 'sub/deeper/link-up-in']) {
      const res = await files.read({ path, offset: 0, length: 64 });
      expect(Buffer.from(res.data).toString(), path).toBe(INSIDE);
    }
  });

  it('stats files, folders, symlinks (not followed) and the root', async () => {
    expect(await files.stat({ path: 'hello.txt' })).toMatchObject({ name: 'hello.txt', type: 'file', size: 11 });
    expect(await files.stat({ path: 'link-out-file' })).toMatchObject({ name: 'link-out-file', type: 'symlink' });
    expect(await files.stat({ path: 'link-in-dir/inner.txt' })).toMatchObject({ path: 'link-in-dir/inner.txt' });
    expect(await files.stat({ path: '' })).toMatchObject({ name: '', path: '', type: 'dir' });
    expect((await refusal(files.stat({ path: 'nope' }))).code).toBe('NOT_FOUND');
  });

  it('writes with truncate then append, creating parent folders', async () => {
    const enc = new TextEncoder();
    expect(await files.write({ path: 'new/a/b.txt', data: enc.encode('one'), mode: 'truncate' })).toEqual({
      path: 'new/a/b.txt',
      size: 3,
    });
    expect(await files.write({ path: 'new/a/b.txt', data: enc.encode('two'), mode: 'append' })).toEqual({
      path: 'new/a/b.txt',
      size: 6,
    });
    expect(readFileSync(join(ws, 'new/a/b.txt'), 'utf8')).toBe('onetwo');
    await files.write({ path: './new//a/b.txt', data: enc.encode('3'), mode: 'truncate' });
    expect(readFileSync(join(ws, 'new/a/b.txt'), 'utf8')).toBe('3');
  });

  it('writes through a dangling symlink that points inside by creating its target', async () => {
    await files.write({ path: 'link-dangling-in', data: new TextEncoder().encode('made'), mode: 'truncate' });
    expect(readFileSync(join(ws, 'sub', 'new-target.txt'), 'utf8')).toBe('made');
  });

  it('treats a percent-encoded escape as a literal name, never decoding it', async () => {
    expect((await refusal(files.read({ path: '%2e%2e/outside/secret.txt', offset: 0, length: 10 }))).code).toBe(
      'NOT_FOUND',
    );
    await files.write({ path: '%2e%2e', data: new TextEncoder().encode('x'), mode: 'truncate' });
    expect(existsSync(join(ws, '%2e%2e'))).toBe(true);
  });

  it('deletes files, symlinks (not their targets) and folders, recursive only when asked', async () => {
    mkdirSync(join(ws, 'del/full/inner'), { recursive: true });
    writeFileSync(join(ws, 'del/full/inner/f.txt'), 'x');
    symlinkSync(join(outside, VICTIM), join(ws, 'del/full/inner/out-link'));
    symlinkSync(join(outside, 'secret.txt'), join(ws, 'del/out-file-link'));
    writeFileSync(join(ws, 'del/f.txt'), 'x');
    const before = snapshot(outside);
    expect(await files.delete({ path: 'del/f.txt', recursive: false })).toBeNull();
    expect(existsSync(join(ws, 'del/f.txt'))).toBe(false);
    await files.delete({ path: 'del/out-file-link', recursive: false });
    expect(existsSync(join(ws, 'del/out-file-link'))).toBe(false);
    expect((await refusal(files.delete({ path: 'del/full', recursive: false }))).code).toBe('CONFLICT');
    await files.delete({ path: 'del/full', recursive: true });
    expect(existsSync(join(ws, 'del/full'))).toBe(false);
    expect(snapshot(outside)).toEqual(before);
    expect((await refusal(files.delete({ path: 'del/missing', recursive: true }))).code).toBe('NOT_FOUND');
  });
});

describe('file service: what it refuses', () => {
  const escapes: [string, string][] = [
    ['../outside/secret.txt', 'PATH_REFUSED'],
    ['sub/../../outside/secret.txt', 'PATH_REFUSED'],
    ['/etc/passwd', 'PATH_REFUSED'],
    [`${'/'}${'..'}/etc/passwd`, 'PATH_REFUSED'],
    ['..\\outside\\secret.txt', 'PATH_REFUSED'],
    ['hello.txt\u0000.png', 'PATH_REFUSED'],
    ['link-out-file', 'PATH_REFUSED'],
    ['link-out-abs', 'PATH_REFUSED'],
    ['link-out-dir/secret.txt', 'PATH_REFUSED'],
    ['link-chain-out/secret.txt', 'PATH_REFUSED'],
    ['link-fs-root/etc/passwd', 'PATH_REFUSED'],
    ['link-dev-null', 'PATH_REFUSED'],
    ['link-loop', 'PATH_REFUSED'],
    ['fifo', 'PATH_REFUSED'],
    ['sock', 'PATH_REFUSED'],
    ['missing.txt', 'NOT_FOUND'],
    ['hello.txt/x', 'NOT_FOUND'],
    ['sub', 'BAD_REQUEST'],
  ];

  it.each(escapes)('read %j -> %s', async (path, code) => {
    const err = await refusal(files.read({ path, offset: 0, length: 64 }));
    expect(err.code).toBe(code);
    expect(err.message).not.toContain(base);
  });

  it.each(escapes.filter(([, code]) => code === 'PATH_REFUSED'))(
    'write %j -> refused, outside unchanged',
    async (path) => {
      const before = snapshot(outside);
      const err = await refusal(files.write({ path, data: new TextEncoder().encode('pwned'), mode: 'truncate' }));
      expect(err.code).toBe('PATH_REFUSED');
      expect(snapshot(outside)).toEqual(before);
    },
  );

  it('refuses to list through a symlink that points outside', async () => {
    expect((await refusal(files.list({ path: 'link-out-dir' }))).code).toBe('PATH_REFUSED');
    expect((await refusal(files.list({ path: 'link-fs-root' }))).code).toBe('PATH_REFUSED');
    expect((await refusal(files.list({ path: 'hello.txt' }))).code).toBe('BAD_REQUEST');
  });

  it('refuses writes into a folder that is a symlink out, without creating anything outside', async () => {
    const before = snapshot(outside);
    const err = await refusal(files.write({ path: 'link-out-dir/new/x.txt', data: new Uint8Array(1), mode: 'append' }));
    expect(err.code).toBe('PATH_REFUSED');
    expect(snapshot(outside)).toEqual(before);
  });

  it('refuses oversized writes, writes to the root or a folder, and deleting the root', async () => {
    expect((await refusal(files.write({ path: 'x.bin', data: new Uint8Array(1025), mode: 'truncate' }))).code).toBe(
      'PAYLOAD_TOO_LARGE',
    );
    expect(existsSync(join(ws, 'x.bin'))).toBe(false);
    expect((await refusal(files.write({ path: '', data: new Uint8Array(1), mode: 'truncate' }))).code).toBe(
      'BAD_REQUEST',
    );
    expect((await refusal(files.write({ path: 'sub', data: new Uint8Array(1), mode: 'truncate' }))).code).toBe(
      'CONFLICT',
    );
    expect((await refusal(files.write({ path: 'hello.txt/x', data: new Uint8Array(1), mode: 'truncate' }))).code).toBe(
      'CONFLICT',
    );
    expect((await refusal(files.delete({ path: '', recursive: true }))).code).toBe('PATH_REFUSED');
    expect((await refusal(files.delete({ path: '.', recursive: true }))).code).toBe('PATH_REFUSED');
    expect((await refusal(files.delete({ path: '../outside', recursive: true }))).code).toBe('PATH_REFUSED');
  });

  it('refuses device files without opening them (a workspace rooted at /dev)', async () => {
    const dev = createFileService({ root: '/dev' });
    for (const path of ['null', 'zero', 'urandom']) {
      const err = await refusal(dev.read({ path, offset: 0, length: 16 }));
      expect(err.code, path).toBe('PATH_REFUSED');
      expect(err.message).toContain('device file');
    }
    expect((await refusal(dev.write({ path: 'null', data: new Uint8Array(1), mode: 'append' }))).code).toBe(
      'PATH_REFUSED',
    );
  });

  it('refuses bad offsets and lengths when called directly', async () => {
    expect((await refusal(files.read({ path: 'hello.txt', offset: -1, length: 1 }))).code).toBe('BAD_REQUEST');
    expect((await refusal(files.read({ path: 'hello.txt', offset: 0, length: 0 }))).code).toBe('BAD_REQUEST');
  });

  it('will not start on a root that does not exist', () => {
    expect(() => createFileService({ root: join(base, 'no-such-dir') })).toThrow();
  });
});

describe('file service: arbitrary paths (property)', () => {
  const pieces = fc.constantFrom(
    '..',
    '.',
    '',
    '%2e%2e',
    '%2f',
    '\\',
    'sub',
    'deeper',
    'hello.txt',
    'link-in-dir',
    'link-out-dir',
    'link-out-file',
    'link-chain-out',
    'link-fs-root',
    'link-dev-null',
    'link-loop',
    'fifo',
    'sock',
    'secret.txt',
    'etc',
    'ü',
    'p',
  );
  const path = fc.oneof(
    fc.array(fc.oneof(pieces, fc.string({ maxLength: 4 })), { maxLength: 6 }).map((p) => p.join('/')),
    fc.string({ unit: 'grapheme', maxLength: 20 }),
  );

  it('every read, stat, list and write stays inside the root or is refused with a 4xx code', async () => {
    const before = snapshot(outside);
    const marker = new TextEncoder().encode('prop');
    await fc.assert(
      fc.asyncProperty(path, fc.constantFrom('read', 'stat', 'list', 'write'), async (p, op) => {
        try {
          if (op === 'read') {
            const res = await files.read({ path: p, offset: 0, length: 64 });
            expect(Buffer.from(res.data).toString()).not.toContain('SECRET');
          } else if (op === 'stat') await files.stat({ path: p });
          else if (op === 'list') {
            const res = await files.list({ path: p });
            for (const e of res.entries) expect(e.name).not.toBe(VICTIM);
          } else {
            await files.write({ path: p, data: marker, mode: 'truncate' });
            const back = await files.read({ path: p, offset: 0, length: 64 });
            expect(Buffer.from(back.data).toString()).toBe('prop');
          }
        } catch (err) {
          if (!(err instanceof AppError)) throw err;
          expect(['PATH_REFUSED', 'NOT_FOUND', 'BAD_REQUEST', 'CONFLICT']).toContain(err.code);
        }
      }),
      { numRuns: 600 },
    );
    expect(snapshot(outside)).toEqual(before);
  });
});

/**
 * Starts a child process that keeps swapping `target` between a real entry (a file, or a folder holding
 * secret.txt, with harmless contents) and a symlink to `outsideTarget`, by rename(2), at most `iterations`
 * times, recreating what a test deleted. Resolves once the first swap is done; the test kills it after.
 */
async function startSwapper(target: string, kind: 'file' | 'dir', outsideTarget: string, iterations: number) {
  const script = `
    const fs = require('node:fs');
    const path = require('node:path');
    const [target, kind, out, n, inside] = process.argv.slice(1);
    const real = target + '.real', link = target + '.link';
    const exists = (p) => { try { fs.lstatSync(p); return true; } catch { return false; } };
    const isLink = (p) => { try { return fs.lstatSync(p).isSymbolicLink(); } catch { return false; } };
    let announced = false;
    for (let i = 0; i < Number(n); i++) {
      try {
        fs.mkdirSync(path.dirname(target), { recursive: true });
        if (isLink(target)) fs.renameSync(target, link);
        if (!exists(target)) {
          if (!exists(real)) {
            if (kind === 'dir') { fs.mkdirSync(real); fs.writeFileSync(path.join(real, 'secret.txt'), inside); }
            else fs.writeFileSync(real, inside);
          }
          fs.renameSync(real, target);
        }
        fs.renameSync(target, real);
        if (!exists(link)) fs.symlinkSync(out, link);
        fs.renameSync(link, target);
        if (!announced) { process.stdout.write('ready\\n'); announced = true; }
      } catch {}
    }`;
  const child = spawn(process.execPath, ['-e', script, target, kind, outsideTarget, String(iterations), INSIDE], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', () => reject(new Error('swapper exited before its first swap')));
  });
  return {
    async stop() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

describe('file service: symlinks swapped in while it works (bounded loops)', () => {
  it('a file swapped for a symlink out never yields the outside contents', async () => {
    const swapper = await startSwapper(join(ws, 'race-file'), 'file', join(outside, 'secret.txt'), 2_000_000);
    const seen = new Set<string>();
    try {
      for (let i = 0; i < 1000; i++) {
        try {
          const res = await files.read({ path: 'race-file', offset: 0, length: 64 });
          const text = Buffer.from(res.data).toString();
          expect(text).not.toContain('SECRET');
          seen.add('ok');
        } catch (err) {
          if (!(err instanceof AppError)) throw err;
          expect(['PATH_REFUSED', 'NOT_FOUND']).toContain(err.code);
          seen.add(err.code);
        }
      }
    } finally {
      await swapper.stop();
    }
    expect(seen.size).toBeGreaterThan(0);
  });

  it('a folder swapped for a symlink out never yields outside contents nor gets written through', async () => {
    const before = snapshot(outside);
    const swapper = await startSwapper(join(ws, 'race-dir'), 'dir', outside, 2_000_000);
    try {
      for (let i = 0; i < 300; i++) {
        for (const op of ['read', 'write', 'list'] as const) {
          try {
            if (op === 'read') {
              const res = await files.read({ path: 'race-dir/secret.txt', offset: 0, length: 64 });
              expect(Buffer.from(res.data).toString()).not.toContain('SECRET');
            } else if (op === 'write') {
              await files.write({ path: `race-dir/w${i}.txt`, data: new Uint8Array([1]), mode: 'truncate' });
            } else {
              const res = await files.list({ path: 'race-dir' });
              for (const e of res.entries) expect(e.name).not.toBe(VICTIM);
            }
          } catch (err) {
            if (!(err instanceof AppError)) throw err;
            expect(
              ['PATH_REFUSED', 'NOT_FOUND', 'CONFLICT'],
              `${op}: ${err.message} ${String((err.cause as Error)?.stack)}`,
            ).toContain(err.code);
          }
        }
      }
    } finally {
      await swapper.stop();
    }
    expect(snapshot(outside)).toEqual(before);
  });

  it('a recursive delete racing a subfolder swapped for a symlink out deletes nothing outside', async () => {
    const before = snapshot(outside);
    const swapper = await startSwapper(join(ws, 'race-tree', 'sub'), 'dir', join(outside, VICTIM), 2_000_000);
    try {
      for (let i = 0; i < 150; i++) {
        mkdirSync(join(ws, 'race-tree', 'other'), { recursive: true });
        writeFileSync(join(ws, 'race-tree', 'other', 'f.txt'), 'x');
        try {
          await files.delete({ path: 'race-tree', recursive: true });
        } catch (err) {
          if (!(err instanceof AppError)) throw err;
          expect(['NOT_FOUND', 'CONFLICT', 'PATH_REFUSED']).toContain(err.code);
        }
      }
    } finally {
      await swapper.stop();
    }
    expect(snapshot(outside)).toEqual(before);
  });
});
