import fs from 'node:fs';
import path from 'node:path';

/**
 * Disk use of some directory trees, measured like `du` (allocated blocks, hard links once, symlinks not
 * followed, other filesystems not entered) in steps of bounded time, so a huge workspace never holds the
 * server: each {@link step} goes on where the previous one stopped and says when a full pass is done.
 */
export class DiskUsageWalk {
  private pending: string[] = [];
  private bytes = 0;
  private seen = new Set<string>();
  private devices = new Map<string, number>();
  /** The total of the last complete pass, null before the first. */
  last: number | null = null;

  constructor(private readonly roots: string[]) {
    this.restart();
  }

  /**
   * Walks for about `budgetMs`. Returns the bytes counted so far in this pass (a lower bound of the total,
   * so already over a limit means over) and whether the pass completed (then the next step starts a new one).
   */
  async step(budgetMs: number): Promise<{ bytes: number; done: boolean }> {
    const deadline = performance.now() + budgetMs;
    while (this.pending.length > 0) {
      if (performance.now() > deadline) return { bytes: this.bytes, done: false };
      const dir = this.pending.pop() as string;
      let entries: fs.Dirent[];
      try {
        entries = await fs.promises.readdir(dir, { withFileTypes: true });
      } catch {
        continue; // Gone meanwhile, or not a directory any more.
      }
      const dev = this.devices.get(dir);
      for (const entry of entries) {
        const full = path.join(dir, entry.name);
        let st: fs.BigIntStats;
        try {
          st = await fs.promises.lstat(full, { bigint: true });
        } catch {
          continue;
        }
        if (dev !== undefined && Number(st.dev) !== dev) continue; // A mount inside: not this filesystem.
        if (st.nlink > 1n && !st.isDirectory()) {
          const key = `${st.dev}:${st.ino}`;
          if (this.seen.has(key)) continue;
          this.seen.add(key);
        }
        this.bytes += Number(st.blocks) * 512;
        if (st.isDirectory()) {
          this.devices.set(full, Number(st.dev));
          this.pending.push(full);
        }
      }
      this.devices.delete(dir);
    }
    const total = this.bytes;
    this.last = total;
    this.restart();
    return { bytes: total, done: true };
  }

  private restart(): void {
    this.bytes = 0;
    this.seen = new Set();
    this.devices = new Map();
    this.pending = [];
    for (const root of this.roots) {
      try {
        const st = fs.lstatSync(root);
        if (!st.isDirectory()) continue;
        this.bytes += st.blocks * 512;
        this.devices.set(root, st.dev);
        this.pending.push(root);
      } catch {
        // Not there (yet).
      }
    }
  }
}

/**
 * The bytes used on a filesystem that holds nothing but `dir` (a volume mounted there), from statfs; null when
 * `dir` shares its filesystem with its parent, so statfs would count other files too.
 */
export function ownFilesystemUsage(dir: string): number | null {
  try {
    if (fs.statSync(dir).dev === fs.statSync(path.dirname(dir)).dev) return null;
    const s = fs.statfsSync(dir);
    return (s.blocks - s.bfree) * s.bsize;
  } catch {
    return null;
  }
}
