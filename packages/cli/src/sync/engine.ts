import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { ApiNetworkError } from '@rclaude/client/rest';
import { AppError, SYNC_EMPTY_SHA256, type SyncApplyRequest, type SyncEntry, type SyncExpect } from '@rclaude/protocol';
import { type FSWatcher, watch } from 'chokidar';
import type { ApiClient } from '../api.js';
import { type IgnoreRules, isAlwaysIgnoredName, TEMP_PREFIX } from './ignore.js';
import { checkRemotePath, localTarget, SyncPathError } from './paths.js';
import type { SyncState } from './state.js';

/** What sync reports, one per line with `--json`. */
export type SyncEvent =
  /** `kind`: what travelled: a file's bytes, a link's text, a folder, or only a file's exec bit (`mode`). */
  | { type: 'upload' | 'download'; path: string; size: number; kind: 'file' | 'link' | 'dir' | 'mode' }
  | { type: 'delete-local' | 'delete-remote'; path: string }
  | { type: 'conflict'; path: string; remoteCopy: string }
  | { type: 'refused'; path: string; reason: string }
  | { type: 'error'; path: string; message: string }
  | { type: 'ready'; local: number; remote: number; changes: number }
  | { type: 'stopped'; reason: string };

/** One entry as sync sees it on either side (see `syncEntrySchema`). */
interface Node {
  type: 'file' | 'link' | 'dir';
  /** A file's content hash, a link's hash of its text, the hash of nothing for a folder. */
  sha256: string;
  exec: boolean;
  size: number;
  mtimeMs: number;
  target?: string | undefined;
}

/** What is compared three ways: equal keys are the same entry on both sides. */
function keyOf(n: { type?: Node['type'] | undefined; sha256: string; exec?: boolean | undefined } | null | undefined) {
  if (!n) return null;
  const type = n.type ?? 'file';
  return `${type}:${n.sha256}:${type === 'file' && n.exec ? 'x' : ''}`;
}

function expectOf(n: Node | null): SyncExpect {
  return n && { type: n.type, sha256: n.sha256, exec: n.type === 'file' && n.exec };
}

/** The mode sync gives a file it writes: only the exec bit comes from the other side, never any other bit. */
const fileMode = (exec: boolean) => (exec ? 0o755 : 0o644);

/**
 * A path changed on one side after the engine looked at it and before it would have replaced it: nothing was
 * replaced; the path is settled again with what it holds now.
 */
class StaleError extends Error {
  constructor(readonly rel: string) {
    super(`${rel} changed while it was being synced`);
  }
}

export interface SyncEngineOptions {
  api: ApiClient;
  taskId: string;
  /** The local folder, absolute with symlinks resolved. */
  dir: string;
  state: SyncState;
  rules: IgnoreRules;
  prefer?: 'local' | 'remote' | undefined;
  report(event: SyncEvent): void;
  /** Progress for a person (stderr); not called with `--json`. */
  progress(line: string): void;
}

/** Stops the whole sync (the task is gone, the server refuses us): anything else is one path's failure. */
function isFatal(err: unknown): boolean {
  return (
    err instanceof AppError &&
    ['TASK_NOT_RUNNING', 'UNAUTHENTICATED', 'FORBIDDEN', 'AGENT_UNAVAILABLE'].includes(err.code)
  );
}

async function hashFile(abs: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(fs.createReadStream(abs), async function* (source) {
    for await (const chunk of source) h.update(chunk as Buffer);
    yield* [];
  });
  return h.digest('hex');
}

/** `a/b.txt` with sha `0123abcd…` → `a/b.remote-0123abcd.txt` (a leading-dot name keeps its dot). */
export function remoteCopyName(rel: string, sha256: string, n = 0): string {
  const slash = rel.lastIndexOf('/');
  const dir = rel.slice(0, slash + 1);
  const name = rel.slice(slash + 1);
  const dot = name.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
  return `${dir}${stem}.remote-${sha256.slice(0, 8)}${n > 0 ? `-${n}` : ''}${ext}`;
}

