import { AppError } from '@rclaude/protocol';

/**
 * What the auth code needs from a database: a pg `Pool` or `Client`, or anything shaped like one
 * (PGlite). Every operation is a single statement, so it is safe over a pool and over PGlite's one
 * connection alike.
 */
export interface Queryable {
  query(text: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
}

type Row = Record<string, unknown>;

function badColumn(col: string, value: unknown): never {
  throw new AppError('INTERNAL', 'internal error', {
    cause: new Error(`unexpected value in column ${col}: ${typeof value}`),
  });
}

export function textCol(row: Row, col: string): string {
  const value = row[col];
  return typeof value === 'string' ? value : badColumn(col, value);
}

export function textOrNullCol(row: Row, col: string): string | null {
  const value = row[col];
  return value === null || value === undefined ? null : textCol(row, col);
}

export function timeCol(row: Row, col: string): Date {
  const value = row[col];
  if (value instanceof Date) return value;
  if (typeof value === 'string' || typeof value === 'number') return new Date(value);
  return badColumn(col, value);
}

export function timeOrNullCol(row: Row, col: string): Date | null {
  const value = row[col];
  return value === null || value === undefined ? null : timeCol(row, col);
}

/** pg returns bytea as a Buffer, PGlite as a Uint8Array. */
export function bytesCol(row: Row, col: string): Buffer {
  const value = row[col];
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (typeof value === 'string' && value.startsWith('\\x')) return Buffer.from(value.slice(2), 'hex');
  return badColumn(col, value);
}
