import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import {
  CHECKPOINT_FORMAT,
  type CheckpointManifest,
  type CheckpointRoot,
  checkpointPathSchema,
  claudeProjectFolderName,
  IMPORT_HEADER_ENTRY,
  type ImportTaskOptions,
  type ManifestEntry,
} from '@rclaude/protocol';
import { CliError } from '../errors.js';

const run = promisify(execFile);

/** A local directory packed for `POST /api/imports`: its manifest and where each blob's bytes are. */
export interface PackedWorkspace {
  root: string;
  manifest: CheckpointManifest;
  /** One local file per distinct hash. */
  blobs: Map<string, { file: string; size: number }>;
  /** Paths left out (a name the server would refuse, a submodule), for the user. */
  skipped: string[];
  /** Files and their bytes, for progress. */
  files: number;
  bytes: number;
}

/** Runs git in `cwd`; stdout. A failure becomes a CliError saying what git said. */
export async function git(cwd: string, args: string[], maxBuffer = 256 * 1024 * 1024): Promise<string> {
  try {
    const { stdout } = await run('git', args, { cwd, maxBuffer, encoding: 'utf8' });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; code?: string | number };
    if (e.code === 'ENOENT') throw new CliError('git is not installed (or not on PATH)');
    throw new CliError(`git ${args[0]} failed: ${(e.stderr ?? String(err)).trim().slice(0, 500)}`);
  }
}

/** The top of the git working tree holding `dir`; a CliError saying what to do outside one. */
export async function repoRoot(dir: string): Promise<string> {
  let top: string;
  try {
    const { stdout } = await run('git', ['rev-parse', '--show-toplevel'], { cwd: dir, encoding: 'utf8' });
    top = stdout.trim();
  } catch {
    throw new CliError(
      `${dir} is not in a git repository`,
      1,
      'run it inside a clone (`git init` makes one): git says which files to leave out (.gitignore)',
    );
  }
  const dotGit = await fs.lstat(path.join(top, '.git'));
  if (!dotGit.isDirectory()) {
    throw new CliError(
      `${top} is a git worktree or submodule (its .git is a file)`,
      1,
      'run it in a regular clone, whose .git is a folder',
    );
  }
  return fs.realpath(top);
}

/** Claude Code's folder of conversations for `dir` (CLAUDE_CONFIG_DIR, or ~/.claude). */
export function claudeProjectDir(dir: string, env: NodeJS.ProcessEnv = process.env): string {
  const config = env.CLAUDE_CONFIG_DIR || path.join(env.HOME || os.homedir(), '.claude');
  return path.join(config, 'projects', claudeProjectFolderName(dir));
}

/** The newest conversation (`<session id>.jsonl`) in a Claude Code project folder, or null. */
export async function newestConversation(projectDir: string): Promise<string | null> {
  let names: string[];
  try {
    names = await fs.readdir(projectDir);
  } catch {
    return null;
  }
  let best: { id: string; at: number } | null = null;
  for (const name of names) {
    if (!name.endsWith('.jsonl')) continue;
    const id = name.slice(0, -'.jsonl'.length);
    if (!/^[A-Za-z0-9][A-Za-z0-9-]{0,127}$/.test(id)) continue;
    const st = await fs.stat(path.join(projectDir, name));
    if (!best || st.mtimeMs > best.at) best = { id, at: st.mtimeMs };
  }
  return best?.id ?? null;
}

/**
 * Packs a git working tree as a checkpoint manifest: what `git ls-files -co --exclude-standard` lists (its
 * committed files, uncommitted changes, untracked files git does not ignore) plus the whole `.git` folder; and
 * with `conversation`, Claude Code's folder for the directory (root `claude`), naming its newest conversation.
 * Hashes every file (SHA-256) so the server can check each blob.
 */
export async function packWorkspace(root: string, opts: { conversation: boolean }): Promise<PackedWorkspace> {
  const packed: PackedWorkspace = {
    root,
    manifest: {
      format: CHECKPOINT_FORMAT,
      createdAt: new Date().toISOString(),
      workspace: root,
      excluded: [],
      claudeSessionId: null,
      entries: [],
    },
    blobs: new Map(),
    skipped: [],
    files: 0,
    bytes: 0,
  };
  const listed = (await git(root, ['ls-files', '-z', '-c', '-o', '--exclude-standard'])).split('\0').filter(Boolean);
  const paths = new Set(listed);
  for (const p of await walk(path.join(root, '.git'), '.git')) paths.add(p);
  await addTree(packed, 'workspace', root, [...paths]);
  if (opts.conversation) {
    const projectDir = claudeProjectDir(root);
    const session = await newestConversation(projectDir);
    if (!session) {
      throw new CliError(
        `no Claude Code conversation for ${root} (looked in ${projectDir})`,
        1,
        'start one here with `claude` first, or leave out --continue',
      );
    }
    await addTree(packed, 'claude', projectDir, await walk(projectDir, ''));
    packed.manifest.claudeSessionId = session;
  }
  return packed;
}