/**
 * The client half of `rclaude sync` (ADR 0022): a three-way reconcile of base, local and remote per path,
 * transfers that stream through temporary files renamed into place, and the live loop (a chokidar watcher of
 * the folder, a long poll of the workspace's changes).
 */
export class SyncEngine {
  private readonly remote = new Map<string, Node>();
  /** Folders to delete once everything under them is settled (deepest first). */
  private deferred: string[] | null = null;
  private readonly dirty = new Set<string>();
  private cursor: number | undefined;
  private watcher: FSWatcher | null = null;
  /** Marked paths are settled only once `live()` runs; before, they wait. */
  private running = false;
  /** Set by `stop()`: a reconcile in progress ends after the file it is on. */
  private stopping = false;
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | null = null;
  private work: Promise<void> = Promise.resolve();
  private fatal: unknown = null;
  private stopResolve: ((reason: string) => void) | null = null;
  /** Counts of what was done, for the summary. */
  readonly counts = { upload: 0, download: 0, deleteLocal: 0, deleteRemote: 0, conflict: 0, refused: 0, errors: 0 };

  constructor(private readonly o: SyncEngineOptions) {}

  private get id() {
    return { id: this.o.taskId };
  }

  // ---- the two sides ---------------------------------------------------------------------------------

  /**
   * The local entry at `rel` now: null when there is none, undefined for a special file (left alone). A link is
   * read, never followed.
   */
  private async local(rel: string): Promise<Node | null | undefined> {
    const abs = localTarget(this.o.dir, rel, { create: false, anyLeaf: true });
    const st = fs.lstatSync(abs, { throwIfNoEntry: false });
    if (!st) return null;
    if (st.isDirectory()) return { type: 'dir', sha256: SYNC_EMPTY_SHA256, exec: false, size: 0, mtimeMs: st.mtimeMs };
    if (st.isSymbolicLink()) {
      const target = fs.readlinkSync(abs);
      const sha256 = createHash('sha256').update(target).digest('hex');
      return { type: 'link', sha256, exec: false, size: 0, mtimeMs: st.mtimeMs, target };
    }
    if (!st.isFile()) return undefined;
    const exec = (st.mode & 0o100) !== 0;
    const base = this.o.state.files.get(rel);
    if (base?.type === undefined && base?.local && base.local.size === st.size && base.local.mtimeMs === st.mtimeMs) {
      return { type: 'file', sha256: base.sha256, exec, size: st.size, mtimeMs: st.mtimeMs };
    }
    return { type: 'file', sha256: await hashFile(abs), exec, size: st.size, mtimeMs: st.mtimeMs };
  }

  /** Every file, link and folder under the folder, relative, not ignored. Symlinks are not followed. */
  private async localPaths(): Promise<string[]> {
    const out: string[] = [];
    const pending = [''];
    while (pending.length > 0) {
      const rel = pending.pop() as string;
      const entries = fs.readdirSync(rel === '' ? this.o.dir : path.join(this.o.dir, rel), { withFileTypes: true });
      for (const e of entries) {
        const child = rel === '' ? e.name : `${rel}/${e.name}`;
        if (isAlwaysIgnoredName(e.name) || e.name.startsWith(TEMP_PREFIX)) continue;
        if (e.isDirectory()) pending.push(child);
        if (e.isDirectory() || e.isFile() || e.isSymbolicLink()) out.push(child);
      }
    }
    const ignored = await this.o.rules.ignored(out);
    return out.filter((p) => !ignored.has(p));
  }

