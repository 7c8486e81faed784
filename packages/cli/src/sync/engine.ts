import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { AppError, type SyncEntry } from '@rclaude/protocol';
import { type FSWatcher, watch } from 'chokidar';
import type { ApiClient } from '../api.js';
import { type IgnoreRules, isAlwaysIgnoredName, TEMP_PREFIX } from './ignore.js';
import { checkRemotePath, localTarget, SyncPathError } from './paths.js';
import type { SyncState } from './state.js';

/** What sync reports, one per line with `--json`. */
export type SyncEvent =
  | { type: 'upload' | 'download'; path: string; size: number }
  | { type: 'delete-local' | 'delete-remote'; path: string }
  | { type: 'conflict'; path: string; remoteCopy: string }
  | { type: 'refused'; path: string; reason: string }
  | { type: 'error'; path: string; message: string }
  | { type: 'ready'; local: number; remote: number; changes: number }
  | { type: 'stopped'; reason: string };

interface FileState {
  sha256: string;
  size: number;
  mtimeMs: number;
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
  private readonly remote = new Map<string, FileState>();
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

  /** The local file at `rel` now: null when there is none (or it is not a regular file). */
  private async local(rel: string): Promise<FileState | null> {
    const abs = localTarget(this.o.dir, rel, { create: false });
    const st = fs.lstatSync(abs, { throwIfNoEntry: false });
    if (!st?.isFile()) return null;
    const base = this.o.state.files.get(rel);
    if (base?.local && base.local.size === st.size && base.local.mtimeMs === st.mtimeMs) {
      return { sha256: base.sha256, size: st.size, mtimeMs: st.mtimeMs };
    }
    return { sha256: await hashFile(abs), size: st.size, mtimeMs: st.mtimeMs };
  }

  /** Every regular file under the folder, relative, not ignored. Symlinks are not followed. */
  private async localPaths(): Promise<string[]> {
    const out: string[] = [];
    const pending = [''];
    while (pending.length > 0) {
      const rel = pending.pop() as string;
      const entries = fs.readdirSync(rel === '' ? this.o.dir : path.join(this.o.dir, rel), { withFileTypes: true });
      for (const e of entries) {
        const child = rel === '' ? e.name : `${rel}/${e.name}`;
        if (isAlwaysIgnoredName(e.name)) continue;
        if (e.isDirectory()) pending.push(child);
        else if (e.isFile()) out.push(child);
      }
    }
    const ignored = await this.o.rules.ignored(out);
    return out.filter((p) => !ignored.has(p));
  }

