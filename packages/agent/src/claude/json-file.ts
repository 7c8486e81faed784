import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** A parsed JSON object (never an array or a primitive). */
export type JsonObject = Record<string, unknown>;

/** True for a plain JSON object. */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads a JSON object file; a missing or empty file is `{}`. A file that is not a JSON object is moved
 * aside to `<file>.corrupt-<ms>` and read as `{}`, so a damaged config never blocks a sandbox (Claude Code
 * itself would reset it too) and nothing is lost.
 */
async function readJsonObject(file: string): Promise<JsonObject> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
  if (text.trim() === '') return {};
  try {
    const value: unknown = JSON.parse(text);
    if (isJsonObject(value)) return value;
  } catch {
    // fall through: moved aside below
  }
  await rename(file, `${file}.corrupt-${Date.now()}`);
  return {};
}

/**
 * Read-modify-write of a JSON object file. `update` gets the current object (it may mutate and return it).
 * The new content is written to a temporary file and renamed over the old one, so a reader (Claude Code
 * starting up) never sees half a file. The file gets `mode` (default 0600: these files hold key suffixes).
 */
export async function updateJsonFile(
  file: string,
  update: (current: JsonObject) => JsonObject,
  mode = 0o600,
): Promise<JsonObject> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const next = update(await readJsonObject(file));
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, `${JSON.stringify(next, null, 2)}\n`, { mode });
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return next;
}
