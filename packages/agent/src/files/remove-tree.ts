import { constants, type Stats } from 'node:fs';
import { type FileHandle, lstat, open, readdir, rmdir, unlink } from 'node:fs/promises';
import { AppError } from '@rclaude/protocol';
import { hasErrno } from './fs-errors.js';
import { MAX_PATH_DEPTH, quotePath } from './workspace-path.js';
import { fdPath, inDir } from './workspace-walker.js';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = constants;

async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (err) {
    if (hasErrno(err, 'ENOENT')) return null;
    throw err;
  }
}

async function removeEntry(parent: FileHandle, name: string, display: string, depth: number): Promise<void> {
  try {
    await unlink(inDir(parent, name));
  } catch (err) {
    if (hasErrno(err, 'ENOENT')) return;
    // Linux answers EISDIR for a folder (one that replaced the entry since we looked).
    if (hasErrno(err, 'EISDIR', 'EPERM')) return removeTree(parent, name, display, depth + 1);
    throw err;
  }
}

/**
 * Deletes folder `name` of the held folder `parent` and everything under it, never following a symlink.
 *
 * Node's own recursive rm works on path strings: if a subfolder is swapped for a symlink between its
 * lstat() and its readdir(), it deletes the symlink's target tree (the race behind CVE-2022-21658 in
 * Rust's remove_dir_all). Here every folder is opened with O_NOFOLLOW and its children are addressed
 * through that descriptor, so a swapped-in symlink is unlinked as a symlink and nothing outside is touched.
 */
export async function removeTree(parent: FileHandle, name: string, display: string, depth = 0): Promise<void> {
  if (depth > MAX_PATH_DEPTH) {
    throw new AppError('CONFLICT', `folder ${quotePath(display)} is nested deeper than ${MAX_PATH_DEPTH} levels`);
  }
  let dir: FileHandle;
  try {
    dir = await open(inDir(parent, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  } catch (err) {
    if (hasErrno(err, 'ENOENT')) return;
    // No longer a folder (a symlink or file was swapped in): remove that entry itself, not what it names.
    if (hasErrno(err, 'ELOOP', 'ENOTDIR')) return removeEntry(parent, name, display, depth);
    throw err;
  }
  try {
    for (const child of await readdir(fdPath(dir))) {
      const st = await lstatOrNull(inDir(dir, child));
      if (st === null) continue;
      if (st.isDirectory()) await removeTree(dir, child, display, depth + 1);
      else await removeEntry(dir, child, display, depth);
    }
  } finally {
    await dir.close();
  }
  try {
    await rmdir(inDir(parent, name));
  } catch (err) {
    if (!hasErrno(err, 'ENOENT')) throw err;
  }
}
