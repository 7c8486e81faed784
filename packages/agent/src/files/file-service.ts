import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { type FileHandle, link, lstat, mkdir, open, readdir, rename, rmdir, symlink, unlink } from 'node:fs/promises';
import {
  type AgentFileReadResult,
  type AgentFileWrite,
  AppError,
  type FileEntry,
  type ListFilesResponse,
  type WriteFileResponse,
} from '@rclaude/protocol';
import { hasErrno, toFileError } from './fs-errors.js';
import { removeTree } from './remove-tree.js';
import { quotePath, splitWorkspacePath } from './workspace-path.js';
import {
  assertInside,
  fdPath,
  inDir,
  inspectWorkspaceRoot,
  type Located,
  locate,
  type WorkspaceRoot,
} from './workspace-walker.js';

const { O_RDONLY, O_WRONLY, O_CREAT, O_TRUNC, O_APPEND, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY } = constants;

/** Default for {@link FileServiceOptions.maxReadBytes}: the protocol's largest `files:read` length. */
export const DEFAULT_MAX_READ_BYTES = 4 * 1024 * 1024;
/** Default for {@link FileServiceOptions.maxWriteBytes}. */
export const DEFAULT_MAX_WRITE_BYTES = 4 * 1024 * 1024;
/** Default for {@link FileServiceOptions.maxListEntries}; keeps one listing well under Socket.io's 1 MB frame. */
export const DEFAULT_MAX_LIST_ENTRIES = 5000;

export interface FileServiceOptions {
  /** The workspace folder. Every path is relative to it and confined to it. Must exist. */
  root: string;
  /** Most bytes one read returns; a longer request gets a short read (the caller loops). Bytes. */
  maxReadBytes?: number;
  /** Most bytes one write may carry; more is PAYLOAD_TOO_LARGE (send big files as appended chunks). Bytes. */
  maxWriteBytes?: number;
  /** Most entries one listing returns, first by name; the answer then says `truncated: true`. */
  maxListEntries?: number;
}

/**
 * File operations on one task's workspace, as served to the proxy's `files:*` RPCs. Every method takes the
 * event's payload, resolves its path inside the workspace root and rejects with an AppError:
 * PATH_REFUSED (escapes, symlinks out, FIFOs, devices, sockets), NOT_FOUND, PAYLOAD_TOO_LARGE, CONFLICT,
 * BAD_REQUEST. Paths in answers are relative to the root with "/" separators. Linux only (uses /proc).
 */
export interface FileService {
  /** The workspace root with symlinks resolved. */
  readonly root: string;
  /** The entries of a folder (symlinks are listed as such, not followed), sorted by name. */
  list(req: { path: string }): Promise<ListFilesResponse>;
  /** One entry; a symlink in the last position is described, not followed. */
  stat(req: { path: string }): Promise<FileEntry>;
  /** Up to `length` bytes (capped at maxReadBytes) from byte `offset` of a regular file. */
  read(req: { path: string; offset: number; length: number }): Promise<AgentFileReadResult>;
  /** Writes a regular file, creating missing parent folders; `truncate` starts anew, `append` adds. */
  write(req: AgentFileWrite): Promise<WriteFileResponse>;
  /** Deletes a file, symlink (not its target) or empty folder; a full folder needs `recursive`. */
  delete(req: { path: string; recursive: boolean }): Promise<null>;
  /**
   * Moves a regular file to `to` (missing folders created), replacing a regular file or symlink there
   * atomically (with `noReplace`, CONFLICT if anything is there); a folder or special file is refused.
   */
  rename(req: { from: string; to: string; noReplace?: boolean }): Promise<{ path: string }>;
  /** Makes the folder `path` (and missing parents); an existing folder is fine, anything else there is CONFLICT. */
  makeDir(req: { path: string }): Promise<null>;
  /**
   * Makes `path` a symbolic link with text `target` (data: never followed, may point anywhere), replacing a
   * file or link there atomically (with `noReplace`, CONFLICT if anything is there); a folder there is CONFLICT.
   */
  makeLink(req: { path: string; target: string; noReplace?: boolean }): Promise<null>;
  /** Sets the regular file at `path` to mode 0755 (`exec`) or 0644: no other bit is ever set. */
  setExec(req: { path: string; exec: boolean }): Promise<null>;
}

