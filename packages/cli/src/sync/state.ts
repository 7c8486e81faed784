import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** What the last sync left a file as, on both sides. */
export interface BaseEntry {
  /** A file's content hash, a link's hash of its text, the hash of nothing for a folder. */
  sha256: string;
  /** Absent: a regular file. */
  type?: 'link' | 'dir';
  /** A file's executable bit; absent is false. */
  exec?: boolean;
  /** The local file's size and mtime when it had that content: unchanged, it is not hashed again. */
  local?: { size: number; mtimeMs: number };
}

interface StateFile {
  version: 1;
  taskId: string;
  dir: string;
  files: Record<string, BaseEntry>;
}

/** Where the base state of syncing `dir` with task `taskId` is kept. */
export function statePath(dataDir: string, taskId: string, dir: string): string {
  const key = createHash('sha256').update(dir).digest('hex').slice(0, 16);
  return path.join(dataDir, 'sync', `${taskId}-${key}.json`);
}

/** The base state of one sync pair: read at the start, written after each batch (atomically). */
export class SyncState {
  readonly files: Map<string, BaseEntry>;

  private constructor(
    private readonly file: string,
    private readonly taskId: string,
    private readonly dir: string,
    files: Map<string, BaseEntry>,
    /** False on a first sync: there is no base. */
    readonly existed: boolean,
  ) {
    this.files = files;
  }

  static load(file: string, taskId: string, dir: string): SyncState {
    let raw: string;
    try {
      raw = fs.readFileSync(file, 'utf8');
    } catch {
      return new SyncState(file, taskId, dir, new Map(), false);
    }
    try {
      const parsed = JSON.parse(raw) as StateFile;
      if (parsed.version !== 1 || parsed.taskId !== taskId || parsed.dir !== dir) throw new Error('other pair');
      const files = new Map<string, BaseEntry>();
      for (const [p, e] of Object.entries(parsed.files)) {
        if (typeof e?.sha256 === 'string' && /^[0-9a-f]{64}$/.test(e.sha256)) files.set(p, e);
      }
      return new SyncState(file, taskId, dir, files, true);
    } catch {
      // A damaged state is treated as none: the first-sync rules never destroy anything.
      return new SyncState(file, taskId, dir, new Map(), false);
    }
  }

  save(): void {
    const body: StateFile = { version: 1, taskId: this.taskId, dir: this.dir, files: Object.fromEntries(this.files) };
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(body), { mode: 0o600 });
    fs.renameSync(tmp, this.file);
  }
}
