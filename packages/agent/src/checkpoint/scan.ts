import { createHash } from 'node:crypto';
import fsSync, { type BigIntStats, constants as fsConstants } from 'node:fs';
import path from 'node:path';
import type { CheckpointManifest, CheckpointRoot, ManifestEntry } from '@rclaude/protocol';
import { isExcludedDir } from './ignore-policy.js';

/** The SHA-256 of no bytes: an empty file's blob. */
export const EMPTY_HASH = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/**
 * Hashes of files this agent already read, by what identifies an unchanged file: device, inode, size and
 * modification and change times in nanoseconds. A second checkpoint of a mostly unchanged tree then reads only
 * what changed. Lives as long as the agent; each scan keeps only the files it saw.
 */
export class HashCache {
  private current = new Map<string, string>();
  private next: Map<string, string> | null = null;

  static key(st: BigIntStats): string {
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  }

  get(key: string): string | undefined {
    const hash = this.current.get(key);
    if (hash !== undefined) this.next?.set(key, hash);
    return hash;
  }

  set(key: string, hash: string): void {
    this.current.set(key, hash);
    this.next?.set(key, hash);
  }

  forget(key: string): void {
    this.current.delete(key);
    this.next?.delete(key);
  }

  /** Starts a scan: what it does not touch is dropped at {@link endScan}. */
  beginScan(): void {
    this.next = new Map();
  }

  endScan(): void {
    if (this.next) this.current = this.next;
    this.next = null;
  }

  get size(): number {
    return this.current.size;
  }
}

/** Where one blob's bytes are read from for an upload. */
export interface BlobSource {
  abs: string;
  size: number;
  /** The hash cache's key for the file when it was hashed (forgotten if it changed since). */
  key: string | null;
}

export interface ScanResult {
  entries: ManifestEntry[];
  excluded: CheckpointManifest['excluded'];
  /** Each distinct blob once, with one file to read it from. */
  blobs: Map<string, BlobSource>;
  claudeSessionId: string | null;
  files: number;
  bytes: number;
}

export interface ScanOptions {
  roots: { root: CheckpointRoot; abs: string }[];
  cache: HashCache;
  /** Most entries; more fails the scan (the manifest format's limit). */
  maxEntries: number;
}

/** Files modified this recently are hashed but not cached: a write in the same clock tick could go unseen. */
const RACY_MS = 2000;
const SLICE_MS = 8;
const READ_CHUNK = 1 << 20;
const OPEN_FLAGS = fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK;
const SESSION_FILE = /^([A-Za-z0-9][A-Za-z0-9-]{0,127})\.jsonl$/;

export class TooManyEntriesError extends Error {}

/**
 * Reads the checkpoint's roots into manifest entries, parents before children and names sorted. Never follows a
 * symbolic link (it is an entry of its own); leaves out the ignore policy's folders (workspace only) and
 * special files, counting them in `excluded`; a file or folder that vanishes while it is read is left out.
 */
