import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { AppError, CHECKPOINT_FORMAT, type CheckpointManifest } from '@rclaude/protocol';
import { describe, expect, it } from 'vitest';
import { CheckpointFiles } from './checkpoint-files.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const big = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));
const note = Buffer.from('a note\n');

function view(blobs: Map<string, Buffer>): CheckpointFiles {
  const manifest: CheckpointManifest = {
    format: CHECKPOINT_FORMAT,
    createdAt: '2026-12-03T10:00:00.000Z',
    workspace: '/workspace',
    excluded: [],
    claudeSessionId: null,
    entries: [
      { type: 'dir', root: 'workspace', path: 'src', mode: 0o755 },
      { type: 'file', root: 'workspace', path: 'src/z.bin', mode: 0o644, size: big.byteLength, hash: sha(big) },
      { type: 'file', root: 'workspace', path: 'src/a.txt', mode: 0o644, size: note.byteLength, hash: sha(note) },
      { type: 'file', root: 'workspace', path: 'empty', mode: 0o644, size: 0, hash: sha(Buffer.alloc(0)) },
      { type: 'symlink', root: 'workspace', path: 'passwd', target: '/etc/passwd' },
      { type: 'file', root: 'claude', path: 'session.jsonl', mode: 0o600, size: 1, hash: sha(Buffer.from('x')) },
    ],
  };
  // The store hands blobs out in 999-byte chunks, so reads cross chunk boundaries.
  const store = {
    async getBlob(_owner: string, hash: string, range?: { start: number; end: number }) {
      const whole = blobs.get(hash);
      if (!whole) throw new AppError('NOT_FOUND', 'no such blob');
      const data = range ? whole.subarray(range.start, range.end) : whole;
      const chunks: Buffer[] = [];
      for (let i = 0; i < data.byteLength; i += 999) chunks.push(data.subarray(i, i + 999));
      return Readable.from(chunks);
    },
  };
  return new CheckpointFiles(store, 'usr_1', { id: 'cp_abcdefgh', createdAt: manifest.createdAt }, manifest);
}

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: AppError) => e.code,
  );

describe('files of a checkpoint', () => {
  const files = view(
    new Map([
      [sha(big), big],
      [sha(note), note],
    ]),
  );

  it('lists a folder by name, with the checkpoint and its time, and only the workspace', () => {
    expect(files.list('')).toEqual({
      path: '',
      checkpointId: 'cp_abcdefgh',
      entries: [
        { name: 'empty', path: 'empty', type: 'file', size: 0, mtime: '2026-12-03T10:00:00.000Z' },
        { name: 'passwd', path: 'passwd', type: 'symlink', size: 0, mtime: '2026-12-03T10:00:00.000Z' },
        { name: 'src', path: 'src', type: 'dir', size: 0, mtime: '2026-12-03T10:00:00.000Z' },
      ],
    });
    expect(files.list('src').entries.map((e) => e.name)).toEqual(['a.txt', 'z.bin']);
    expect(() => files.list('nope')).toThrow(/no folder nope/);
    expect(() => files.list('src/a.txt')).toThrow(/not a folder/);
  });

  it('reads any range of a file across the store chunks, and says where the end is', async () => {
    for (const [offset, length] of [
      [0, 10_000],
      [998, 3],
      [1500, 2500],
      [9_990, 100],
    ] as const) {
      const r = await files.read('src/z.bin', offset, length);
      expect(Buffer.from(r.data).equals(big.subarray(offset, offset + length))).toBe(true);
      expect(r.size).toBe(10_000);
      expect(r.eof).toBe(offset + length >= 10_000);
    }
    expect(await files.read('src/z.bin', 20_000, 10)).toEqual({ data: new Uint8Array(0), size: 10_000, eof: true });
  });

  it('reads an empty file without the store, and refuses links, folders and what is not there', async () => {
    expect(await files.read('empty', 0, 100)).toEqual({ data: new Uint8Array(0), size: 0, eof: true });
    expect(await codeOf(files.read('passwd', 0, 10))).toBe('PATH_REFUSED');
    expect(await codeOf(files.read('src', 0, 10))).toBe('CONFLICT');
    expect(await codeOf(files.read('missing', 0, 10))).toBe('NOT_FOUND');
    expect(await codeOf(files.read('session.jsonl', 0, 10))).toBe('NOT_FOUND');
  });

  it('refuses stored bytes shorter than the manifest says as corrupt', async () => {
    const short = view(new Map([[sha(big), big.subarray(0, 5000)]]));
    expect(await codeOf(short.read('src/z.bin', 4000, 2000))).toBe('CHECKPOINT_CORRUPT');
  });
});
