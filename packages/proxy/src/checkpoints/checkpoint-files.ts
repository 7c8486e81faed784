import {
  type AgentFileReadResult,
  AppError,
  type CheckpointManifest,
  type FileEntry,
  type ListFilesResponse,
  type ManifestEntry,
} from '@rclaude/protocol';
import type { CheckpointBlobStore } from './blob-store.js';

/** Most entries one listing returns, as the agent's listing does. */
const LIST_MAX_ENTRIES = 5000;

/**
 * The workspace of a task's checkpoint, read-only, for the file routes while no sandbox runs (a hibernated or
 * ended task): listings come from the manifest, file bytes from the blob store. Links are listed but not
 * followed (the sandbox that could resolve them is gone); nothing can be written.
 */
export class CheckpointFiles {
  private readonly byPath = new Map<string, ManifestEntry>();
  private readonly children = new Map<string, ManifestEntry[]>();

  constructor(
    private readonly blobs: Pick<CheckpointBlobStore, 'getBlob'>,
    private readonly owner: string,
    readonly checkpoint: { id: string; createdAt: string },
    manifest: CheckpointManifest,
  ) {
    this.children.set('', []);
    for (const e of manifest.entries) {
      if (e.root !== 'workspace') continue;
      this.byPath.set(e.path, e);
      const cut = e.path.lastIndexOf('/');
      const parent = cut < 0 ? '' : e.path.slice(0, cut);
      let siblings = this.children.get(parent);
      if (!siblings) {
        siblings = [];
        this.children.set(parent, siblings);
      }
      siblings.push(e);
    }
  }

  list(dir: string): ListFilesResponse {
    const entry = dir === '' ? null : this.byPath.get(dir);
    if (dir !== '' && !entry) throw new AppError('NOT_FOUND', `no folder ${dir} in checkpoint ${this.checkpoint.id}`);
    if (entry && entry.type !== 'dir') throw new AppError('CONFLICT', `${dir} is not a folder`);
    const all = [...(this.children.get(dir) ?? [])].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const entries: FileEntry[] = all.slice(0, LIST_MAX_ENTRIES).map((e) => ({
      name: e.path.slice(e.path.lastIndexOf('/') + 1),
      path: e.path,
      type: e.type,
      size: e.type === 'file' ? e.size : 0,
      mtime: this.checkpoint.createdAt,
    }));
    return {
      path: dir,
      entries,
      checkpointId: this.checkpoint.id,
      ...(all.length > LIST_MAX_ENTRIES ? { truncated: true } : {}),
    };
  }

  /** At most `length` bytes of the file at `path` from `offset`, as the agent's `files:read` answers. */
  async read(path: string, offset: number, length: number): Promise<AgentFileReadResult> {
    const entry = this.byPath.get(path);
    if (!entry) throw new AppError('NOT_FOUND', `no file ${path} in checkpoint ${this.checkpoint.id}`);
    if (entry.type === 'dir') throw new AppError('CONFLICT', `${path} is a folder`);
    if (entry.type === 'symlink') {
      throw new AppError(
        'PATH_REFUSED',
        `${path} is a link (to ${entry.target}); links are followed only in a running sandbox: resume the task`,
      );
    }
    const end = Math.min(entry.size, offset + length);
    if (offset >= end) return { data: new Uint8Array(0), size: entry.size, eof: true };
    // Only the bytes asked for leave the store: a download reads a large file a chunk at a time.
    const stream = await this.blobs.getBlob(this.owner, entry.hash, { start: offset, end });
    const out = new Uint8Array(end - offset);
    let filled = 0;
    try {
      for await (const chunk of stream as AsyncIterable<Uint8Array>) {
        const piece = chunk.subarray(0, out.byteLength - filled);
        out.set(piece, filled);
        filled += piece.byteLength;
        if (filled >= out.byteLength) break;
      }
    } finally {
      stream.destroy();
    }
    if (filled !== out.byteLength) {
      throw new AppError('CHECKPOINT_CORRUPT', `the stored bytes of ${path} are shorter than its manifest says`);
    }
    return { data: out, size: entry.size, eof: end >= entry.size };
  }
}
