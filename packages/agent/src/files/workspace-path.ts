import { AppError } from '@rclaude/protocol';

/** Longest workspace path accepted, in UTF-16 code units (the protocol's own bound). */
export const MAX_PATH_CHARS = 4096;
/** Longest single name, in bytes of UTF-8 (Linux NAME_MAX). */
export const MAX_NAME_BYTES = 255;
/** Deepest folder nesting a path may reach; each level holds one file descriptor while it is walked. */
export const MAX_PATH_DEPTH = 256;

/** A path as it may appear in a message: quoted, escaped, and short. */
export function quotePath(path: string): string {
  const shown = path.length > 200 ? `${path.slice(0, 200)}…` : path;
  return JSON.stringify(shown);
}

function refuse(path: string, why: string): never {
  throw new AppError('PATH_REFUSED', `path ${quotePath(path)} is refused: ${why}`);
}

/**
 * Splits a workspace path ("" or "." is the root) into its names, refusing on its face anything that is
 * not a plain relative path: absolute paths, `..` anywhere, backslashes (a Windows client means them as
 * separators; on Linux they would silently become part of a name), NUL bytes and lone UTF-16 surrogates
 * (which Node would rewrite to U+FFFD, addressing a different name). Empty and `.` segments are dropped.
 *
 * The input is used exactly as received and never percent-decoded: the HTTP layer decodes a query once,
 * so a `%2e%2e` that reaches here is a literal name. Decoding again would turn it into an escape.
 *
 * This is only the syntactic half of confinement; symlinks are dealt with while walking the real tree.
 */
export function splitWorkspacePath(path: string): string[] {
  if (typeof path !== 'string') throw new AppError('BAD_REQUEST', 'a path is a string');
  if (path.length > MAX_PATH_CHARS) refuse(path, `longer than ${MAX_PATH_CHARS} characters`);
  if (path.includes('\u0000')) refuse(path, 'it contains a NUL byte');
  if (/[\uD800-\uDFFF]/u.test(path)) refuse(path, 'it is not well-formed Unicode');
  if (path.includes('\\')) refuse(path, 'it contains a backslash; separate folders with "/"');
  if (path.startsWith('/')) refuse(path, 'paths are relative to the workspace root, not absolute');
  const names: string[] = [];
  for (const name of path.split('/')) {
    if (name === '' || name === '.') continue;
    if (name === '..') refuse(path, '".." may not appear in a workspace path');
    if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) refuse(path, `a name is longer than ${MAX_NAME_BYTES} bytes`);
    names.push(name);
  }
  if (names.length > MAX_PATH_DEPTH) refuse(path, `it is nested deeper than ${MAX_PATH_DEPTH} folders`);
  return names;
}
