import { createHash, randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { lstat, readdir, readlink, realpath } from 'node:fs/promises';
import {
  AppError,
  SYNC_EMPTY_SHA256,
  SYNC_MANIFEST_PAGE,
  SYNC_MAX_CHANGES,
  type SyncApplyRequest,
  type SyncApplyResponse,
  type SyncChange,
  type SyncChangesResponse,
  type SyncEntry,
  type SyncExpect,
  type SyncManifestResponse,
} from '@rclaude/protocol';
import { type FSWatcher, watch } from 'chokidar';
import type { FileService } from './file-service.js';

/** Names sync never looks into or reports, at any depth. */
export const SYNC_SKIPPED_NAMES: ReadonlySet<string> = new Set(['.git', 'node_modules']);
/** Temporary files of a transfer in progress (rclaude sync's own): never reported. */
export const SYNC_TEMP_PREFIX = '.rclaude-sync-';

export interface SyncServiceOptions {
  /** The file service of the same workspace: hashes are read through it, so reads stay confined. */
  files: FileService;
  /** The watcher stops after this long without a `changes` call. Default 60 s. */
  idleStopMs?: number;
  /** Most changed paths kept between two polls; more and the next poll says `reset`. Default 10 000. */
  maxPending?: number;
  /** Quiet time before a poll answers once something changed (batches a burst). Default 200 ms. */
  debounceMs?: number;
  /** Most files one manifest walk visits. Default 200 000. */
  maxFiles?: number;
}

export interface SyncService {
  manifest(req: { after?: string | undefined }): Promise<SyncManifestResponse>;
  changes(req: { cursor?: number | undefined; waitMs: number }): Promise<SyncChangesResponse>;
  /** One change, made only if the path still holds `expect` (hashed afresh, not from the cache). */
  apply(req: SyncApplyRequest): Promise<SyncApplyResponse>;
  close(): Promise<void>;
}

/** True when sync leaves `rel` (a `/`-separated workspace path) alone. */
export function syncSkips(rel: string): boolean {
  for (const name of rel.split('/')) {
    if (SYNC_SKIPPED_NAMES.has(name) || name.startsWith(SYNC_TEMP_PREFIX)) return true;
  }
  return false;
}

interface CachedHash {
  ino: number;
  size: number;
  mtimeMs: number;
  sha256: string;
}

/**
 * The agent's half of `rclaude sync` (ADR 0022): a paged manifest of the workspace's regular files with their
 * sha256, and a long poll of what changed, fed by a chokidar watcher started by the first poll and stopped
 * when nobody polls. It decides nothing: the client reconciles.
 */
export function createSyncService(options: SyncServiceOptions): SyncService {
  const { files } = options;
  const root = files.root;
  const idleStopMs = options.idleStopMs ?? 60_000;
  const maxPending = options.maxPending ?? 10_000;
  const debounceMs = options.debounceMs ?? 200;
  const maxFiles = options.maxFiles ?? 200_000;
  const hashes = new Map<string, CachedHash>();

  /** The sha256 of a regular file, read through the confined file service; cached by inode, size and mtime. */
  async function hashOf(
    path: string,
    st: { ino: number; size: number; mtimeMs: number },
    fresh = false,
  ): Promise<string> {
    const cached = hashes.get(path);
    if (!fresh && cached && cached.ino === st.ino && cached.size === st.size && cached.mtimeMs === st.mtimeMs) {
      return cached.sha256;
    }
    const h = createHash('sha256');
    let offset = 0;
    for (;;) {
      const chunk = await files.read({ path, offset, length: 4 * 1024 * 1024 });
      h.update(chunk.data);
      offset += chunk.data.byteLength;
      if (chunk.eof || chunk.data.byteLength === 0) break;
    }
    const sha256 = h.digest('hex');
    if (hashes.size >= maxFiles) hashes.clear();
    hashes.set(path, { ...st, sha256 });
    return sha256;
  }

  /**
   * The entry of `path` as it is now: a file's, a link's (its text, read only when the folder holding it lies
   * inside the workspace) or a folder's; null when gone, undefined for anything else (FIFOs, devices, sockets).
   */
  async function entryOf(path: string, fresh = false): Promise<SyncEntry | null | undefined> {
    let st: Awaited<ReturnType<typeof lstat>>;
    try {
      st = await lstat(`${root}/${path}`);
    } catch {
      return null;
    }
    const mtimeMs = Math.floor(st.mtimeMs);
    if (st.isDirectory()) return { path, type: 'dir', size: 0, mtimeMs, sha256: SYNC_EMPTY_SHA256, exec: false };
    if (st.isSymbolicLink()) {
      try {
        const slash = path.lastIndexOf('/');
        const parent = await realpath(slash < 0 ? root : `${root}/${path.slice(0, slash)}`);
        if (parent !== root && !parent.startsWith(`${root}/`)) return undefined;
        const target = await readlink(`${root}/${path}`);
        const sha256 = createHash('sha256').update(target).digest('hex');
        return { path, type: 'link', size: 0, mtimeMs, sha256, exec: false, target };
      } catch {
        return null;
      }
    }
    if (!st.isFile()) return undefined;
    try {
      const sha256 = await hashOf(path, st, fresh);
      return { path, type: 'file', size: st.size, mtimeMs, sha256, exec: (st.mode & 0o100) !== 0 };
    } catch (err) {
      if (err instanceof AppError && err.code === 'NOT_FOUND') return null;
      // Refused (a symlink swapped in, a FIFOs): sync leaves it alone.
      return undefined;
    }
  }

  const holds = (cur: SyncEntry | null, expect: SyncExpect): boolean =>
    expect === null
      ? cur === null
      : cur !== null &&
        cur.type === expect.type &&
        cur.sha256 === expect.sha256 &&
        (cur.type !== 'file' || cur.exec === expect.exec);

  /**
   * Moves the file at `path` aside (rename is atomic: whatever is there now moves) and keeps it aside only if it
   * still holds `expect`; else it goes back (unless a newer write made the name again) and the answer is null.
   * While it is aside, a write by the sandbox makes a new file, which the caller never replaces.
   */
  async function setAside(path: string, expect: SyncExpect): Promise<string | null> {
    const slash = path.lastIndexOf('/');
    const aside = `${slash < 0 ? '' : path.slice(0, slash + 1)}${SYNC_TEMP_PREFIX}old-${randomBytes(6).toString('hex')}`;
    try {
      // A plain rename: atomic, and nothing is at the fresh aside name to replace.
      await files.rename({ from: path, to: aside });
    } catch (err) {
      if (err instanceof AppError && err.code === 'NOT_FOUND') return null;
      throw err;
    }
    const held = await entryOf(aside, true);
    if (held && holds({ ...held, path }, expect)) return aside;
    await files
      .rename({ from: aside, to: path, noReplace: true })
      .catch(() => files.delete({ path: aside, recursive: false }));
    return null;
  }

  /** Deletes the file, link or empty folder at `path`; false when the folder is not empty. */
  async function remove(path: string): Promise<boolean> {
    try {
      await files.delete({ path, recursive: false });
      return true;
    } catch (err) {
      if (err instanceof AppError && err.code === 'NOT_FOUND') return true;
      if (err instanceof AppError && /not empty/i.test(err.message)) return false;
      throw err;
    }
  }

  /** Every file's, link's and folder's path, sorted (byte order of the UTF-16 strings). */
  async function walk(): Promise<string[]> {
    const out: string[] = [];
    const pending = [''];
    while (pending.length > 0) {
      const dir = pending.pop() as string;
      let entries: Dirent[];
      try {
        entries = await readdir(dir === '' ? root : `${root}/${dir}`, { withFileTypes: true });
      } catch {
        continue;
      }
      for (const e of entries) {
        const rel = dir === '' ? e.name : `${dir}/${e.name}`;
        if (syncSkips(e.name)) continue;
        // Symlinks are reported as links and never followed; special files are left out.
        if (e.isDirectory()) pending.push(rel);
        if (e.isDirectory() || e.isFile() || e.isSymbolicLink()) {
          out.push(rel);
          if (out.length > maxFiles) {
            throw new AppError('PAYLOAD_TOO_LARGE', `the workspace holds more than ${maxFiles} entries; sync refuses`);
          }
        }
      }
    }
    return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  // ---- the watcher -----------------------------------------------------------------------------------
  let watcher: FSWatcher | null = null;
  let ready: Promise<void> | null = null;
  /** Cursors are numbers; a new watcher starts above any cursor an older one gave out. */
  let seq = 0;
  let floor = 0;
  const pending = new Map<string, number>();
  const wakers = new Set<() => void>();
  const wakeAll = () => {
    for (const w of [...wakers]) w();
  };
  let idleTimer: NodeJS.Timeout | null = null;
  let polls = 0;

  function note(abs: string): void {
    if (!abs.startsWith(`${root}/`)) return;
    const rel = abs.slice(root.length + 1);
    if (rel === '' || syncSkips(rel)) return;
    seq += 1;
    pending.delete(rel);
    pending.set(rel, seq);
    if (pending.size > maxPending) {
      pending.clear();
      floor = seq;
    }
    wakeAll();
  }

  function startWatcher(): Promise<void> {
    if (ready) return ready;
    seq = Math.max(seq, Date.now() * 1000);
    floor = seq;
    const w = watch(root, {
      ignoreInitial: true,
      followSymlinks: false,
      ignored: (p: string) => {
        const rel = p.startsWith(`${root}/`) ? p.slice(root.length + 1) : '';
        return rel !== '' && syncSkips(rel);
      },
    });
    watcher = w;
    w.on('add', note).on('change', note).on('unlink', note).on('addDir', note).on('unlinkDir', note);
    w.on('error', () => {
      // An unwatchable folder: its changes are missed until the next reconcile.
    });
    ready = new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 30_000);
      w.once('ready', () => {
        clearTimeout(t);
        resolve();
      });
    });
    return ready;
  }

  async function stopWatcher(): Promise<void> {
    const w = watcher;
    watcher = null;
    ready = null;
    pending.clear();
    wakeAll();
    if (w) await w.close();
  }

  function armIdle(): void {
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = null;
    if (polls > 0) return;
    idleTimer = setTimeout(() => void stopWatcher(), idleStopMs);
    idleTimer.unref();
  }

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        wakers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      wakers.add(done);
    });

  const newerThan = (cursor: number) => [...pending].filter(([, s]) => s > cursor);

  return {
    async manifest({ after }) {
      const all = await walk();
      let start = 0;
      if (after !== undefined) {
        while (start < all.length && (all[start] as string) <= after) start += 1;
      }
      const page = all.slice(start, start + SYNC_MANIFEST_PAGE);
      const entries: SyncEntry[] = [];
      for (const path of page) {
        const e = await entryOf(path);
        if (e) entries.push(e);
      }
      const last = page[page.length - 1];
      return start + page.length < all.length && last !== undefined ? { entries, next: last } : { entries };
    },

    async changes({ cursor, waitMs }) {
      polls += 1;
      armIdle();
      try {
        const fresh = watcher === null;
        await startWatcher();
        if (fresh || cursor === undefined || cursor < floor) return { cursor: seq, changes: [], reset: true };
        const deadline = Date.now() + waitMs;
        while (newerThan(cursor).length === 0 && Date.now() < deadline && watcher !== null) {
          await sleep(Math.min(1000, deadline - Date.now()));
        }
        if (watcher === null) return { cursor: seq, changes: [], reset: true };
        // Let a burst settle, a little: the last write of a file is the one worth reporting.
        const settleBy = Date.now() + 5 * debounceMs;
        let last = seq;
        while (Date.now() < settleBy) {
          await sleep(debounceMs);
          if (seq === last) break;
          last = seq;
        }
        if (cursor < floor) return { cursor: seq, changes: [], reset: true };
        const picked = newerThan(cursor)
          .sort((a, b) => a[1] - b[1])
          .slice(0, SYNC_MAX_CHANGES);
        const changes: SyncChange[] = [];
        for (const [path] of picked) {
          const e = await entryOf(path);
          if (e === null) changes.push({ kind: 'delete', path });
          else if (e !== undefined) changes.push({ kind: 'change', ...e });
        }
        const next = picked.length > 0 ? (picked[picked.length - 1] as [string, number])[1] : cursor;
        return { cursor: next, changes, reset: false };
      } finally {
        polls -= 1;
        armIdle();
      }
    },

    async apply(req) {
      if (syncSkips(req.path)) {
        throw new AppError('PATH_REFUSED', `sync leaves ${JSON.stringify(req.path.slice(0, 200))} alone`);
      }
      const cur = await entryOf(req.path, true);
      if (cur === undefined) {
        throw new AppError(
          'PATH_REFUSED',
          `${JSON.stringify(req.path.slice(0, 200))} is a special file; sync leaves it alone`,
        );
      }
      // Compare-and-swap: the path must still hold what the client last saw, or nothing changes.
      if (!holds(cur, req.expect)) return { applied: false, entry: cur };
      // A folder must be empty to go; a file is set aside and checked there first, so no write is lost.
      const clear = async (): Promise<boolean> => {
        if (cur?.type === 'dir') return remove(req.path);
        if (cur?.type !== 'file') return true;
        const aside = await setAside(req.path, req.expect);
        if (aside !== null) await files.delete({ path: aside, recursive: false });
        return aside !== null;
      };
      const clearFolder = async () => (cur?.type === 'dir' ? remove(req.path) : true);
      const stale = async () => ({ applied: false, entry: (await entryOf(req.path, true)) ?? null });
      switch (req.op) {
        case 'put': {
          if (!(await clearFolder())) return stale();
          await files.setExec({ path: req.from, exec: req.exec });
          // A file there is moved aside and checked there: no write of the sandbox is replaced unseen.
          let aside = cur?.type === 'file' ? await setAside(req.path, req.expect) : null;
          if (cur?.type === 'file' && aside === null) return stale();
          try {
            await files.rename({ from: req.from, to: req.path, noReplace: cur?.type !== 'link' });
          } catch (err) {
            // Created meanwhile: theirs stays.
            if (err instanceof AppError && err.code === 'CONFLICT') return stale();
            // Failed for another reason: what was there goes back.
            if (
              aside !== null &&
              (await files.rename({ from: aside, to: req.path, noReplace: true }).then(
                () => true,
                () => false,
              ))
            ) {
              aside = null;
            }
            throw err;
          } finally {
            // What was aside is what the client saw: it has it already (or its conflict copy).
            if (aside !== null) await files.delete({ path: aside, recursive: false }).catch(() => {});
          }
          break;
        }
        case 'link':
          if (!(await clear())) return stale();
          try {
            // Only a link is replaced in place; anything else is gone by now, and what appears meanwhile stays.
            await files.makeLink({ path: req.path, target: req.target, noReplace: cur?.type !== 'link' });
          } catch (err) {
            if (err instanceof AppError && err.code === 'CONFLICT') return stale();
            throw err;
          }
          break;
        case 'mkdir':
          if (cur?.type === 'link') await remove(req.path);
          else if (cur?.type === 'file' && !(await clear())) return stale();
          try {
            await files.makeDir({ path: req.path });
          } catch (err) {
            if (err instanceof AppError && err.code === 'CONFLICT') return stale();
            throw err;
          }
          break;
        case 'chmod':
          await files.setExec({ path: req.path, exec: req.exec });
          break;
        case 'delete':
          if (cur?.type === 'file') {
            const aside = await setAside(req.path, req.expect);
            if (aside === null) return stale();
            await files.delete({ path: aside, recursive: false });
          } else if (!(await remove(req.path))) return stale();
          break;
      }
      return { applied: true, entry: (await entryOf(req.path, true)) ?? null };
    },

    async close() {
      if (idleTimer) clearTimeout(idleTimer);
      await stopWatcher();
    },
  };
}