function describeKind(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device file';
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a folder';
  return 'not a regular file';
}

function refuseKind(display: string, st: Stats): never {
  throw new AppError(
    'PATH_REFUSED',
    `path ${quotePath(display)} is refused: it is ${describeKind(st)}; only regular files and folders are served`,
  );
}

function toEntry(name: string, path: string, st: Stats): FileEntry {
  const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
  return { name, path, type, size: st.isFile() ? st.size : 0, mtime: st.mtime.toISOString() };
}

function childPath(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (err) {
    if (hasErrno(err, 'ENOENT')) return null;
    throw err;
  }
}

function positiveLimit(value: number | undefined, fallback: number, what: string): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v <= 0) throw new Error(`${what} must be a positive integer, got ${String(value)}`);
  return v;
}

/** Creates the file service for the workspace at `options.root`. Throws at once if the root is unusable. */
export function createFileService(options: FileServiceOptions): FileService {
  const root: WorkspaceRoot = inspectWorkspaceRoot(options.root);
  const maxReadBytes = positiveLimit(options.maxReadBytes, DEFAULT_MAX_READ_BYTES, 'maxReadBytes');
  const maxWriteBytes = positiveLimit(options.maxWriteBytes, DEFAULT_MAX_WRITE_BYTES, 'maxWriteBytes');
  const maxListEntries = positiveLimit(options.maxListEntries, DEFAULT_MAX_LIST_ENTRIES, 'maxListEntries');

  /**
   * Opens the last name of `loc` (never following a symlink, never blocking on a FIFO, never taking a
   * terminal) and keeps it only if it is a regular file still inside the workspace.
   */
  async function openLeaf(loc: Located, name: string, flags: number, display: string): Promise<FileHandle> {
    let fh: FileHandle;
    try {
      fh = await open(inDir(loc.chain.top, name), flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0o666);
    } catch (err) {
      throw toFileError(err, display);
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) refuseKind(display, st);
      await assertInside(root, fh, display);
      return fh;
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** Runs `body` on the located path, mapping any failure to an AppError and releasing held folders. */
  async function withLocated<T>(
    path: string,
    opts: { followLast: boolean; createDirs: boolean },
    body: (loc: Located, display: string) => Promise<T>,
  ): Promise<T> {
    const names = splitWorkspacePath(path);
    const display = names.join('/');
    const loc = await locate(root, names, display, opts);
    try {
      return await body(loc, display);
    } catch (err) {
      throw toFileError(err, display);
    } finally {
      await loc.chain.close();
    }
  }

  return {
    root: root.real,

    list: ({ path }) =>
      withLocated(path, { followLast: true, createDirs: false }, async (loc, display) => {
        if (loc.name !== null) {
          if (loc.stat === null) throw new AppError('NOT_FOUND', `no such folder: ${quotePath(display)}`);
          if (!loc.stat.isDirectory()) throw new AppError('BAD_REQUEST', `${quotePath(display)} is not a folder`);
          if (!(await loc.chain.enter(loc.name, display))) {
            throw new AppError('PATH_REFUSED', `${quotePath(display)} changed while it was opened; try again`);
          }
        }
        await loc.chain.assertTopInside(display);
        const dir = loc.chain.top;
        const names = (await readdir(fdPath(dir))).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        const shown = names.slice(0, maxListEntries);
        const entries: FileEntry[] = [];
        const batch = 64;
        for (let i = 0; i < shown.length; i += batch) {
          const stats = await Promise.all(shown.slice(i, i + batch).map((n) => lstatOrNull(inDir(dir, n))));
          stats.forEach((st, j) => {
            const n = shown[i + j]!;
            // Gone since readdir(): leave it out rather than fail the whole listing.
            if (st !== null) entries.push(toEntry(n, childPath(display, n), st));
          });
        }
        return names.length > shown.length ? { path: display, entries, truncated: true } : { path: display, entries };
      }),

    stat: ({ path }) =>
      withLocated(path, { followLast: false, createDirs: false }, async (loc, display) => {
        await loc.chain.assertTopInside(display);
        if (loc.name === null) {
          const st = await loc.chain.top.stat();
          const slash = display.lastIndexOf('/');
          return toEntry(display.slice(slash + 1), display, st);
        }
        if (loc.stat === null) throw new AppError('NOT_FOUND', `no such file or folder: ${quotePath(display)}`);
        return toEntry(loc.name, display, loc.stat);
      }),

    read: ({ path, offset, length }) => {
      if (!Number.isSafeInteger(offset) || offset < 0) {
        return Promise.reject(new AppError('BAD_REQUEST', 'offset is a whole number of bytes, 0 or more'));
      }
      if (!Number.isSafeInteger(length) || length <= 0) {
        return Promise.reject(new AppError('BAD_REQUEST', 'length is a whole number of bytes, 1 or more'));
      }
      return withLocated(path, { followLast: true, createDirs: false }, async (loc, display) => {
        if (loc.name === null || loc.stat?.isDirectory()) {
          throw new AppError('BAD_REQUEST', `${quotePath(display)} is a folder; list it instead`);
        }
        if (loc.stat === null) throw new AppError('NOT_FOUND', `no such file: ${quotePath(display)}`);
        // Refuse FIFOs, devices and sockets before any open(); openLeaf re-checks what it actually opened.
        if (!loc.stat.isFile()) refuseKind(display, loc.stat);
        const fh = await openLeaf(loc, loc.name, O_RDONLY, display);
        try {
          const size = (await fh.stat()).size;
          const want = Math.max(0, Math.min(length, maxReadBytes, size - offset));
          const data = Buffer.alloc(want);
          let got = 0;
          while (got < want) {
            const { bytesRead } = await fh.read(data, got, want - got, offset + got);
            if (bytesRead === 0) break;
            got += bytesRead;
          }
          return { data: data.subarray(0, got), size, eof: offset + got >= size };
        } finally {
          await fh.close();
        }
      });
    },

    write: ({ path, data, mode }) => {
      if (data.byteLength > maxWriteBytes) {
        return Promise.reject(
          new AppError(
            'PAYLOAD_TOO_LARGE',
            `one write carries at most ${maxWriteBytes} bytes; send larger files in chunks with mode "append"`,
          ),
        );
      }
      return withLocated(path, { followLast: true, createDirs: true }, async (loc, display) => {
        if (display === '')
          throw new AppError('BAD_REQUEST', 'give the path of a file to write, not the workspace root');
        if (loc.name === null || loc.stat?.isDirectory())
          throw new AppError('CONFLICT', `${quotePath(display)} is a folder`);
        if (loc.stat !== null && !loc.stat.isFile()) refuseKind(display, loc.stat);
        const flags = O_WRONLY | O_CREAT | (mode === 'truncate' ? O_TRUNC : O_APPEND);
        const fh = await openLeaf(loc, loc.name, flags, display);
        try {
          let done = 0;
          while (done < data.byteLength) {
            const { bytesWritten } = await fh.write(data, done, data.byteLength - done, null);
            done += bytesWritten;
          }
          return { path: display, size: (await fh.stat()).size };
        } finally {
          await fh.close();
        }
      });
    },

    rename: ({ from, to, noReplace }) =>
      withLocated(from, { followLast: false, createDirs: false }, async (src, fromDisplay) => {
        if (src.name === null || fromDisplay === '') {
          throw new AppError('PATH_REFUSED', 'the workspace root itself cannot be moved');
        }
        if (src.stat === null) throw new AppError('NOT_FOUND', `no such file: ${quotePath(fromDisplay)}`);
        if (!src.stat.isFile()) refuseKind(fromDisplay, src.stat);
        await src.chain.assertTopInside(fromDisplay);
        return withLocated(to, { followLast: false, createDirs: true }, async (dst, toDisplay) => {
          if (dst.name === null || toDisplay === '')
            throw new AppError('CONFLICT', `${quotePath(toDisplay)} is a folder`);
          if (dst.stat?.isDirectory()) throw new AppError('CONFLICT', `${quotePath(toDisplay)} is a folder`);
          // A symlink at `to` is replaced as a name (rename() never follows it), as sync needs.
          if (dst.stat !== null && !dst.stat.isFile() && !dst.stat.isSymbolicLink()) refuseKind(toDisplay, dst.stat);
          await dst.chain.assertTopInside(toDisplay);
          const fromPath = inDir(src.chain.top, src.name as string);
          const toPath = inDir(dst.chain.top, dst.name);
          if (noReplace) {
            // link() fails when the target exists: nothing that appeared meanwhile is replaced.
            try {
              await link(fromPath, toPath);
            } catch (err) {
              if (hasErrno(err, 'EEXIST')) throw new AppError('CONFLICT', `${quotePath(toDisplay)} exists`);
              throw err;
            }
            await unlink(fromPath);
          } else await rename(fromPath, toPath);
          return { path: toDisplay };
        });
      }),

    makeDir: ({ path }) =>
      withLocated(path, { followLast: false, createDirs: true }, async (loc, display) => {
        if (loc.name === null || loc.stat?.isDirectory()) return null;
        if (loc.stat !== null) throw new AppError('CONFLICT', `${quotePath(display)} exists and is not a folder`);
        await loc.chain.assertTopInside(display);
        try {
          await mkdir(inDir(loc.chain.top, loc.name), 0o755);
        } catch (err) {
          if (!hasErrno(err, 'EEXIST')) throw err;
        }
        return null;
      }),

    makeLink: ({ path, target, noReplace }) =>
      withLocated(path, { followLast: false, createDirs: true }, async (loc, display) => {
        if (loc.name === null || display === '' || loc.stat?.isDirectory()) {
          throw new AppError('CONFLICT', `${quotePath(display)} is a folder`);
        }
        if (loc.stat !== null && !loc.stat.isFile() && !loc.stat.isSymbolicLink()) refuseKind(display, loc.stat);
        await loc.chain.assertTopInside(display);
        if (noReplace) {
          try {
            await symlink(target, inDir(loc.chain.top, loc.name));
          } catch (err) {
            if (hasErrno(err, 'EEXIST')) throw new AppError('CONFLICT', `${quotePath(display)} exists`);
            throw err;
          }
          return null;
        }
        // A new link beside, renamed over: the name is never missing, and rename() follows no link.
        const tmp = `.rclaude-sync-${randomBytes(6).toString('hex')}`;
        await symlink(target, inDir(loc.chain.top, tmp));
        try {
          await rename(inDir(loc.chain.top, tmp), inDir(loc.chain.top, loc.name));
        } catch (err) {
          await unlink(inDir(loc.chain.top, tmp)).catch(() => {});
          throw err;
        }
        return null;
      }),

    setExec: ({ path, exec }) =>
      withLocated(path, { followLast: false, createDirs: false }, async (loc, display) => {
        if (loc.name === null || loc.stat === null)
          throw new AppError('NOT_FOUND', `no such file: ${quotePath(display)}`);
        if (!loc.stat.isFile()) refuseKind(display, loc.stat);
        const fh = await openLeaf(loc, loc.name, O_RDONLY, display);
        try {
          await fh.chmod(exec ? 0o755 : 0o644);
        } finally {
          await fh.close();
        }
        return null;
      }),

    delete: ({ path, recursive }) =>
      withLocated(path, { followLast: false, createDirs: false }, async (loc, display) => {
        if (display === '' || loc.name === null) {
          throw new AppError('PATH_REFUSED', 'the workspace root itself cannot be deleted');
        }
        if (loc.stat === null) throw new AppError('NOT_FOUND', `no such file or folder: ${quotePath(display)}`);
        await loc.chain.assertTopInside(display);
        const target = inDir(loc.chain.top, loc.name);
        if (!loc.stat.isDirectory()) await unlink(target);
        else if (recursive) await removeTree(loc.chain.top, loc.name, display);
        else await rmdir(target);
        return null;
      }),
  };
}
