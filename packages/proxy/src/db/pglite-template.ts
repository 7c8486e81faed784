import { access, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite, type PGliteOptions } from '@electric-sql/pglite';

/**
 * PGlite's start-up settings on top of its defaults. `shared_buffers` is Postgres's page cache inside PGlite's
 * WebAssembly memory, which never shrinks: PGlite's default of 128 MB grew that memory from 128 to 189 MiB on
 * start and left the idle server's RSS at 313 MiB, against 177 MiB with 16 MB (measured, adr/0026). The files
 * under it are read through the OS's page cache anyway.
 */
export const PGLITE_START_PARAMS = [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'];

/**
 * Where the build leaves a freshly initialised PGlite data dir (a gzipped tar, `dumpDataDir`), named after the
 * installed PGlite version: `dist/db/` of this package, found from `src/db/` and `dist/db/` alike.
 */
export function pgliteTemplatePath(): string {
  const require = createRequire(import.meta.url);
  // PGlite's package.json is not in its exports; its entry is in dist/ under the package root.
  const root = path.resolve(path.dirname(require.resolve('@electric-sql/pglite')), '..');
  const { version } = require(path.join(root, 'package.json')) as { version: string };
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.resolve(here, '..', '..', 'dist', 'db', `pglite-${version}-template.tar.gz`);
}

/**
 * What to give `PGlite.create` so that a new data dir starts from the build's template instead of running
 * initdb: PGlite's own initdb starts a second PGlite, runs initdb in it and copies its files over, which took
 * 7.3 s of CPU and left 430 MiB of the first start's memory in the process (adr/0026). Nothing when the data dir
 * already holds a database, or when there is no template (a build without it): PGlite then runs initdb itself.
 */
export async function pgliteTemplateOptions(dataDir: string | null): Promise<Pick<PGliteOptions, 'loadDataDir'>> {
  if (dataDir && (await exists(path.join(dataDir, 'PG_VERSION')))) return {};
  const template = pgliteTemplatePath();
  if (!(await exists(template))) return {};
  return { loadDataDir: new Blob([await readFile(template)]) };
}

/** Initialises a PGlite database in memory and writes it, gzipped, to `file` (the build's template). */
export async function makePgliteTemplate(file: string): Promise<void> {
  const db = await PGlite.create();
  try {
    const dump = await db.dumpDataDir('gzip');
    await mkdir(path.dirname(file), { recursive: true });
    // Written aside and renamed, so a build stopped half way leaves no truncated template behind.
    await writeFile(`${file}.tmp`, Buffer.from(await dump.arrayBuffer()));
    await rename(`${file}.tmp`, file);
  } finally {
    await db.close();
  }
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