  /** Keeps the entries of `entries` whose paths are acceptable and not ignored; reports the refused. */
  private async acceptRemote<T extends { path: string }>(entries: readonly T[]): Promise<T[]> {
    const ok: T[] = [];
    for (const e of entries) {
      try {
        checkRemotePath(e.path);
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

  // ---- transfers -------------------------------------------------------------------------------------

  private async download(rel: string, expected: FileState, to = rel): Promise<FileState> {
    const target = localTarget(this.o.dir, to, { create: true });
    const tmp = path.join(path.dirname(target), `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
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
        fs.createWriteStream(tmp, { flags: 'wx', mode: 0o644 }),
      );
      // Re-checked right before the rename: a folder swapped for a symlink meanwhile is refused.
      localTarget(this.o.dir, to, { create: false });
      fs.renameSync(tmp, target);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    const sha256 = h.digest('hex');
    const st = fs.statSync(target);
    void expected;
    return { sha256, size, mtimeMs: st.mtimeMs };
  }

  private async upload(rel: string, to = rel): Promise<void> {
    const abs = localTarget(this.o.dir, rel, { create: false });
    const slash = to.lastIndexOf('/');
    const dir = slash < 0 ? '' : to.slice(0, slash);
    const tmpName = `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`;
    const tmpPath = dir === '' ? tmpName : `${dir}/${tmpName}`;
    const form = new FormData();
    // A Blob backed by the file: streamed as it is sent, and failing if the file changes meanwhile.
    form.append('file', await fs.openAsBlob(abs), tmpName);
    try {
      await this.o.api.call('uploadFiles', { params: this.id, query: { dir }, body: form });
      await this.o.api.call('renameFile', { params: this.id, body: { from: tmpPath, to } });
    } catch (err) {
      await this.o.api
        .call('deleteFile', { params: this.id, query: { path: tmpPath, recursive: 'false' } })
        .catch(() => {});
      throw err;
    }
  }

  private removeLocal(rel: string): void {
    const abs = localTarget(this.o.dir, rel, { create: false });
    const st = fs.lstatSync(abs, { throwIfNoEntry: false });
    if (st?.isFile()) fs.unlinkSync(abs);
    // Folders the delete left empty go too (a renamed folder leaves none behind).
    let at = path.dirname(abs);
    while (at !== this.o.dir && at.startsWith(`${this.o.dir}${path.sep}`)) {
      try {
        fs.rmdirSync(at);
      } catch {
        break;
      }
      at = path.dirname(at);
    }
  }

  // ---- the decision ----------------------------------------------------------------------------------

  /** Brings `rel` in step: base, local and remote compared (see ADR 0022 for the table). */
  private async settle(rel: string): Promise<void> {
    const base = this.o.state.files.get(rel);
    const B = base?.sha256 ?? null;
    const l = await this.local(rel);
    const r = this.remote.get(rel) ?? null;
    const L = l?.sha256 ?? null;
    const R = r?.sha256 ?? null;
    if (L === R) {
      if (l === null) this.o.state.files.delete(rel);
      else this.o.state.files.set(rel, { sha256: l.sha256, local: { size: l.size, mtimeMs: l.mtimeMs } });
      return;
    }
    const remoteWins = () => (r === null ? this.applyDeleteLocal(rel) : this.applyDownload(rel, r));
    const localWins = () => (l === null ? this.applyDeleteRemote(rel) : this.applyUpload(rel, l));
    if (B !== null && L === B) return remoteWins();
    if (B !== null && R === B) return localWins();
    // Both sides changed (or there is no base): an edit beats a delete; two edits are a conflict.
    if (l === null) return remoteWins();
    if (r === null) return localWins();
    if (this.o.prefer === 'local') return localWins();
    if (this.o.prefer === 'remote') return remoteWins();
    return this.applyConflict(rel, l, r);
  }

  private async applyDownload(rel: string, r: FileState): Promise<void> {
    const got = await this.download(rel, r);
    this.remote.set(rel, got);
    this.o.state.files.set(rel, { sha256: got.sha256, local: { size: got.size, mtimeMs: got.mtimeMs } });
    this.counts.download += 1;
    this.o.report({ type: 'download', path: rel, size: got.size });
  }

  private async applyUpload(rel: string, l: FileState): Promise<void> {
    await this.upload(rel);
    this.remote.set(rel, { ...l });
    this.o.state.files.set(rel, { sha256: l.sha256, local: { size: l.size, mtimeMs: l.mtimeMs } });
    this.counts.upload += 1;
    this.o.report({ type: 'upload', path: rel, size: l.size });
  }

  private async applyDeleteLocal(rel: string): Promise<void> {
    this.removeLocal(rel);
    this.o.state.files.delete(rel);
    this.counts.deleteLocal += 1;
    this.o.report({ type: 'delete-local', path: rel });
  }

  private async applyDeleteRemote(rel: string): Promise<void> {
    try {
      await this.o.api.call('deleteFile', { params: this.id, query: { path: rel, recursive: 'false' } });
    } catch (err) {
      if (!(err instanceof AppError && err.code === 'NOT_FOUND')) throw err;
    }
    this.remote.delete(rel);
    this.o.state.files.delete(rel);
    this.counts.deleteRemote += 1;
    this.o.report({ type: 'delete-remote', path: rel });
  }

  /**
   * Both edited: the local file keeps its name; the remote version is written beside it as
   * `NAME.remote-<sha8>.EXT` (never over another file), and both go to the workspace, so the two sides end
   * alike with neither version lost.
   */
  private async applyConflict(rel: string, l: FileState, r: FileState): Promise<void> {
    let copy = remoteCopyName(rel, r.sha256);
    for (let n = 1; n < 100; n += 1) {
      const existing = await this.local(copy).catch(() => null);
      if (existing === null && !this.remote.has(copy)) break;
      if (existing?.sha256 === r.sha256) break;
      copy = remoteCopyName(rel, r.sha256, n);
    }
    const got = await this.download(rel, r, copy);
    this.o.state.files.set(copy, { sha256: got.sha256, local: { size: got.size, mtimeMs: got.mtimeMs } });
    this.counts.conflict += 1;
    this.o.report({ type: 'conflict', path: rel, remoteCopy: copy });
    await this.upload(copy);
    this.remote.set(copy, got);
    await this.applyUpload(rel, l);
  }

  // ---- passes ----------------------------------------------------------------------------------------

  private async settleAll(paths: Iterable<string>, announce: boolean): Promise<void> {
    const list = [...new Set(paths)].sort();
    const ignored = await this.o.rules.ignored(list);
    let done = 0;
    for (const rel of list) {
      if (this.stopping) break;
      done += 1;
      if (announce && done % 200 === 0) this.o.progress(`reconciling: ${done}/${list.length}…`);
      if (ignored.has(rel)) continue;
      try {
        checkRemotePath(rel);
        await this.settle(rel);
      } catch (err) {
        if (err instanceof SyncPathError) this.refuse(rel, err);
        else if (isFatal(err)) throw err;
        else {
          this.counts.errors += 1;
          this.o.report({ type: 'error', path: rel, message: err instanceof Error ? err.message : String(err) });
        }
      }
    }
    this.o.state.save();
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
    w.on('add', onLocal).on('change', onLocal).on('unlink', onLocal);
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
