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
  kind?: string;
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

/** `rclaude sync ID DIR --json` running live, its events parsed as they come; resolves once it is ready. */
async function startLive() {
  const child = spawn(rclaudeBin(), ['sync', task.id, work, '--json'], {
    env: { ...process.env, ...server.cliEnv() },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(child);
  const events: Ev[] = [];
  let err = '';
  let buf = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      events.push(JSON.parse(buf.slice(0, i)) as Ev);
      buf = buf.slice(i + 1);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const stderr = () => err;
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const saw = (type: string, p: string, ms = 60_000) =>
    until(
      `${type} ${p} (events: ${JSON.stringify(events)}, stderr: ${err})`,
      () => events.some((e) => e.type === type && e.path === p),
      ms,
    );
  await until(`ready (stderr: ${err})`, () => events.some((e) => e.type === 'ready'), 60_000);
  return { child, events, exited, saw, stderr };
}

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
  it('first sync: copies each side to the other, 20 MB binaries both ways intact, a link as a link, leaves out node_modules', async () => {
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
    const by = (type: string, kind = 'file') =>
      events
        .filter((e) => e.type === type && (type === 'conflict' || e.kind === kind))
        .map((e) => e.path)
        .sort();
    expect(by('download')).toEqual(['.gitignore', 'remote.bin', 'src/a.txt']);
    expect(by('download', 'dir')).toEqual(['src']);
    expect(by('download', 'link')).toEqual(['escape']);
    expect(by('upload')).toEqual(['local.bin']);
    expect(by('conflict')).toEqual([]);
    expect(events.at(-1)).toMatchObject({ type: 'ready', changes: 6 });
    console.log(`first sync of 2 x 20 MB and 2 small files: ${took} ms`);

    const remoteSums = await exec('sha256sum remote.bin local.bin');
    expect(remoteSums).toContain(`${sha(fs.readFileSync(local('remote.bin')))}  remote.bin`);
    expect(remoteSums).toContain(`${sha(big)}  local.bin`);
    expect(fs.readFileSync(local('src/a.txt'), 'utf8')).toBe('remote-a');
    // A link out of the workspace is still a link: its text is data, never followed.
    expect(fs.lstatSync(local('escape')).isSymbolicLink()).toBe(true);
    expect(fs.readlinkSync(local('escape'))).toBe('/etc');
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

  it('links, the exec bit and empty folders travel both ways; no other mode bit does', async () => {
    fs.mkdirSync(local('empty-here/deeper'), { recursive: true });
    fs.symlinkSync('lib/a.txt', local('to-a'));
    fs.writeFileSync(local('run.sh'), '#!/bin/sh\necho hi\n');
    fs.chmodSync(local('run.sh'), 0o755);
    await exec('mkdir -p empty-there && ln -s /nowhere/at/all dangling && printf t > tool && chmod 6777 tool');
    await syncOnce();
    expect(await exec('stat -c "%A %n" run.sh empty-here/deeper; readlink to-a; ./run.sh')).toBe(
      '-rwxr-xr-x run.sh\ndrwxr-xr-x empty-here/deeper\nlib/a.txt\nhi\n',
    );
    expect(fs.statSync(local('empty-there')).isDirectory()).toBe(true);
    expect(fs.readlinkSync(local('dangling'))).toBe('/nowhere/at/all');
    // setuid, setgid and world-writable stay in the sandbox: only the exec bit came.
    expect(fs.statSync(local('tool')).mode & 0o7777).toBe(0o755);

    // Now the other way round: chmod on each side shows on the other; emptied folders go.
    fs.chmodSync(local('tool'), 0o644);
    await exec('chmod -x run.sh && rmdir empty-there && ln -sfn lib to-a');
    fs.rmSync(local('empty-here'), { recursive: true });
    const events = await syncOnce();
    expect(events.map((e) => `${e.type} ${e.kind ?? ''} ${e.path}`).sort()).toEqual(
      [
        'delete-local  empty-there',
        'delete-remote  empty-here',
        'delete-remote  empty-here/deeper',
        'download link to-a',
        'download mode run.sh',
        'ready  undefined',
        'upload mode tool',
      ].sort(),
    );
    expect(fs.statSync(local('run.sh')).mode & 0o777).toBe(0o644);
    expect(fs.readlinkSync(local('to-a'))).toBe('lib');
    expect(fs.existsSync(local('empty-there'))).toBe(false);
    expect(await exec('stat -c "%a" tool; ls -d empty-here 2>/dev/null || echo gone')).toBe('644\ngone\n');
    expect((await syncOnce()).filter((e) => e.type !== 'ready')).toEqual([]);
  }, 180_000);

  it('never writes through a link: not on the laptop when the sandbox turns a folder into a link out, not in the sandbox when the laptop writes below one', async () => {
    // The laptop side: the sandbox swaps a synced folder for a link to a laptop folder outside DIR.
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-sync-outside-'));
    try {
      await exec('mkdir -p keys && printf k > keys/authorized_keys');
      await syncOnce();
      expect(fs.readFileSync(local('keys/authorized_keys'), 'utf8')).toBe('k');
      await exec(`rm -rf keys && ln -s ${outside} keys`);
      fs.writeFileSync(local('keys/authorized_keys'), 'k');
      await syncOnce();
      expect(fs.readdirSync(outside)).toEqual([]);

      // The sandbox side: the laptop writes a/authorized_keys while the sandbox has made `a` a link to its
      // own ~/.ssh. The agent refuses the write; the laptop's file stays.
      fs.mkdirSync(local('a'));
      await syncOnce();
      await exec('mkdir -p "$HOME/.ssh-sbx" && rmdir a && ln -s "$HOME/.ssh-sbx" a');
      fs.writeFileSync(local('a/authorized_keys'), 'ssh-ed25519 AAAA attacker');
      const events = await cli(['sync', task.id, work, '--once', '--json']);
      expect(await exec('ls -A "$HOME/.ssh-sbx"; readlink a')).toMatch(/^\/.*\.ssh-sbx\n$/);
      expect(events.stdout).toMatch(/"type":"(refused|error)","path":"a(\/authorized_keys)?"/);
      expect(fs.readFileSync(local('a/authorized_keys'), 'utf8')).toBe('ssh-ed25519 AAAA attacker');
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
    // Leave both sides in step for what follows.
    fs.rmSync(local('a'), { recursive: true });
    fs.rmSync(local('keys'), { recursive: true, force: true });
    await exec('rm -rf a keys');
    await syncOnce();
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

  it('the edit race: both sides edit in tight loops during a live sync; every last edit survives and both sides converge', async () => {
    const live = await startLive();
    try {
      await editRace(live);
    } finally {
      live.child.kill('SIGINT');
    }
    expect(await live.exited).toBe(0);
  }, 300_000);

  async function editRace(live: Awaited<ReturnType<typeof startLive>>): Promise<void> {
    const N = 200;
    const last = (side: string) => `${side}-${N - 1}\n`;
    // The sandbox edits race.txt (which the laptop edits too) and its own file, N times each.
    const remoteLoop = exec(
      `i=0; while [ $i -lt ${N} ]; do printf "remote-$i\\n" > race.txt; printf "remote-$i\\n" > mine-remote.txt; i=$((i+1)); sleep 0.01; done`,
    );
    let remoteDone = false;
    void remoteLoop.then(() => {
      remoteDone = true;
    });
    // The laptop edits until the sandbox is done (at least N times), so its last edit is the later one.
    let i = 0;
    let sawRemoteLast = false;
    const started = Date.now();
    for (; i < N - 1 || !remoteDone; i += 1) {
      if (Date.now() - started > 60_000) throw new Error('the sandbox loop did not end within 60 s');
      fs.writeFileSync(local('race.txt'), `local-${i}\n`);
      fs.writeFileSync(local('mine-local.txt'), `local-${i}\n`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await remoteLoop;
    // Had the sandbox's last edit already arrived here, the laptop's last edit knowingly replaces it.
    sawRemoteLast = fs.readFileSync(local('race.txt'), 'utf8') === last('remote');
    fs.writeFileSync(local('race.txt'), last('local'));
    fs.writeFileSync(local('mine-local.txt'), last('local'));
    const editsEnded = Date.now();

    // Converged: the same files with the same bytes on both sides.
    const localFiles = () => {
      const out: string[] = [];
      const walk = (rel: string) => {
        for (const e of fs.readdirSync(path.join(work, rel), { withFileTypes: true })) {
          const p = rel === '' ? e.name : `${rel}/${e.name}`;
          if (e.name === 'node_modules') continue;
          if (e.isDirectory()) walk(p);
          else if (e.isFile()) out.push(`${sha(fs.readFileSync(path.join(work, p)))}  ./${p}`);
        }
      };
      walk('');
      return out.sort().join('\n');
    };
    const remoteFiles = async () =>
      (await exec('find . -path ./node_modules -prune -o -type f -print0 | xargs -0 sha256sum'))
        .trim()
        .split('\n')
        .sort()
        .join('\n');
    let lastSeen = '';
    await until(
      'both sides to converge',
      async () => {
        lastSeen = await remoteFiles();
        return lastSeen === localFiles() ? true : null;
      },
      90_000,
      500,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\nlocal:\n${localFiles()}\nremote:\n${lastSeen}\nstderr: ${live.stderr()}`);
    });
    const convergedMs = Date.now() - editsEnded;

    // Each side's file edited by it alone ends with its last edit, on both sides.
    expect(fs.readFileSync(local('mine-local.txt'), 'utf8')).toBe(last('local'));
    expect(fs.readFileSync(local('mine-remote.txt'), 'utf8')).toBe(last('remote'));
    // race.txt: the laptop's last edit (the later one) keeps the name; the sandbox's is there too, under
    // race.txt's conflict-copy name, unless the laptop had it already when it wrote over it.
    expect(fs.readFileSync(local('race.txt'), 'utf8')).toBe(last('local'));
    const copies = fs.readdirSync(work).filter((n) => /^race\.remote-[0-9a-f]{8}(-\d+)?\.txt$/.test(n));
    const kept = copies.map((n) => fs.readFileSync(local(n), 'utf8'));
    if (!sawRemoteLast) expect(kept).toContain(last('remote'));
    const conflicts = live.events.filter((e) => e.type === 'conflict' && e.path === 'race.txt').length;
    expect(live.events.filter((e) => e.type === 'error')).toEqual([]);
    console.log(
      `edit race: ${i + 1} laptop and ${N} sandbox edits; converged ${convergedMs} ms after the last; ${conflicts} conflicts (${copies.length} copies); sandbox's last edit seen by the laptop first: ${sawRemoteLast}`,
    );
    // Tidy for what follows (the live sync carries the deletes).
    const names = [...copies, 'race.txt', 'mine-local.txt', 'mine-remote.txt'];
    for (const n of names) fs.rmSync(local(n));
    await until('the tidy-up to reach the workspace', async () =>
      (await exec(`ls ${names.join(' ')} 2>/dev/null || true`)) === '' ? true : null,
    );
  }

  it('live: edits on both sides at once travel, a local write does not come back, and it exits when the task stops', async () => {
    const { events, exited, saw, stderr } = await startLive();

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
    expect(code, stderr()).toBe(0);
    expect(events.at(-1)).toMatchObject({ type: 'stopped' });
    expect(events.at(-1)?.reason).toMatch(/task .* is (stopped|stopping|hibernated|ended)/);
  }, 300_000);
});
