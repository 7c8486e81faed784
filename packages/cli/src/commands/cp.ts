import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { apiClientFor } from '../api.js';
import { CliError, EXIT } from '../errors.js';
import { safeText } from '../output.js';

/** A `TASK:PATH` argument names a file in a task's workspace; anything else is local. */
function remote(arg: string): { task: string; path: string } | null {
  const m = /^([a-z0-9]{4,32}):(.*)$/.exec(arg);
  return m ? { task: m[1] as string, path: m[2] as string } : null;
}

/** `rclaude cp`: one file, either direction. */
export async function cpCommand(source: string, dest: string, opts: { server?: string }): Promise<number> {
  const from = remote(source);
  const to = remote(dest);
  if ((from && to) || (!from && !to)) {
    throw new CliError(
      'one side must be TASK:PATH and the other a local path',
      1,
      'e.g. rclaude cp notes.md 3f2a:docs/notes.md',
    );
  }
  const api = apiClientFor(opts);
  if (to) {
    const stat = fs.statSync(source, { throwIfNoEntry: false });
    if (!stat) throw new CliError(`${source}: no such file`);
    if (!stat.isFile()) throw new CliError(`${source} is not a regular file`, 1, 'cp copies one file at a time');
    const task = await api.resolveTask(to.task);
    const target = to.path === '' || to.path.endsWith('/') ? `${to.path}${path.basename(source)}` : to.path;
    const body = Readable.toWeb(fs.createReadStream(source)) as unknown as ReadableStream<Uint8Array>;
    const written = await api.call(
      'writeFile',
      { params: { id: task.id }, query: { path: target }, body },
      { headers: { 'content-length': String(stat.size) } },
    );
    process.stderr.write(`copied ${stat.size} bytes to ${safeText(`${task.id}:${written.path}`)}\n`);
    return EXIT.ok;
  }
  const src = from as { task: string; path: string };
  const task = await api.resolveTask(src.task);
  const res = await api.call('downloadFile', { params: { id: task.id }, query: { path: src.path } });
  const local =
    fs.existsSync(dest) && fs.statSync(dest).isDirectory() ? path.join(dest, path.basename(src.path)) : dest;
  if (!res.body) throw new CliError('the server sent no file body');
  const tmp = `${local}.rclaude-partial`;
  await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), fs.createWriteStream(tmp));
  fs.renameSync(tmp, local);
  process.stderr.write(`copied ${safeText(`${task.id}:${src.path}`)} to ${safeText(local)}\n`);
  return EXIT.ok;
}
