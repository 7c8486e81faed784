/**
 * `rclaude sync`, end to end: the real server (embedded storage), an agent in a bubblewrap sandbox, and the
 * real CLI through its linked bin. Reconciles with --once (conflicts, deletes, renames, 20 MB binaries both
 * ways, ignored node_modules, a symlink out of the workspace) and live (edits on both sides at once, echo
 * suppression, the task stopping).
 *
 * Runs from the built dist: `npx turbo run build` first.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApiClient } from '@rclaude/client';
import { AppError, type Task } from '@rclaude/protocol';
import { type RclaudeServer, rclaudeBin, runCli, startRclaudeServer, until } from '@rclaude/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let server: RclaudeServer;
let admin: ApiClient;
let task: Task;
let work: string;
const children: ChildProcessWithoutNullStreams[] = [];

const cli = (args: string[]) => runCli(args, { env: server.cliEnv(), timeoutMs: 180_000 });
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

async function exec(script: string): Promise<string> {
  const r = await cli(['exec', task.id, '--', 'sh', '-c', script]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

interface Ev {
  type: string;
  path?: string;
  remoteCopy?: string;
  size?: number;
  reason?: string;
}

async function syncOnce(...extra: string[]): Promise<Ev[]> {
  const r = await cli(['sync', task.id, work, '--once', '--json', ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Ev);
}

const local = (p: string) => path.join(work, p);

beforeAll(async () => {
  server = await startRclaudeServer({
    timeoutMs: 240_000,
    env: { ANTHROPIC_API_KEY: '', CLAUDE_CODE_OAUTH_TOKEN: '' },
  });
  admin = new ApiClient({ baseUrl: server.url, token: server.token });
  const r = await cli(['run', '--detach', '--json', '--', 'sh', '-c', 'while true; do sleep 1; done']);
  expect(r.code, r.stderr).toBe(0);
  task = JSON.parse(r.stdout) as Task;
  await until('the task to run', async () => ((await admin.getTask(task.id)).status === 'running' ? true : null));
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-sync-'));
}, 300_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await server?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('rclaude sync', () => {
  it('first sync: copies each side to the other, 20 MB binaries both ways intact, leaves out node_modules and symlinks', async () => {
    await exec(
      [
        'mkdir -p src node_modules/pkg',
        'printf remote-a > src/a.txt',
        'printf same > same.txt',
        'printf junk > node_modules/pkg/index.js',
        'head -c 20971520 /dev/urandom > remote.bin',
        'ln -s /etc escape',
        'printf "*.log\\n" > .gitignore',
      ].join(' && '),
    );
    fs.mkdirSync(local('node_modules/mine'), { recursive: true });
    fs.writeFileSync(local('node_modules/mine/x.js'), 'local junk');
    fs.writeFileSync(local('same.txt'), 'same');
    fs.writeFileSync(local('notes.log'), 'excluded');
    const big = randomBytes(20 * 1024 * 1024);
    fs.writeFileSync(local('local.bin'), big);

    const started = Date.now();
    const events = await syncOnce('--exclude', '*.log');
    const took = Date.now() - started;
    const by = (type: string) =>
      events
        .filter((e) => e.type === type)
        .map((e) => e.path)
        .sort();
    expect(by('download')).toEqual(['.gitignore', 'remote.bin', 'src/a.txt']);
    expect(by('upload')).toEqual(['local.bin']);
    expect(by('conflict')).toEqual([]);
    expect(events.at(-1)).toMatchObject({ type: 'ready', changes: 4 });
    console.log(`first sync of 2 x 20 MB and 2 small files: ${took} ms`);

    const remoteSums = await exec('sha256sum remote.bin local.bin');
    expect(remoteSums).toContain(`${sha(fs.readFileSync(local('remote.bin')))}  remote.bin`);
    expect(remoteSums).toContain(`${sha(big)}  local.bin`);
    expect(fs.readFileSync(local('src/a.txt'), 'utf8')).toBe('remote-a');
    expect(fs.existsSync(local('escape'))).toBe(false);
    expect(fs.existsSync(local('node_modules/pkg'))).toBe(false);
    expect(await exec('ls node_modules; ls notes.log 2>&1 || true')).not.toMatch(/mine|^notes\.log$/m);
    // Nothing of the transfers' temporary files is left on either side.
    expect(fs.readdirSync(work).filter((n) => n.startsWith('.rclaude-sync-'))).toEqual([]);
    expect(await exec('ls -a')).not.toContain('.rclaude-sync-');

    // A second pass finds nothing to do.
    expect((await syncOnce('--exclude', '*.log')).filter((e) => e.type !== 'ready')).toEqual([]);
  }, 300_000);

  it('a file edited on both sides keeps the local version and the remote one beside it, on both sides', async () => {
    fs.writeFileSync(local('src/a.txt'), 'local edit');
    await exec('printf "remote edit" > src/a.txt');
    const events = await syncOnce();
    const conflict = events.find((e) => e.type === 'conflict');
    expect(conflict).toMatchObject({ path: 'src/a.txt' });
    const copy = conflict?.remoteCopy as string;
    expect(copy).toBe(`src/a.remote-${sha('remote edit').slice(0, 8)}.txt`);
    expect(fs.readFileSync(local('src/a.txt'), 'utf8')).toBe('local edit');
    expect(fs.readFileSync(local(copy), 'utf8')).toBe('remote edit');
    expect(await exec(`cat src/a.txt; echo; cat ${copy}`)).toBe('local edit\nremote edit');
    expect((await syncOnce()).filter((e) => e.type !== 'ready')).toEqual([]);
  }, 180_000);

  it('deletes and renames travel both ways', async () => {
    fs.rmSync(local('same.txt'));
    fs.renameSync(local('src'), local('lib'));
    await exec('mkdir -p docs && mv remote.bin docs/moved.bin');
    const events = await syncOnce();
    const kinds = events.map((e) => `${e.type} ${e.path ?? ''}`);
    expect(kinds).toEqual(
      expect.arrayContaining([
        'delete-remote same.txt',
        'delete-remote src/a.txt',
        'upload lib/a.txt',
        'delete-local remote.bin',
        'download docs/moved.bin',
      ]),
    );
    expect(fs.existsSync(local('remote.bin'))).toBe(false);
    expect(fs.existsSync(local('docs/moved.bin'))).toBe(true);
    expect(fs.existsSync(local('src'))).toBe(false);
    const listing = await exec('find . -path ./node_modules -prune -o -type f -print | sort');
    expect(listing).toContain('./lib/a.txt');
    expect(listing).not.toContain('./same.txt');
    expect(listing).not.toContain('./src/a.txt');
  }, 180_000);

  it("another user's sync is refused like the file routes", async () => {
    const password = `pw-${randomBytes(8).toString('hex')}`;
    await admin.call('createUser', { body: { username: 'mallory', password } });
    const { token } = await new ApiClient({ baseUrl: server.url }).call('login', {
      body: { username: 'mallory', password },
    });
    const other = new ApiClient({ baseUrl: server.url, token });
    const err = await other.call('syncChanges', { params: { id: task.id }, query: { waitMs: 0 } }).catch((e) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('NOT_FOUND');
    const err2 = await other.call('syncManifest', { params: { id: task.id } }).catch((e) => e);
    expect((err2 as AppError).code).toBe('NOT_FOUND');
  });

  it('live: edits on both sides at once travel, a local write does not come back, and it exits when the task stops', async () => {
    const child = spawn(rclaudeBin(), ['sync', task.id, work, '--json'], {
      env: { ...process.env, ...server.cliEnv() },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.push(child);
    const events: Ev[] = [];
    let stderr = '';
    let buf = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        events.push(JSON.parse(buf.slice(0, i)) as Ev);
        buf = buf.slice(i + 1);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const saw = (type: string, p: string, ms = 60_000) =>
      until(
        `${type} ${p} (events: ${JSON.stringify(events)}, stderr: ${stderr})`,
        () => events.some((e) => e.type === type && e.path === p),
        ms,
      );
    await until(`ready (stderr: ${stderr})`, () => events.some((e) => e.type === 'ready'), 60_000);

    // Both sides edited at the same time, different files.
    fs.writeFileSync(local('from-laptop.txt'), 'laptop');
    await exec('printf sandbox > from-sandbox.txt');
    await saw('upload', 'from-laptop.txt');
    await saw('download', 'from-sandbox.txt');
    expect(fs.readFileSync(local('from-sandbox.txt'), 'utf8')).toBe('sandbox');
    expect(await exec('cat from-laptop.txt')).toBe('laptop');

    // Echo suppression: the upload of from-laptop.txt shows in the workspace's watcher too, but it never
    // comes back as a download; a later remote change (a marker) proves the remote side was heard after it.
    await exec('rm from-sandbox.txt && printf m > marker.txt');
    await saw('download', 'marker.txt');
    await saw('delete-local', 'from-sandbox.txt');
    expect(events.filter((e) => e.type === 'download' && e.path === 'from-laptop.txt')).toEqual([]);
    expect(events.filter((e) => e.type === 'upload' && e.path === 'from-sandbox.txt')).toEqual([]);
    expect(events.filter((e) => e.type === 'upload' && e.path === 'marker.txt')).toEqual([]);
    expect(fs.existsSync(local('from-sandbox.txt'))).toBe(false);

    // A local delete and a local rename.
    fs.renameSync(local('from-laptop.txt'), local('renamed.txt'));
    await saw('upload', 'renamed.txt');
    await saw('delete-remote', 'from-laptop.txt');
    expect(await exec('cat renamed.txt; ls from-laptop.txt 2>/dev/null || echo gone')).toBe('laptopgone\n');

    const r = await cli(['stop', task.id]);
    expect(r.code, r.stderr).toBe(0);
    const code = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('timeout'), 90_000))]);
    expect(code, stderr).toBe(0);
    expect(events.at(-1)).toMatchObject({ type: 'stopped' });
    expect(events.at(-1)?.reason).toMatch(/task .* is (stopped|stopping|hibernated|ended)/);
  }, 300_000);
});
