import fs from 'node:fs';
import path from 'node:path';

/**
 * Path checks of `rclaude sync` (ADR 0022). Every path comes from the sandbox, which is hostile: it is
 * refused on its face unless it is a plain relative path, and then every write walks the local folder name by
 * name so that nothing lands outside it, through a symlink or otherwise.
 */

export class SyncPathError extends Error {
  constructor(
    readonly path: string,
    why: string,
  ) {
    super(`refused path ${JSON.stringify(path.slice(0, 200))}: ${why}`);
    this.name = 'SyncPathError';
  }
}

/** Longest name (bytes of UTF-8) and path accepted, as on Linux. */
const MAX_NAME_BYTES = 255;
const MAX_PATH_CHARS = 4096;

/**
 * Checks a workspace path named by the sandbox and returns its names. Refuses absolute paths, `..`, `.` and
 * empty segments, backslashes, NUL and other control characters, lone surrogates and over-long names.
 */
export function checkRemotePath(p: string): string[] {
  if (typeof p !== 'string' || p === '') throw new SyncPathError(String(p), 'empty');
  if (p.length > MAX_PATH_CHARS) throw new SyncPathError(p, 'too long');
  if (p.startsWith('/')) throw new SyncPathError(p, 'absolute');
  if (/[\u0000-\u001f\u007f]/.test(p)) throw new SyncPathError(p, 'a control character');
  if (/[\uD800-\uDFFF]/u.test(p)) throw new SyncPathError(p, 'not well-formed Unicode');
  if (p.includes('\\')) throw new SyncPathError(p, 'a backslash');
  const names = p.split('/');
  for (const name of names) {
    if (name === '' || name === '.' || name === '..') throw new SyncPathError(p, `a "${name}" segment`);
    if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) throw new SyncPathError(p, 'a name is too long');
  }
  return names;
}

/**
 * The local path of workspace path `rel` under `dir`, with every folder on the way checked to be a real
 * folder (not a symlink, not a file); with `create`, missing folders are made (one at a time, each checked).
 * Refuses when the last name is a symlink or anything but a regular file or nothing, unless `anyLeaf` (the
 * caller then only lstat()s it or replaces the name, never opens through it).
 */
export function localTarget(dir: string, rel: string, opts: { create: boolean; anyLeaf?: boolean }): string {
  const names = checkRemotePath(rel);
  let at = dir;
  for (let i = 0; i < names.length - 1; i += 1) {
    const name = names[i] as string;
    at = path.join(at, name);
    const st = fs.lstatSync(at, { throwIfNoEntry: false });
    if (st === undefined) {
      if (!opts.create) return path.join(at, ...names.slice(i + 1));
      fs.mkdirSync(at);
      continue;
    }
    if (st.isSymbolicLink()) throw new SyncPathError(rel, `${JSON.stringify(name)} is a symbolic link here`);
    if (!st.isDirectory()) throw new SyncPathError(rel, `${JSON.stringify(name)} is not a folder here`);
  }
  const target = path.join(at, names[names.length - 1] as string);
  const st = fs.lstatSync(target, { throwIfNoEntry: false });
  if (st !== undefined && !st.isFile() && !opts.anyLeaf) {
    throw new SyncPathError(rel, st.isSymbolicLink() ? 'it is a symbolic link here' : 'it is not a regular file here');
  }
  // Defence in depth: the resolved parent must still be under the real folder.
  const realDir = fs.realpathSync(dir);
  const parent = fs.realpathSync(path.dirname(target));
  if (parent !== realDir && !parent.startsWith(`${realDir}${path.sep}`)) {
    throw new SyncPathError(rel, 'it lies outside the folder');
  }
  return target;
}
