import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { AppError } from '@rclaude/protocol';
import { PGLITE_START_PARAMS, pgliteTemplateOptions } from './pglite-template.js';

/**
 * A PGlite database served on a Unix socket so the ordinary `pg` driver can reach it. Not a TCP port:
 * PGlite accepts any user and password, and local sandboxes share the host's loopback network.
 */
export interface EmbeddedPostgres {
  /** The socket's directory (pg takes it as `host`), private to this process (mode 0700). */
  host: string;
  port: number;
  /** Stops the socket server and closes PGlite. Call after every pg client has disconnected. */
  stop(): Promise<void>;
}

// PGlite runs one query at a time; the socket server queues them and keeps a transaction's statements
// together. Our pool holds a single connection, but pg-pool throws a connection away after any failed
// `pool.query` and dials again before the server has noticed the old socket close. A few spare slots
// let that reconnect in instead of being refused with "Too many connections".
const SOCKET_SLOTS = 4;

/**
 * Starts PGlite (files under `dataDir`, or in memory when null) and serves it on a Unix socket in a fresh
 * private directory.
 * A lock file beside `dataDir` keeps a second server process from opening the same files.
 */
export async function startEmbeddedPostgres(dataDir: string | null): Promise<EmbeddedPostgres> {
  const unlock = dataDir ? await lockDataDir(dataDir) : async () => undefined;
  let db: PGlite | null = null;
  let socketDir: string | null = null;
  try {
    db = await PGlite.create({
      ...(dataDir ? { dataDir } : {}),
      ...(await pgliteTemplateOptions(dataDir)),
      startParams: PGLITE_START_PARAMS,
    });
    socketDir = await mkdtemp(join(tmpdir(), 'rclaude-pg-'));
    const port = 5432;
    const server = new PGLiteSocketServer({
      db,
      path: join(socketDir, `.s.PGSQL.${port}`),
      maxConnections: SOCKET_SLOTS,
    });
    await server.start();
    const opened = db;
    const dir = socketDir;
    return {
      host: dir,
      port,
      async stop() {
        // Handlers detach on their sockets' close events; closing PGlite under a detaching handler
        // would make its rollback fail, so wait (bounded) for them to finish first.
        for (let i = 0; i < 100 && server.getStats().activeConnections > 0; i++) await sleep(10);
        await server.stop();
        await opened.close();
        await rm(dir, { recursive: true, force: true });
        await unlock();
      },
    };
  } catch (err) {
    await db?.close().catch(() => undefined);
    if (socketDir) await rm(socketDir, { recursive: true, force: true });
    await unlock();
    if (err instanceof AppError) throw err;
    throw new AppError('INTERNAL', `cannot start the embedded database${dataDir ? ` in ${dataDir}` : ''}`, {
      cause: err,
    });
  }
}

async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  await mkdir(dataDir, { recursive: true });
  const file = `${dataDir}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(file, String(process.pid), { flag: 'wx', mode: 0o600 });
      return () => rm(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
        throw new AppError(
          'CONFLICT',
          `another rclaude server (pid ${pid}) is using the database in ${dataDir}; stop it, or set DATABASE_URL`,
        );
      }
      // Left behind by a process that died: take it over.
      await rm(file, { force: true });
    }
  }
  throw new AppError('CONFLICT', `cannot lock the database directory ${dataDir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
