import { spawn } from 'node:child_process';
import type { CheckpointManifest, ManifestEntry } from '@rclaude/protocol';
import { CliError } from '../errors.js';

/** A workspace file of a checkpoint, as the commit gets it. */
export type WorkspaceEntry = Extract<ManifestEntry, { type: 'file' } | { type: 'symlink' }>;

/** Runs git with `input` on stdin; its exit code, stdout and stderr (never throws on a non-zero exit). */
export function gitWithInput(
  cwd: string,
  args: string[],
  input: string | Buffer | AsyncIterable<Buffer>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.once('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'ENOENT' ? new CliError('git is not installed (or not on PATH)') : e),
    );
    child.once('close', (code) =>
      resolve({
        code: code ?? 1,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
    child.stdin.on('error', () => undefined); // git exiting early is reported by its exit code
    if (typeof input === 'string' || Buffer.isBuffer(input)) {
      child.stdin.end(input);
      return;
    }
    void (async () => {
      try {
        for await (const chunk of input) {
          if (!child.stdin.write(chunk)) await new Promise((r) => child.stdin.once('drain', r));
        }
        child.stdin.end();
      } catch (e) {
        child.kill();
        reject(e);
      }
    })();
  });
}

/**
 * The files of a checkpoint's workspace that belong in a commit: regular files and links of root `workspace`,
 * without `.git` and rclaude's own `.rclaude` folder. Which of them git ignores is decided by the caller.
 */
export function workspaceEntries(manifest: CheckpointManifest): WorkspaceEntry[] {
  return manifest.entries.filter(
    (e): e is WorkspaceEntry =>
      e.root === 'workspace' && (e.type === 'file' || e.type === 'symlink') && !/^(\.git|\.rclaude)(\/|$)/.test(e.path),
  );
}

/** A path as `git fast-import` reads it: quoted C-style when it starts with a quote or holds a newline. */
export function fastImportPath(p: string): string {
  if (!p.startsWith('"') && !p.includes('\n')) return p;
  return `"${p.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/**
 * The stream `git fast-import` reads to make one commit on `ref` whose tree is exactly `entries` (bytes from
 * `read`, in order), with parent `parent` (none: a root commit).
 */
export async function* fastImportStream(opts: {
  ref: string;
  parent: string | null;
  message: string;
  entries: WorkspaceEntry[];
  read: AsyncIterable<Buffer>;
}): AsyncGenerator<Buffer> {
  const message = Buffer.from(opts.message);
  const when = Math.floor(Date.now() / 1000);
  yield Buffer.from(
    `commit ${opts.ref}\ncommitter rclaude <rclaude@localhost> ${when} +0000\ndata ${message.length}\n`,
  );
  yield message;
  yield Buffer.from(`\n${opts.parent ? `from ${opts.parent}\n` : ''}deleteall\n`);
  const bytes = opts.read[Symbol.asyncIterator]();
  for (const e of opts.entries) {
    if (e.type === 'symlink') {
      const target = Buffer.from(e.target);
      yield Buffer.from(`M 120000 inline ${fastImportPath(e.path)}\ndata ${target.length}\n`);
      yield target;
      yield Buffer.from('\n');
      continue;
    }
    const next = await bytes.next();
    if (next.done) throw new Error('fewer blobs than files');
    const mode = e.mode & 0o111 ? '100755' : '100644';
    yield Buffer.from(`M ${mode} inline ${fastImportPath(e.path)}\ndata ${next.value.length}\n`);
    yield next.value;
    yield Buffer.from('\n');
  }
  yield Buffer.from('done\n');
}