  /** Keeps the entries of `entries` whose paths are acceptable and not ignored; reports the refused. */
  private async acceptRemote<T extends { path: string; type?: string; target?: string; sha256?: string }>(
    entries: readonly T[],
  ): Promise<T[]> {
    const ok: T[] = [];
    for (const e of entries) {
      try {
        checkRemotePath(e.path);
        // A link's entry must name its text, and its hash must be the text's: the text is what is written here.
        if (
          e.type === 'link' &&
          (e.target === undefined || createHash('sha256').update(e.target).digest('hex') !== e.sha256)
        ) {
          throw new SyncPathError(e.path, 'a link whose text does not match its hash');
        }
        ok.push(e);
      } catch (err) {
        this.refuse(e.path, err);
      }
    }
    const ignored = await this.o.rules.ignored(ok.map((e) => e.path));
    return ok.filter((e) => !ignored.has(e.path));
  }

  private refuse(p: string, err: unknown): void {
    this.counts.refused += 1;
    this.o.report({ type: 'refused', path: p, reason: err instanceof Error ? err.message : String(err) });
  }

  private async fetchManifest(): Promise<void> {
    this.remote.clear();
    let after: string | undefined;
    for (let page = 0; page < 10_000; page += 1) {
      const res = await this.o.api.call('syncManifest', {
        params: this.id,
        query: after === undefined ? {} : { after },
      });
      for (const e of await this.acceptRemote(res.entries)) this.remote.set(e.path, e);
      if (res.next === undefined || res.next === after) break;
      after = res.next;
      this.o.progress(`remote: ${this.remote.size} files listed…`);
    }
  }

  // ---- transfers: every replacement is a compare-and-swap --------------------------------------------

  /**
   * Refuses (StaleError) unless the local `target` still holds `seen`: the same type, size, mtime and exec bit,
   * the same hash (read again) or link text. The last lstat() is synchronous and so is whatever the caller does
   * right after, so no other code of ours runs in between.
   */
  private async checkLocal(rel: string, target: string, seen: Node | null): Promise<void> {
    const st0 = fs.lstatSync(target, { throwIfNoEntry: false });
    const same = (st: fs.Stats | undefined): boolean => {
      if (seen === null || st === undefined) return seen === null && st === undefined;
      if (seen.type === 'dir') return st.isDirectory();
      if (seen.type === 'link') return st.isSymbolicLink() && fs.readlinkSync(target) === seen.target;
      return (
        st.isFile() && st.size === seen.size && st.mtimeMs === seen.mtimeMs && ((st.mode & 0o100) !== 0) === seen.exec
      );
    };
    if (!same(st0)) throw new StaleError(rel);
    if (seen?.type === 'file' && (await hashFile(target)) !== seen.sha256) throw new StaleError(rel);
    const st1 = fs.lstatSync(target, { throwIfNoEntry: false });
    if (!same(st1) || st0?.ino !== st1?.ino) throw new StaleError(rel);
  }

  /**
   * Moves the local file `target` aside (rename is atomic: whatever is there now moves) and keeps it aside only
   * if it is what the engine saw; else it goes back and the path is StaleError. Returns the aside name. Aside,
   * the name is free: a write that comes meanwhile creates a new file that the caller never replaces.
   */
  private async setAsideLocal(rel: string, target: string, seen: Node): Promise<string> {
    const aside = path.join(path.dirname(target), `${TEMP_PREFIX}old-${randomBytes(6).toString('hex')}`);
    try {
      fs.renameSync(target, aside);
    } catch {
      throw new StaleError(rel);
    }
    let same = false;
    try {
      await this.checkLocal(rel, aside, seen);
      same = true;
    } catch (err) {
      if (!(err instanceof StaleError)) throw err;
    }
    if (!same) {
      try {
        fs.linkSync(aside, target);
      } catch {
        // A newer write made the name again: the local side's own later edit stands.
      }
      fs.rmSync(aside, { force: true });
      throw new StaleError(rel);
    }
    return aside;
  }

