import { closeSync, constants, fstatSync, openSync, realpathSync, type Stats } from 'node:fs';
import { type FileHandle, lstat, mkdir, open, readlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import { AppError } from '@rclaude/protocol';
import { hasErrno, toFileError } from './fs-errors.js';
import { MAX_PATH_DEPTH, quotePath } from './workspace-path.js';

/*
 * How confinement survives symlinks and races (the "check then use" problem).
 *
 * Checking a path with realpath() and then opening it is not safe: between the two calls a folder on
 * the way can be swapped for a symlink to /etc, and open() would follow it. O_NOFOLLOW alone does not
 * help either, since it only covers the last name. So the kernel is never asked to follow a symlink
 * inside the workspace. Instead we walk the path one name at a time, holding each folder open:
 *
 * - A child is addressed as `/proc/self/fd/<dirfd>/<name>`. The kernel follows only the /proc magic
 *   link (to the very folder we hold, wherever it is now) and then looks `name` up in it: the same
 *   thing openat(2) does, which Node does not expose. `name` never contains "/".
 * - Each name is lstat()ed. A folder is then opened with O_DIRECTORY|O_NOFOLLOW, so if it was swapped
 *   for a symlink in between, the open fails (ELOOP/ENOTDIR) and we refuse: nothing was followed.
 * - A symlink is read with readlink() and its target is walked by the same rules (relative targets from
 *   the link's folder, absolute ones only if they start with the workspace root, `..` pops one held
 *   folder and refuses at the root). The walk never relies on the target staying put after we read it.
 * - The last name is opened with O_NOFOLLOW|O_NONBLOCK|O_NOCTTY and then fstat()ed: a FIFO swapped in
 *   after the lstat() cannot block the open, and anything but a regular file is closed unused.
 * - Finally the opened descriptor's real location (readlink of /proc/self/fd/N) must still be under
 *   the workspace root: defence in depth against a held folder being renamed out of the workspace.
 *
 * Hard links are not symlinks: a hard link inside the workspace to a file elsewhere can only be made by
 * someone who may already read that file, so it gives the file API no reach the sandbox lacks.
 */

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = constants;

/** Symlinks followed in one resolution before giving up, as the kernel's own limit (ELOOP). */
export const MAX_SYMLINK_HOPS = 40;

/** The workspace root, fixed when the file service is created. */
export interface WorkspaceRoot {
  /** The root with every symlink resolved. */
  real: string;
  /** The root as configured (absolute); an absolute symlink target may name either form. */
  configured: string;
  dev: number;
  ino: number;
}

/** Resolves and checks the workspace root once, at start-up. Throws if it is not a folder or /proc is missing. */
export function inspectWorkspaceRoot(root: string): WorkspaceRoot {
  const configured = resolve(root);
  const real = realpathSync(configured);
  const fd = openSync(real, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  try {
    // The walk below addresses folders through /proc/self/fd; fail at start-up, not on the first request.
    realpathSync(`/proc/self/fd/${fd}`);
    const st = fstatSync(fd);
    return { real, configured, dev: st.dev, ino: st.ino };
  } finally {
    closeSync(fd);
  }
}

/** `name` inside the folder held open as `dir`, addressed without following any symlink of ours. */
export function inDir(dir: FileHandle, name: string): string {
  return `/proc/self/fd/${dir.fd}/${name}`;
}

/** The magic link of an open descriptor; readlink() of it is where the file is now. */
export function fdPath(handle: FileHandle): string {
  return `/proc/self/fd/${handle.fd}`;
}

/** The part of absolute path `target` below the workspace root ("" for the root), or null if outside it. */
function belowRoot(target: string, bases: readonly string[]): string | null {
  for (const base of bases) {
    if (base === '/') return target.slice(1);
    if (target === base) return '';
    if (target.startsWith(`${base}/`)) return target.slice(base.length + 1);
  }
  return null;
}

function refuse(display: string, why: string): never {
  throw new AppError('PATH_REFUSED', `path ${quotePath(display)} is refused: ${why}`);
}

/** Refuses unless the open descriptor `handle` currently lies inside the workspace root. */
export async function assertInside(root: WorkspaceRoot, handle: FileHandle, display: string): Promise<void> {
  let where: string;
  try {
    where = await readlink(fdPath(handle));
  } catch (err) {
    throw toFileError(err, display);
  }
  if (where.endsWith(' (deleted)')) where = where.slice(0, -' (deleted)'.length);
  if (belowRoot(where, [root.real]) === null) refuse(display, 'it lies outside the workspace');
}

/** The chain of folders held open from the root down to the current one. Always `close()` it. */
export class DirChain {
  private constructor(
    private readonly root: WorkspaceRoot,
    private readonly dirs: FileHandle[],
  ) {}

  static async open(root: WorkspaceRoot): Promise<DirChain> {
    const handle = await open(root.real, O_RDONLY | O_DIRECTORY | O_NOFOLLOW).catch((err: unknown) => {
      throw new AppError('INTERNAL', 'the workspace folder cannot be opened', { cause: err });
    });
    const st = await handle.stat().catch(async (err: unknown) => {
      await handle.close();
      throw new AppError('INTERNAL', 'the workspace folder cannot be inspected', { cause: err });
    });
    if (st.dev !== root.dev || st.ino !== root.ino) {
      await handle.close();
      throw new AppError('INTERNAL', 'the workspace folder was replaced after the agent started');
    }
    return new DirChain(root, [handle]);
  }

  /** The innermost folder held. */
  get top(): FileHandle {
    return this.dirs[this.dirs.length - 1]!;
  }

  /**
   * Opens child folder `name` of `top` (which lstat() said is a folder) and makes it the new top. Returns
   * false, changing nothing, if it is no folder any more (a symlink or file was swapped in since).
   */
  async enter(name: string, display: string): Promise<boolean> {
    if (this.dirs.length > MAX_PATH_DEPTH) refuse(display, `it is nested deeper than ${MAX_PATH_DEPTH} folders`);
    let handle: FileHandle;
    try {
      handle = await open(inDir(this.top, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    } catch (err) {
      if (hasErrno(err, 'ELOOP', 'ENOTDIR')) return false;
      throw toFileError(err, display);
    }
    this.dirs.push(handle);
    return true;
  }

  /** Goes to the parent folder; false (and no change) at the root. */
  async up(): Promise<boolean> {
    if (this.dirs.length === 1) return false;
    await this.dirs.pop()!.close();
    return true;
  }

  /** Closes everything but the root. */
  async toRoot(): Promise<void> {
    while (await this.up()) {
      // keep popping
    }
  }

  /** Refuses unless `top` still lies inside the workspace. */
  async assertTopInside(display: string): Promise<void> {
    await assertInside(this.root, this.top, display);
  }

  async close(): Promise<void> {
    const dirs = this.dirs.splice(0);
    await Promise.allSettled(dirs.map((d) => d.close()));
  }
}

/** Where a workspace path led: `name` inside folder `chain.top`, or the folder `chain.top` itself. */
export interface Located {
  /** Held folders; the caller closes it. */
  chain: DirChain;
  /** Null when the path names a folder reached as a whole (the root, or a symlink to a folder). */
  name: string | null;
  /** lstat() of `name` in `chain.top`; null when nothing has that name. */
  stat: Stats | null;
}

export interface LocateOptions {
  /** Follow a symlink in the last position (read, list, write); not for stat and delete. */
  followLast: boolean;
  /** Create missing folders on the way (write). */
  createDirs: boolean;
}

async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (err) {
    if (hasErrno(err, 'ENOENT')) return null;
    throw err;
  }
}

/**
 * Walks `names` (from {@link splitWorkspacePath}) from the workspace root, following symlinks only while
 * they stay inside, and stops at the last name without opening it. `display` is the path as the caller
 * gave it, for messages.
 */
export async function locate(
  root: WorkspaceRoot,
  names: readonly string[],
  display: string,
  opts: LocateOptions,
): Promise<Located> {
  const chain = await DirChain.open(root);
  try {
    const queue = [...names];
    let hops = 0;
    while (queue.length > 0) {
      const name = queue.shift()!;
      if (name === '' || name === '.') continue;
      if (name === '..') {
        // Only a symlink target can bring ".." here; user paths are refused before.
        if (!(await chain.up())) refuse(display, 'a symbolic link on the way points outside the workspace');
        continue;
      }
      const child = inDir(chain.top, name);
      let st = await lstatOrNull(child);
      const last = queue.length === 0;
      if (last && (st === null || !opts.followLast || !st.isSymbolicLink())) return { chain, name, stat: st };
      if (st === null) {
        if (!opts.createDirs) throw new AppError('NOT_FOUND', `no such file or folder: ${quotePath(display)}`);
        try {
          await mkdir(child, 0o777);
        } catch (err) {
          if (!hasErrno(err, 'EEXIST')) throw err;
        }
        st = await lstat(child);
      }
      if (st.isSymbolicLink()) {
        hops += 1;
        if (hops > MAX_SYMLINK_HOPS) refuse(display, 'too many levels of symbolic links');
        let target: string;
        try {
          target = await readlink(child);
        } catch (err) {
          // EINVAL: no longer a symlink (swapped since the lstat). Look at the name again.
          if (!hasErrno(err, 'EINVAL')) throw err;
          queue.unshift(name);
          continue;
        }
        if (target.startsWith('/')) {
          const rest = belowRoot(target, [root.real, root.configured]);
          if (rest === null) refuse(display, 'a symbolic link on the way points outside the workspace');
          await chain.toRoot();
          queue.unshift(...rest.split('/'));
        } else {
          queue.unshift(...target.split('/'));
        }
        continue;
      }
      if (!st.isDirectory()) {
        const why = `${quotePath(name)} on the way is not a folder`;
        if (opts.createDirs) throw new AppError('CONFLICT', `cannot write ${quotePath(display)}: ${why}`);
        throw new AppError('NOT_FOUND', `no such file or folder: ${quotePath(display)} (${why})`);
      }
      if (!(await chain.enter(name, display))) {
        // Swapped for a symlink or file since the lstat: look again, within the same bound as symlinks.
        hops += 1;
        if (hops > MAX_SYMLINK_HOPS) refuse(display, 'a folder on the way keeps changing');
        queue.unshift(name);
      }
    }
    return { chain, name: null, stat: null };
  } catch (err) {
    await chain.close();
    throw toFileError(err, display);
  }
}
