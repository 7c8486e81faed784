import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AppError,
  blobHashSchema,
  IMPORT_HEADER_ENTRY,
  IMPORT_HEADER_MAX_BYTES,
  type ImportHeader,
  importHeaderSchema,
} from '@rclaude/protocol';
import tar, { type ExtractEvents } from 'tar-stream';
import { assertUniquePaths } from './blob-validation.js';

type Entry = ExtractEvents['entry'][1];

/** One blob of an import, read from the archive as it streams. */
export interface ImportedBlob {
  hash: string;
  size: number;
  body: Readable;
}

/**
 * Reads an upload of `POST /api/imports` (see IMPORT_HEADER_ENTRY in the protocol): the header first, then the
 * blobs, each consumed by the caller before the next is read. Everything is checked as hostile input: the whole
 * body is cut off past `maxBytes` (PAYLOAD_TOO_LARGE), the header must come first, parse and validate, and every
 * later entry must be a regular file named by a hash the manifest names, with the manifest's size, once.
 */
export class ImportArchive {
  private readonly extract = tar.extract();
  private readonly entries: AsyncIterator<Entry>;
  private header: ImportHeader | null = null;

  constructor(body: Readable, maxBytes: number) {
    pipeline(body, new ByteLimit(maxBytes), this.extract).catch((err: unknown) =>
      this.extract.destroy(err instanceof Error ? err : new Error(String(err))),
    );
    this.entries = this.extract[Symbol.asyncIterator]();
  }

  /** The header entry, validated. */
  async readHeader(): Promise<ImportHeader> {
    const first = await this.entries.next();
    if (first.done)
      throw new AppError('BAD_REQUEST', 'the upload is empty: expected a tar whose first entry is the header');
    const entry = first.value;
    if (entry.header.name !== IMPORT_HEADER_ENTRY || entry.header.type !== 'file') {
      entry.resume();
      throw new AppError('BAD_REQUEST', `the first entry of an import must be ${IMPORT_HEADER_ENTRY}`);
    }
    if ((entry.header.size ?? 0) > IMPORT_HEADER_MAX_BYTES) {
      entry.resume();
      throw new AppError('PAYLOAD_TOO_LARGE', `the import header is over ${IMPORT_HEADER_MAX_BYTES} bytes`);
    }
    const chunks: Buffer[] = [];
    for await (const chunk of entry as AsyncIterable<Buffer>) chunks.push(chunk);
    let json: unknown;
    try {
      json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw new AppError('BAD_REQUEST', 'the import header is not JSON');
    }
    const parsed = importHeaderSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new AppError(
        'BAD_REQUEST',
        `the import header is not valid: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'unknown'}`,
      );
    }
    assertUniquePaths(parsed.data.manifest);
    this.header = parsed.data;
    return parsed.data;
  }

  /** The blobs after the header; each must be read to its end (or the import abandoned) before the next. */
  async *blobs(): AsyncGenerator<ImportedBlob> {
    if (!this.header) throw new Error('readHeader() first');
    const sizes = new Map<string, number>();
    for (const e of this.header.manifest.entries) if (e.type === 'file') sizes.set(e.hash, e.size);
    const done = new Set<string>();
    for (;;) {
      const next = await this.entries.next();
      if (next.done) return;
      const entry = next.value;
      const { name, type, size } = entry.header;
      const expected = sizes.get(name);
      if (type !== 'file' || !blobHashSchema.safeParse(name).success || expected === undefined || done.has(name)) {
        entry.resume();
        throw new AppError(
          'BAD_REQUEST',
          `an import entry must be a blob the manifest names, once, as a regular file named by its sha256 (got "${name.slice(0, 80)}")`,
        );
      }
      if (size !== expected) {
        entry.resume();
        throw new AppError('CHECKPOINT_CORRUPT', `blob ${name} is ${size ?? '?'} bytes; the manifest says ${expected}`);
      }
      done.add(name);
      yield { hash: name, size: expected, body: Readable.from(entry) };
    }
  }

  /** Stops reading (after a failure): the rest of the body is discarded. */
  abandon(err: Error): void {
    this.extract.destroy(err);
  }
}

/** Passes bytes through until `max`, then fails with PAYLOAD_TOO_LARGE. */
class ByteLimit extends Transform {
  private seen = 0;
  constructor(private readonly max: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.max) {
      done(
        new AppError(
          'PAYLOAD_TOO_LARGE',
          `the upload is over ${this.max} bytes (RCLAUDE_IMPORT_MAX_BYTES on the server): leave large files out with .gitignore`,
        ),
      );
      return;
    }
    done(null, chunk);
  }
}