  /** Puts `tmp` (a file or link made beside it) at `rel` if `rel` still holds `seen`; else StaleError. */
  private async swapIn(rel: string, tmp: string, seen: Node | null): Promise<void> {
    let aside: string | null = null;
    try {
      const target = localTarget(this.o.dir, rel, { create: true, anyLeaf: true });
      if (seen?.type === 'file') aside = await this.setAsideLocal(rel, target, seen);
      else await this.checkLocal(rel, target, seen);
      if (seen?.type === 'dir') {
        try {
          fs.rmdirSync(target);
        } catch {
          throw new StaleError(rel);
        }
      }
      if (seen === null || seen.type === 'dir' || seen.type === 'file') {
        // link() never replaces: a file that appeared meanwhile stays.
        try {
          fs.linkSync(tmp, target);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new StaleError(rel);
          throw err;
        }
      } else fs.renameSync(tmp, target);
    } finally {
      fs.rmSync(tmp, { force: true });
      // What was aside is what the engine saw: already on the other side (or its conflict copy).
      if (aside !== null) fs.rmSync(aside, { force: true });
    }
  }

  private tmpBeside(rel: string): string {
    const target = localTarget(this.o.dir, rel, { create: true, anyLeaf: true });
    return path.join(path.dirname(target), `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
  }

  /** Streams the remote file `rel` into `to` (default `rel`), which must still hold `seen`. */
  private async download(rel: string, r: Node, seen: Node | null, to = rel): Promise<Node> {
    const tmp = this.tmpBeside(to);
    const res = await this.o.api.call('downloadFile', { params: this.id, query: { path: rel } });
    if (!res.body) throw new AppError('AGENT_UNAVAILABLE', 'the server sent no file body');
    const h = createHash('sha256');
    let size = 0;
    try {
      await pipeline(
        Readable.fromWeb(res.body as NodeReadableStream),
        new Transform({
          transform(chunk: Buffer, _enc, done) {
            h.update(chunk);
            size += chunk.byteLength;
            done(null, chunk);
          },
        }),
        fs.createWriteStream(tmp, { flags: 'wx', mode: 0o600 }),
      );
      fs.chmodSync(tmp, fileMode(r.exec));
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    const sha256 = h.digest('hex');
    if (sha256 !== r.sha256) {
      // The file changed in the workspace while it came: nothing is placed; settled again with what came.
      fs.rmSync(tmp, { force: true });
      if (keyOf(this.remote.get(rel)) === keyOf(r)) this.remote.set(rel, { ...r, sha256, size });
      throw new StaleError(rel);
    }
    const st = fs.lstatSync(tmp);
    await this.swapIn(to, tmp, seen);
    return { type: 'file', sha256, exec: r.exec, size, mtimeMs: st.mtimeMs };
  }

  /** Sends one change to the workspace; a path that no longer holds `expect` there is StaleError. */
  private async applyRemote(req: SyncApplyRequest): Promise<Node | null> {
    const res = await this.o.api.call('syncApply', { params: this.id, body: req });
    const entry = res.entry === null ? [] : await this.acceptRemote([res.entry]);
    const now = entry[0] ?? null;
    if (now === null) this.remote.delete(req.path);
    else this.remote.set(req.path, now);
    if (!res.applied) throw new StaleError(req.path);
    return now;
  }

  /** Uploads the local file `rel` as `to` (default `rel`), replacing it there only if it still holds `expect`. */
  private async upload(rel: string, l: Node, expect: Node | null, to = rel): Promise<Node | null> {
    const abs = localTarget(this.o.dir, rel, { create: false });
    const slash = to.lastIndexOf('/');
    const dir = slash < 0 ? '' : to.slice(0, slash);
    const tmpName = `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`;
    const tmpPath = dir === '' ? tmpName : `${dir}/${tmpName}`;
    const form = new FormData();
    try {
      // A Blob backed by the file: streamed as it is sent, and failing if the file changes meanwhile.
      form.append('file', await fs.openAsBlob(abs), tmpName);
      await this.o.api.call('uploadFiles', { params: this.id, query: { dir }, body: form });
      return await this.applyRemote({ op: 'put', path: to, from: tmpPath, exec: l.exec, expect: expectOf(expect) });
    } catch (err) {
      await this.o.api
        .call('deleteFile', { params: this.id, query: { path: tmpPath, recursive: 'false' } })
        .catch(() => {});
      // The local file changed while it was read: settled again with its new content.
      const st = fs.lstatSync(abs, { throwIfNoEntry: false });
      if (!(err instanceof StaleError) && (st?.size !== l.size || st?.mtimeMs !== l.mtimeMs)) {
        throw new StaleError(rel);
      }
      throw err;
    }
  }

  private setBase(rel: string, n: Node, local: Node | null): void {
    this.o.state.files.set(rel, {
      sha256: n.sha256,
      ...(n.type === 'file' ? {} : { type: n.type }),
      ...(n.exec && n.type === 'file' ? { exec: true } : {}),
      ...(local?.type === 'file' && local.sha256 === n.sha256
        ? { local: { size: local.size, mtimeMs: local.mtimeMs } }
        : {}),
    });
  }

  // ---- the decision ----------------------------------------------------------------------------------

  /** Brings `rel` in step: base, local and remote compared (see ADR 0022 for the table). */
  private async settle(rel: string): Promise<void> {
    const base = this.o.state.files.get(rel);
    const B = keyOf(base);
    const l = await this.local(rel);
    // A FIFO, socket or device here: sync leaves the path alone.
    if (l === undefined) return;
    const r = this.remote.get(rel) ?? null;
    const L = keyOf(l);
    const R = keyOf(r);
    if (L === R) {
      if (l === null) this.o.state.files.delete(rel);
      else this.setBase(rel, l, l);
      return;
    }
    const remoteWins = () => (r === null ? this.applyDeleteLocal(rel, l as Node) : this.applyPutLocal(rel, r, l));
    const localWins = () => (l === null ? this.applyDeleteRemote(rel, r as Node) : this.applyPutRemote(rel, l, r));
    if (B !== null && L === B) return remoteWins();
    if (B !== null && R === B) return localWins();
    // Both sides changed (or there is no base): an edit beats a delete; two edits are a conflict.
    if (l === null) return remoteWins();
    if (r === null) return localWins();
    if (this.o.prefer === 'local') return localWins();
    if (this.o.prefer === 'remote') return remoteWins();
    if ((l.type === 'dir') !== (r.type === 'dir')) {
      throw new Error(
        `a folder on one side and a ${l.type === 'dir' ? r.type : l.type} on the other; rename one of them, or pass --prefer local|remote`,
      );
    }
    // The same bytes with another exec bit: the local bit wins, nothing else differs.
    if (l.type === 'file' && r.type === 'file' && l.sha256 === r.sha256) return localWins();
    return this.applyConflict(rel, l, r);
  }

  /** Folders are deleted after what was in them: deferred to the end of the pass, deepest first. */
  private defer(rel: string): boolean {
    if (this.deferred === null) return false;
    this.deferred.push(rel);
    return true;
  }

  private async applyPutLocal(rel: string, r: Node, l: Node | null): Promise<void> {
    // A folder becoming a file or link: once it is empty, after what was in it.
    if (l?.type === 'dir' && this.defer(rel)) return;
    let got: Node;
    let kind: 'file' | 'link' | 'dir' | 'mode' = r.type;
    if (r.type === 'file' && l?.type === 'file' && l.sha256 === r.sha256) {
      const target = localTarget(this.o.dir, rel, { create: false });
      await this.checkLocal(rel, target, l);
      fs.chmodSync(target, fileMode(r.exec));
      got = { ...l, exec: r.exec };
      kind = 'mode';
    } else if (r.type === 'file') {
      got = await this.download(rel, r, l);
    } else if (r.type === 'link') {
      const tmp = this.tmpBeside(rel);
      fs.symlinkSync(r.target as string, tmp);
      await this.swapIn(rel, tmp, l);
      got = r;
    } else {
      const target = localTarget(this.o.dir, rel, { create: true, anyLeaf: true });
      if (l?.type === 'file') fs.rmSync(await this.setAsideLocal(rel, target, l), { force: true });
      else {
        await this.checkLocal(rel, target, l);
        if (l !== null) fs.unlinkSync(target);
      }
      try {
        fs.mkdirSync(target, 0o755);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        if (!fs.lstatSync(target).isDirectory()) throw new StaleError(rel);
      }
      got = r;
    }
    this.setBase(rel, got, got.type === 'file' ? got : null);
    this.counts.download += 1;
    this.o.report({ type: 'download', path: rel, size: got.size, kind });
  }

  private async applyPutRemote(rel: string, l: Node, r: Node | null): Promise<void> {
    if (r?.type === 'dir' && this.defer(rel)) return;
    let kind: 'file' | 'link' | 'dir' | 'mode' = l.type;
    let now: Node | null;
    if (l.type === 'file' && r?.type === 'file' && r.sha256 === l.sha256) {
      now = await this.applyRemote({ op: 'chmod', path: rel, exec: l.exec, expect: expectOf(r) });
      kind = 'mode';
    } else if (l.type === 'file') now = await this.upload(rel, l, r);
    else if (l.type === 'link') {
      now = await this.applyRemote({ op: 'link', path: rel, target: l.target as string, expect: expectOf(r) });
    } else now = await this.applyRemote({ op: 'mkdir', path: rel, expect: expectOf(r) });
    if (now !== null && keyOf(now) !== keyOf(l)) {
      // The file changed while it was uploaded: what went is the base; the local file is settled again.
      this.setBase(rel, now, null);
      this.mark(rel);
    } else this.setBase(rel, l, l);
    this.counts.upload += 1;
    this.o.report({ type: 'upload', path: rel, size: l.size, kind });
  }

  private async applyDeleteLocal(rel: string, l: Node): Promise<void> {
    if (l.type === 'dir' && this.defer(rel)) return;
    const target = localTarget(this.o.dir, rel, { create: false, anyLeaf: true });
    if (l.type === 'file') fs.rmSync(await this.setAsideLocal(rel, target, l), { force: true });
    else await this.checkLocal(rel, target, l);
    if (l.type === 'file') {
      // Gone with the aside copy.
    } else if (l.type === 'dir') {
      try {
        fs.rmdirSync(target);
      } catch {
        // Something new inside: it goes to the workspace, and the folder with it.
        return;
      }
    } else fs.unlinkSync(target);
    this.o.state.files.delete(rel);
    this.counts.deleteLocal += 1;
    this.o.report({ type: 'delete-local', path: rel });
  }

  private async applyDeleteRemote(rel: string, r: Node): Promise<void> {
    if (r.type === 'dir' && this.defer(rel)) return;
    try {
      await this.applyRemote({ op: 'delete', path: rel, expect: expectOf(r) });
    } catch (err) {
      // A folder with something new in it stays; that something comes here, and the folder with it.
      if (err instanceof StaleError && r.type === 'dir' && this.remote.get(rel)?.type === 'dir') return;
      throw err;
    }
    this.o.state.files.delete(rel);
    this.counts.deleteRemote += 1;
    this.o.report({ type: 'delete-remote', path: rel });
  }

  /**
   * Both edited: the local version keeps its name; the remote one (a file or a link) is written beside it as
   * `NAME.remote-<sha8>.EXT` (never over another entry), and both go to the workspace, so the two sides end
   * alike with neither version lost. The remote name is replaced only if it still holds the version copied.
   */
  private async applyConflict(rel: string, l: Node, r: Node): Promise<void> {
    let copy = remoteCopyName(rel, r.sha256);
    for (let n = 1; n < 100; n += 1) {
      const existing = await this.local(copy).catch(() => null);
      if (existing === null && !this.remote.has(copy)) break;
      if (keyOf(existing) === keyOf(r)) break;
      copy = remoteCopyName(rel, r.sha256, n);
    }
    const here = (await this.local(copy)) ?? null;
    let got: Node = r;
    if (keyOf(here) !== keyOf(r)) {
      if (r.type === 'file') got = await this.download(rel, r, here, copy);
      else {
        const tmp = this.tmpBeside(copy);
        fs.symlinkSync(r.target as string, tmp);
        await this.swapIn(copy, tmp, here);
      }
    }
    this.setBase(copy, got, got);
    this.counts.conflict += 1;
    this.o.report({ type: 'conflict', path: rel, remoteCopy: copy });
    const there = this.remote.get(copy) ?? null;
    if (keyOf(there) !== keyOf(got)) {
      if (got.type === 'file') await this.upload(copy, got, there);
      else await this.applyRemote({ op: 'link', path: copy, target: got.target as string, expect: expectOf(there) });
    }
    await this.applyPutRemote(rel, l, r);
  }

  // ---- passes ----------------------------------------------------------------------------------------

  private async settleAll(paths: Iterable<string>, announce: boolean): Promise<void> {
    const list = [...new Set(paths)].sort();
    const ignored = await this.o.rules.ignored(list);
    let done = 0;
    this.deferred = [];
    for (const rel of list) {
      if (this.stopping) break;
      done += 1;
      if (announce && done % 200 === 0) this.o.progress(`reconciling: ${done}/${list.length}…`);
      if (ignored.has(rel)) continue;
      await this.settleOne(rel);
    }
    const folders = this.deferred.sort().reverse();
    this.deferred = null;
    for (const rel of folders) {
      if (this.stopping) break;
      await this.settleOne(rel);
    }
    this.o.state.save();
  }

  /** Settles one path; one that changed under us is looked at again (a few times, then at the next change). */
  private async settleOne(rel: string): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        checkRemotePath(rel);
        await this.settle(rel);
        return;
      } catch (err) {
        if (err instanceof StaleError && attempt < 5) continue;
        // A dropped connection (a keep-alive socket the server closed): tried again after a pause.
        if (err instanceof ApiNetworkError && attempt < 5) {
          await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
          continue;
        }
        if (err instanceof StaleError && this.running) {
          this.mark(rel);
          return;
        }
        if (err instanceof SyncPathError) this.refuse(rel, err);
        else if (isFatal(err)) throw err;
        else {
          this.counts.errors += 1;
          this.o.report({ type: 'error', path: rel, message: err instanceof Error ? err.message : String(err) });
        }
        return;
      }
    }
  }

  /** The initial reconcile: a cursor first (so nothing that changes meanwhile is missed), then both sides. */
  async reconcile(): Promise<void> {
    this.o.progress('remote: starting the watcher…');
    const first = await this.o.api.call('syncChanges', { params: this.id, query: { waitMs: 0 } });
    this.cursor = first.cursor;
    this.o.progress('remote: listing the workspace…');
    await this.fetchManifest();
    this.o.progress(`local: scanning ${this.o.dir}…`);
    const local = await this.localPaths();
    const before = this.total();
    this.o.progress(`local ${local.length} files, remote ${this.remote.size}: reconciling…`);
    await this.settleAll([...local, ...this.remote.keys(), ...this.o.state.files.keys()], true);
    this.o.report({ type: 'ready', local: local.length, remote: this.remote.size, changes: this.total() - before });
  }

  private total(): number {
    const c = this.counts;
    return c.upload + c.download + c.deleteLocal + c.deleteRemote + c.conflict;
  }

  // ---- live ------------------------------------------------------------------------------------------

  private mark(rel: string): void {
    this.dirty.add(rel);
    if (this.timer || !this.running) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const batch = [...this.dirty];
      this.dirty.clear();
      this.work = this.work.then(() => this.settleAll(batch, false)).catch((err: unknown) => this.fail(err));
    }, 150);
  }

  private fail(err: unknown): void {
    this.fatal ??= err;
    this.stopResolve?.('error');
  }

  private async pollLoop(): Promise<void> {
    while (!this.abort.signal.aborted) {
      const res = await this.o.api.call(
        'syncChanges',
        { params: this.id, query: { waitMs: 20_000, ...(this.cursor === undefined ? {} : { cursor: this.cursor }) } },
        { signal: this.abort.signal },
      );
      this.cursor = res.cursor;
      if (res.reset) {
        await this.work;
        await this.fetchManifest();
        for (const p of [...this.remote.keys(), ...(await this.localPaths()), ...this.o.state.files.keys()]) {
          this.mark(p);
        }
        continue;
      }
      const accepted = new Set((await this.acceptRemote(res.changes)).map((c) => c.path));
      for (const c of res.changes) {
        if (!accepted.has(c.path)) continue;
        if (c.kind === 'delete') this.remote.delete(c.path);
        else this.remote.set(c.path, c as SyncEntry);
        this.mark(c.path);
      }
    }
  }

  /**
   * Starts the local watcher (before the initial reconcile, so that nothing written meanwhile is missed);
   * what it sees waits until `live()`.
   */
  async watchLocal(): Promise<void> {
    const dir = this.o.dir;
    const rel = (abs: string) => (abs.startsWith(`${dir}${path.sep}`) ? abs.slice(dir.length + 1) : null);
    const skipped = (r: string) => r.split('/').some(isAlwaysIgnoredName);
    const w = watch(dir, {
      ignoreInitial: true,
      followSymlinks: false,
      awaitWriteFinish: { stabilityThreshold: 200, pollInterval: 50 },
      ignored: (p: string) => {
        const r = rel(p);
        return r !== null && skipped(r);
      },
    });
    this.watcher = w;
    const onLocal = (abs: string) => {
      const r = rel(abs);
      if (r !== null) this.mark(r.split(path.sep).join('/'));
    };
    w.on('add', onLocal).on('change', onLocal).on('unlink', onLocal).on('addDir', onLocal).on('unlinkDir', onLocal);
    w.on('error', () => {
      // A folder that cannot be watched: its changes wait for the next reconcile.
    });
    await new Promise<void>((resolve) => w.once('ready', () => resolve()));
  }

  /**
   * Watches both sides until `stop()`, Ctrl-C or the task going away. Resolves with why it stopped; rejects
   * on an error that ends the sync.
   */
  async live(): Promise<string> {
    const stopped = new Promise<string>((resolve) => {
      this.stopResolve = resolve;
    });
    if (!this.watcher) await this.watchLocal();
    const w = this.watcher as FSWatcher;
    this.running = true;
    if (this.dirty.size > 0) this.mark([...this.dirty][0] as string);
    const polling = this.pollLoop().then(
      () => this.stopResolve?.('stopped'),
      (err: unknown) => {
        if (!this.abort.signal.aborted) this.fail(err);
      },
    );
    const reason = await stopped;
    this.abort.abort();
    if (this.timer) clearTimeout(this.timer);
    await w.close();
    await polling;
    await this.work.catch(() => {});
    this.o.state.save();
    if (reason === 'error') throw this.fatal;
    return reason;
  }

  /** Ends `live()` cleanly. */
  stop(reason = 'stopped'): void {
    this.stopping = true;
    this.stopResolve?.(reason);
  }

  /** Closes the local watcher of a sync that does not go live. */
  async close(): Promise<void> {
    await this.watcher?.close();
    this.watcher = null;
  }
}