/** Every path under `dir` (folders, files, links; links not followed), relative, prefixed with `prefix`. */
async function walk(dir: string, prefix: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await fs.readdir(dir, { withFileTypes: true });
  for (const e of entries) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    out.push(rel);
    if (e.isDirectory()) out.push(...(await walk(path.join(dir, e.name), rel)));
  }
  return out;
}

async function addTree(packed: PackedWorkspace, root: CheckpointRoot, base: string, rels: string[]): Promise<void> {
  const entries = new Map<string, ManifestEntry>();
  for (const rel of rels) {
    if (!checkpointPathSchema.safeParse(rel).success) {
      packed.skipped.push(rel);
      continue;
    }
    const abs = path.join(base, rel);
    let st: Awaited<ReturnType<typeof fs.lstat>>;
    try {
      st = await fs.lstat(abs);
    } catch {
      continue; // listed by git, deleted in the working tree since
    }
    // Parents first: a path's folders are entries too (git lists files only).
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!entries.has(dir)) {
        const dst = await fs.lstat(path.join(base, dir));
        entries.set(dir, { type: 'dir', root, path: dir, mode: dst.mode & 0o7777 });
      }
    }
    if (st.isSymbolicLink()) {
      entries.set(rel, { type: 'symlink', root, path: rel, target: await fs.readlink(abs) });
    } else if (st.isDirectory()) {
      // A folder git lists as a file is a submodule: its own repository is not packed.
      if (root === 'workspace' && !rel.startsWith('.git')) packed.skipped.push(`${rel} (a submodule)`);
      entries.set(rel, { type: 'dir', root, path: rel, mode: st.mode & 0o7777 });
    } else if (st.isFile()) {
      if (st.size >= 8 * 1024 ** 3) throw new CliError(`${abs} is over 8 GiB: leave it out with .gitignore`);
      const hash = await sha256(abs);
      entries.set(rel, { type: 'file', root, path: rel, mode: st.mode & 0o7777, size: st.size, hash });
      if (!packed.blobs.has(hash)) packed.blobs.set(hash, { file: abs, size: st.size });
      packed.files++;
      packed.bytes += st.size;
    }
    // Sockets, FIFOs and devices are left out, as a checkpoint leaves them out.
  }
  // Sorted by path, every folder comes before what is in it.
  const sorted = [...entries.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  packed.manifest.entries.push(...sorted);
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * The body of `POST /api/imports`: a tar whose first entry is the header (task options and manifest), then
 * one entry per blob named by its hash. A file that changed since it was hashed fails the stream (the upload
 * is then refused whole), rather than sending bytes the manifest does not describe.
 */
export function importArchive(
  packed: PackedWorkspace,
  task: ImportTaskOptions,
  onBytes?: (n: number) => void,
): Readable {
  async function* generate(): AsyncGenerator<Buffer> {
    const header = Buffer.from(JSON.stringify({ task, manifest: packed.manifest }));
    yield tarHeader(IMPORT_HEADER_ENTRY, header.length);
    yield header;
    yield padding(header.length);
    for (const [hash, { file, size }] of packed.blobs) {
      yield tarHeader(hash, size);
      const check = createHash('sha256');
      let sent = 0;
      if (size > 0) {
        for await (const chunk of createReadStream(file, { start: 0, end: size - 1 })) {
          const buf = chunk as Buffer;
          check.update(buf);
          sent += buf.length;
          onBytes?.(buf.length);
          yield buf;
        }
      }
      if (sent !== size || check.digest('hex') !== hash) {
        throw new CliError(`${file} changed while it was being uploaded`, 1, 'try again once nothing writes to it');
      }
      yield padding(size);
    }
    yield Buffer.alloc(1024);
  }
  return Readable.from(generate());
}

/** A ustar header of a regular file (names here are at most 64 characters). */
function tarHeader(name: string, size: number): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0, 100, 'utf8');
  b.write('0000600\0', 100);
  b.write('0000000\0', 108);
  b.write('0000000\0', 116);
  b.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  b.write(
    `${Math.floor(Date.now() / 1000)
      .toString(8)
      .padStart(11, '0')}\0`,
    136,
  );
  b.write('        ', 148);
  b.write('0', 156);
  b.write('ustar\0', 257);
  b.write('00', 263);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return b;
}

function padding(size: number): Buffer {
  return Buffer.alloc((512 - (size % 512)) % 512);
}