export async function scanRoots(opts: ScanOptions): Promise<ScanResult> {
  const yielder = createYielder();
  const excluded = new Map<string, { dirs: number; bytes: number }>();
  let special = 0;
  let unreadable = 0;
  let unsupported = 0;
  let count = 0;
  const blobs = new Map<string, BlobSource>();
  let files = 0;
  let bytes = 0;
  let session: { id: string; mtimeNs: bigint } | null = null;

  const bump = (): void => {
    if (++count > opts.maxEntries) throw new TooManyEntriesError(`more than ${opts.maxEntries} entries`);
  };

  async function hashFile(abs: string): Promise<{ hash: string; size: number; key: string | null } | null> {
    let fd: number;
    try {
      fd = fsSync.openSync(abs, OPEN_FLAGS);
    } catch (err) {
      if (isGone(err)) return null;
      if (isDenied(err)) {
        unreadable++;
        return null;
      }
      throw err;
    }
    try {
      const before = fsSync.fstatSync(fd, { bigint: true });
      // Replaced by something else since its lstat (a FIFO would block a read): leave it out this time.
      if (!before.isFile()) return null;
      const sha = createHash('sha256');
      let size = 0;
      const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(1, Number(before.size) + 1)));
      for (;;) {
        const bytesRead = fsSync.readSync(fd, buf, 0, buf.length, size);
        if (bytesRead === 0) break;
        sha.update(buf.subarray(0, bytesRead));
        size += bytesRead;
        await yielder();
      }
      const after = fsSync.fstatSync(fd, { bigint: true });
      const key = HashCache.key(before);
      const stable = key === HashCache.key(after) && BigInt(size) === after.size;
      const racy = Date.now() - Number(after.mtimeNs / 1_000_000n) < RACY_MS;
      return { hash: sha.digest('hex'), size, key: stable && !racy ? key : null };
    } finally {
      fsSync.closeSync(fd);
    }
  }

  async function sizeOf(abs: string): Promise<number> {
    let names: string[];
    try {
      names = fsSync.readdirSync(abs);
    } catch {
      return 0;
    }
    let total = 0;
    for (const name of names) {
      await yielder();
      const child = path.join(abs, name);
      let st: fsSync.Stats;
      try {
        st = fsSync.lstatSync(child);
      } catch {
        continue;
      }
      if (st.isDirectory()) total += await sizeOf(child);
      else if (st.isFile()) total += st.size;
    }
    return total;
  }

  async function walk(root: CheckpointRoot, absDir: string, relDir: string, out: ManifestEntry[]): Promise<void> {
    let names: string[];
    try {
      names = fsSync.readdirSync(absDir);
    } catch (err) {
      if (isGone(err)) return;
      if (isDenied(err)) {
        unreadable++;
        return;
      }
      throw err;
    }
    names.sort();
    const siblings = new Set(names);
    for (const name of names) {
      await yielder();
      const rel = relDir ? `${relDir}/${name}` : name;
      const abs = path.join(absDir, name);
      // The format cannot hold these (see checkpointPathSchema): count them rather than fail the checkpoint.
      if (name.includes('\\') || name.length > 255 || rel.length > 4096) {
        unsupported++;
        continue;
      }
      let st: BigIntStats;
      try {
        st = fsSync.lstatSync(abs, { bigint: true });
      } catch (err) {
        if (isGone(err)) continue;
        throw err;
      }
      const mode = Number(st.mode & 0o7777n);
      if (st.isDirectory()) {
        if (root === 'workspace' && (await isExcludedDir(name, abs, siblings))) {
          const bytesOut = await sizeOf(abs);
          const seen = excluded.get(name) ?? { dirs: 0, bytes: 0 };
          excluded.set(name, { dirs: seen.dirs + 1, bytes: seen.bytes + bytesOut });
          continue;
        }
        bump();
        out.push({ type: 'dir', root, path: rel, mode });
        await walk(root, abs, rel, out);
        continue;
      }
      if (st.isSymbolicLink()) {
        let target: string;
        try {
          target = fsSync.readlinkSync(abs);
        } catch (err) {
          if (isGone(err)) continue;
          throw err;
        }
        if (target.length === 0 || target.length > 4096) {
          unsupported++;
          continue;
        }
        bump();
        out.push({ type: 'symlink', root, path: rel, target });
        continue;
      }
      if (!st.isFile()) {
        special++;
        continue;
      }
      const cachedKey = HashCache.key(st);
      let hash = opts.cache.get(cachedKey);
      let size = Number(st.size);
      let key: string | null = cachedKey;
      if (hash === undefined) {
        const read = await hashFile(abs);
        if (!read) continue;
        ({ hash, size, key } = read);
        if (key) opts.cache.set(key, hash);
      }
      bump();
      files++;
      bytes += size;
      if (!blobs.has(hash)) blobs.set(hash, { abs, size, key });
      if (root === 'claude' && relDir === '') {
        const m = SESSION_FILE.exec(name);
        if (m?.[1] && (!session || st.mtimeNs > session.mtimeNs)) session = { id: m[1], mtimeNs: st.mtimeNs };
      }
      out.push({ type: 'file', root, path: rel, mode, size, hash });
    }
  }

  opts.cache.beginScan();
  const entries: ManifestEntry[] = [];
  try {
    for (const { root, abs } of opts.roots) await walk(root, abs, '', entries);
  } finally {
    opts.cache.endScan();
  }
  const out: CheckpointManifest['excluded'] = [...excluded]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, v]) => ({ name, dirs: v.dirs, bytes: v.bytes }));
  if (special > 0) out.push({ name: `special files (${special}): sockets, FIFOs, devices`, dirs: 0, bytes: 0 });
  if (unreadable > 0) out.push({ name: `unreadable (${unreadable}): permission denied`, dirs: 0, bytes: 0 });
  if (unsupported > 0)
    out.push({ name: `unsupported names (${unsupported}): backslash or too long`, dirs: 0, bytes: 0 });
  const found = session as { id: string } | null;
  return { entries, excluded: out, blobs, claudeSessionId: found?.id ?? null, files, bytes };
}

/**
 * File system calls here are synchronous, in slices of at most {@link SLICE_MS} between which the event loop
 * runs: on a small machine, tens of thousands of small files go several times faster than through libuv's
 * thread pool, and the agent's terminals still get the loop every few milliseconds.
 */
export function createYielder(sliceMs = SLICE_MS): () => Promise<void> {
  let sliceStart = performance.now();
  return async () => {
    if (performance.now() - sliceStart < sliceMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    sliceStart = performance.now();
  };
}

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

/** Gone, or no longer what it was (a folder became a file or a link): leave it out of this scan. */
function isGone(err: unknown): boolean {
  const c = code(err);
  return c === 'ENOENT' || c === 'ENOTDIR' || c === 'ELOOP';
}

function isDenied(err: unknown): boolean {
  const c = code(err);
  return c === 'EACCES' || c === 'EPERM';
}
