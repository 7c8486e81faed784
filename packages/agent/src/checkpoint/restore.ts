import { createHash, randomBytes } from 'node:crypto';
import fsSync, { constants as fsConstants, type Stats } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  type AgentRestoreResult,
  AppError,
  type CheckpointManifest,
  type CheckpointRoot,
  checkpointManifestSchema,
} from '@rclaude/protocol';
import type { Logger } from 'pino';
import tar from 'tar-stream';
import type { CheckpointClient } from './proxy-client.js';
import { createYielder, EMPTY_HASH } from './scan.js';

export interface RestoreOptions {
  checkpointId: string;
  /** Where the roots go: the workspace, and Claude Code's conversation folder for *this* workspace path. */
  workspace: string;
  claudeDir: string;
  client: CheckpointClient;
  log: Logger;
  /** Folders to try, in order, for the staging folder (default: beside the workspace, the home, the temp dir). */
  stagingParents?: string[];
}

/** Mismatches reported one by one; past this many, one line counts the rest. */
const MAX_MISMATCHES = 1000;

/**
 * Restores checkpoint `checkpointId`: fetches and validates the manifest (it came from a sandbox, so it is
 * hostile until checked), downloads every blob into a staging folder while verifying each one's size and
 * SHA-256, and only then, when all are there and sound, writes the entries into place. Files the manifest
 * names are overwritten; anything else already there is left alone.
 */
export async function restoreCheckpoint(opts: RestoreOptions): Promise<AgentRestoreResult> {
  const started = performance.now();
  const manifest = validateManifest(await opts.client.getManifest(opts.checkpointId));
  const sizes = new Map<string, number>();
  for (const e of manifest.entries) {
    if (e.type !== 'file') continue;
    const known = sizes.get(e.hash);
    if (known !== undefined && known !== e.size) {
      throw corrupt(`the manifest gives blob ${e.hash.slice(0, 12)}… two sizes`);
    }
    sizes.set(e.hash, e.size);
  }
  if (sizes.has(EMPTY_HASH) && sizes.get(EMPTY_HASH) !== 0) throw corrupt('the manifest gives the empty blob a size');

  await fs.mkdir(opts.workspace, { recursive: true });
  const roots: Record<CheckpointRoot, string> = {
    workspace: await fs.realpath(opts.workspace),
    claude: opts.claudeDir,
  };
  const staging = await makeStaging(opts.stagingParents ?? [path.dirname(roots.workspace), os.homedir(), os.tmpdir()]);
  try {
    await downloadBlobs(opts.client, opts.checkpointId, sizes, staging);
    const downloadedMs = performance.now() - started;
    await fs.mkdir(roots.claude, { recursive: true, mode: 0o700 });
    const result = await materialize(manifest, roots, staging);
    opts.log.info(
      {
        checkpointId: opts.checkpointId,
        files: result.files,
        bytes: result.bytes,
        mismatches: result.mismatches.length,
        downloadedMs: Math.round(downloadedMs),
        totalMs: Math.round(performance.now() - started),
      },
      'checkpoint restored',
    );
    return result;
  } finally {
    await fs.rm(staging, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * The manifest, if it is one this agent can restore safely: the protocol's schema (relative paths with no `.`
 * or `..`), each path once per root, and every entry's parent a folder named earlier in the manifest, so
 * nothing is ever written below a symbolic link the restore made. CHECKPOINT_CORRUPT otherwise.
 */
export function validateManifest(raw: unknown): CheckpointManifest {
  const parsed = checkpointManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw corrupt(`the manifest is not valid: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'unknown'}`);
  }
  const seen = new Map<string, ManifestKind>();
  for (const e of parsed.data.entries) {
    const key = `${e.root}/${e.path}`;
    if (seen.has(key)) throw corrupt(`the manifest names ${key} twice`);
    const slash = e.path.lastIndexOf('/');
    if (slash > 0) {
      const parent = `${e.root}/${e.path.slice(0, slash)}`;
      const kind = seen.get(parent);
      if (kind !== 'dir') {
        throw corrupt(
          kind === undefined
            ? `the manifest names ${key} before its folder`
            : `the manifest puts ${key} under a ${kind}, not a folder`,
        );
      }
    }
    seen.set(key, e.type);
  }
  return parsed.data;
}

type ManifestKind = CheckpointManifest['entries'][number]['type'];

function corrupt(message: string): AppError {
  return new AppError('CHECKPOINT_CORRUPT', message);
}

function failed(what: string, err: unknown): AppError {
  if (err instanceof AppError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new AppError('CHECKPOINT_FAILED', `restore failed ${what}: ${message}`, { cause: err });
}

async function makeStaging(parents: string[]): Promise<string> {
  let last: unknown;
  for (const parent of parents) {
    try {
      return await fs.mkdtemp(path.join(parent, '.rclaude-restore-'));
    } catch (err) {
      last = err;
    }
  }
  throw failed('making a staging folder', last);
}

/**
 * Reads the proxy's tar of blobs into `staging/<hash>`, verifying each against the manifest as it streams:
 * a name the manifest does not give, a blob twice, a size or hash that differs, or a blob missing at the end
 * is CHECKPOINT_CORRUPT; a transfer that breaks off is CHECKPOINT_FAILED.
 */
async function downloadBlobs(
  client: CheckpointClient,
  checkpointId: string,
  sizes: ReadonlyMap<string, number>,
  staging: string,
): Promise<void> {
  const res = await client.getBlobs(checkpointId);
  const extract = tar.extract();
  res.once('error', (err) => extract.destroy(err));
  res.pipe(extract);
  const got = new Set<string>();
  try {
    for await (const entry of extract) {
      const { name, size, type } = entry.header;
      const want = sizes.get(name);
      if (type !== 'file' || want === undefined) {
        throw corrupt(`the checkpoint's blobs hold "${name.slice(0, 80)}", which its manifest does not name`);
      }
      if (got.has(name)) throw corrupt(`the checkpoint's blobs hold ${name.slice(0, 12)}… twice`);
      if (size !== want) throw corrupt(`blob ${name.slice(0, 12)}… is ${size} bytes, the manifest says ${want}`);
      const sha = createHash('sha256');
      let length = 0;
      // Synchronous writes, as the scan's reads (see createYielder): the chunks themselves arrive asynchronously.
      const fd = fsSync.openSync(path.join(staging, name), 'wx', 0o600);
      try {
        for await (const chunk of entry as AsyncIterable<Buffer>) {
          length += chunk.length;
          if (length > want) throw corrupt(`blob ${name.slice(0, 12)}… is longer than ${want} bytes`);
          sha.update(chunk);
          fsSync.writeSync(fd, chunk);
        }
      } finally {
        fsSync.closeSync(fd);
      }
      if (length !== want) throw corrupt(`blob ${name.slice(0, 12)}… has ${length} bytes, not ${want}`);
      if (sha.digest('hex') !== name) throw corrupt(`blob ${name.slice(0, 12)}…'s bytes do not match its hash`);
      got.add(name);
    }
  } catch (err) {
    res.destroy();
    if (err instanceof AppError) throw err;
    throw failed('downloading the blobs', err);
  }
  const absent = [...sizes.keys()].filter((h) => !got.has(h) && h !== EMPTY_HASH);
  if (absent.length > 0) {
    throw corrupt(`${absent.length} blob(s) the manifest names did not come (first ${absent[0]?.slice(0, 12)}…)`);
  }
}

/**
 * Writes the manifest's entries under their roots, in its order (parents first). No write goes through a
 * symbolic link: every folder on the way is one this restore made or found to be a real folder (a link or file
 * in its place is replaced), files are renamed into place (a rename replaces a link, never follows it), and
 * links are made last. Folders get their modes last, deepest first, so a read-only folder is filled first.
 */
async function materialize(
  manifest: CheckpointManifest,
  roots: Record<CheckpointRoot, string>,
  staging: string,
): Promise<AgentRestoreResult> {
  const mismatches: string[] = [];
  let dropped = 0;
  const mismatch = (e: { root: CheckpointRoot; path: string }, what: string): void => {
    if (mismatches.length < MAX_MISMATCHES)
      mismatches.push(`${e.root === 'claude' ? '~claude/' : ''}${e.path}: ${what}`);
    else dropped++;
  };
  /** Folders that could not be made: what the manifest puts in them is skipped. */
  const failedDirs = new Set<string>();
  const dirs: { abs: string; mode: number; e: { root: CheckpointRoot; path: string } }[] = [];
  const links: Extract<CheckpointManifest['entries'][number], { type: 'symlink' }>[] = [];
  const fileEntries: Extract<CheckpointManifest['entries'][number], { type: 'file' }>[] = [];
  let files = 0;
  let bytes = 0;
  let symlinks = 0;

  const parentFailed = (root: CheckpointRoot, p: string): boolean => {
    const slash = p.lastIndexOf('/');
    return slash > 0 && failedDirs.has(`${root}/${p.slice(0, slash)}`);
  };
  const absOf = (e: { root: CheckpointRoot; path: string }): string => path.join(roots[e.root], ...e.path.split('/'));

  // Synchronous calls between yields, as the scan's (see createYielder).
  const yielder = createYielder();
  // Folders first, in order (parents before children), then the files, then the links.
  for (const e of manifest.entries) {
    if (parentFailed(e.root, e.path)) {
      if (e.type === 'dir') failedDirs.add(`${e.root}/${e.path}`);
      mismatch(e, 'not restored: its folder could not be made');
      continue;
    }
    if (e.type === 'file') fileEntries.push(e);
    else if (e.type === 'symlink') links.push(e);
    else {
      await yielder();
      try {
        ensureDir(absOf(e));
        dirs.push({ abs: absOf(e), mode: e.mode, e });
      } catch (err) {
        if (!isPermission(err)) throw failed(`making ${e.path}`, err);
        failedDirs.add(`${e.root}/${e.path}`);
        mismatch(e, `not restored (${(err as NodeJS.ErrnoException).code})`);
      }
    }
  }

  // A blob named by several files is copied for all but its last, which takes the staged file itself: the
  // copies go first so none reads a staged file already moved.
  const last = new Map<string, (typeof fileEntries)[number]>();
  for (const e of fileEntries) last.set(e.hash, e);
  const place = async (e: (typeof fileEntries)[number], lastUse: boolean): Promise<void> => {
    await yielder();
    try {
      const problem = placeFile(absOf(e), path.join(staging, e.hash), e.hash, e.mode, lastUse);
      if (problem) mismatch(e, problem);
      if (problem?.startsWith('not restored')) return;
      files++;
      bytes += e.size;
    } catch (err) {
      if (!isPermission(err)) throw failed(`writing ${e.path}`, err);
      mismatch(e, `not restored (${(err as NodeJS.ErrnoException).code})`);
    }
  };
  for (const e of fileEntries) if (last.get(e.hash) !== e) await place(e, false);
  for (const e of last.values()) await place(e, true);

  for (const e of links) {
    await yielder();
    try {
      const problem = placeSymlink(absOf(e), e.target);
      if (problem) mismatch(e, problem);
      else symlinks++;
    } catch (err) {
      if (!isPermission(err)) throw failed(`linking ${e.path}`, err);
      mismatch(e, `link not made (${(err as NodeJS.ErrnoException).code})`);
    }
  }
  for (const { abs, mode, e } of dirs.reverse()) {
    await yielder();
    try {
      const st = fsSync.lstatSync(abs);
      if (!st.isDirectory()) {
        mismatch(e, 'no longer a folder after the restore');
        continue;
      }
      if ((st.mode & 0o7777) !== mode) fsSync.chmodSync(abs, mode);
      const now = fsSync.lstatSync(abs).mode & 0o7777;
      if (now !== mode) mismatch(e, `mode ${octal(now)}, not ${octal(mode)}`);
    } catch (err) {
      mismatch(e, `mode ${octal(mode)} not set (${(err as NodeJS.ErrnoException).code ?? err})`);
    }
  }
  if (dropped > 0) mismatches.push(`... and ${dropped} more`);
  return {
    files,
    dirs: dirs.length,
    symlinks,
    bytes,
    mismatches,
    claudeSessionId: manifest.claudeSessionId,
  };
}

/** Makes `abs` a real folder (0700 until the modes are set), replacing a file or link in its place. */
function ensureDir(abs: string): void {
  const st = lstatOrNull(abs);
  if (st?.isDirectory()) {
    // Writable for the restore; its own mode is set at the end.
    if ((st.mode & 0o700) !== 0o700) fsSync.chmodSync(abs, (st.mode & 0o7777) | 0o700);
    return;
  }
  if (st) fsSync.unlinkSync(abs);
  fsSync.mkdirSync(abs, { mode: 0o700 });
}

/**
 * Puts the staged blob at `abs` with `mode`: the last entry using a blob takes the staged file itself, the
 * others a copy; either way through a rename, which replaces a file or link in the way without following it.
 */
function placeFile(abs: string, staged: string, hash: string, mode: number, lastUse: boolean): string | null {
  const st = lstatOrNull(abs);
  if (st?.isDirectory()) return 'not restored: a folder is in its place';
  const tmp = path.join(path.dirname(abs), `.rclaude-restore-${randomBytes(6).toString('hex')}`);
  let source = tmp;
  if (hash === EMPTY_HASH && !lstatOrNull(staged)) {
    fsSync.closeSync(fsSync.openSync(tmp, 'wx', 0o600));
  } else if (lastUse) {
    source = staged;
  } else {
    fsSync.copyFileSync(staged, tmp, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE);
  }
  try {
    fsSync.chmodSync(source, mode);
    try {
      fsSync.renameSync(source, abs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV' || source !== staged) throw err;
      // The staging folder is on another file system: copy beside the target, then rename.
      fsSync.copyFileSync(staged, tmp, fsConstants.COPYFILE_EXCL);
      fsSync.chmodSync(tmp, mode);
      fsSync.renameSync(tmp, abs);
    }
  } catch (err) {
    fsSync.rmSync(tmp, { force: true });
    throw err;
  }
  const now = fsSync.lstatSync(abs).mode & 0o7777;
  return now === mode ? null : `mode ${octal(now)}, not ${octal(mode)}`;
}

function placeSymlink(abs: string, target: string): string | null {
  const st = lstatOrNull(abs);
  if (st?.isDirectory()) return 'link not made: a folder is in its place';
  if (!st) {
    fsSync.symlinkSync(target, abs);
    return null;
  }
  const tmp = path.join(path.dirname(abs), `.rclaude-restore-${randomBytes(6).toString('hex')}`);
  fsSync.symlinkSync(target, tmp);
  try {
    fsSync.renameSync(tmp, abs);
  } catch (err) {
    fsSync.rmSync(tmp, { force: true });
    throw err;
  }
  return null;
}

function lstatOrNull(p: string): Stats | null {
  try {
    return fsSync.lstatSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function isPermission(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'EACCES' || code === 'EPERM';
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}
