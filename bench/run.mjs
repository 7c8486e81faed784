#!/usr/bin/env node
/**
 * rclaude's benchmark suite: `npm run bench` prints a table; `npm run bench -- --json` makes the last stdout
 * line one JSON object; `--write-docs` also writes the table into docs/benchmarks.md. Everything runs against
 * real processes started here (the `rclaude server` CLI, bwrap sandboxes with their agents), is bounded in
 * time, and is cleaned up on every way out. Progress goes to stderr.
 *
 * Options: --json, --write-docs, --quick (smaller figures for a smoke run), --only=a,b (scenarios:
 * throughput, echo, interrupt, reattach, tti, resume, sessions, cli, checkpoint), --flood-mib=N, --max-sessions=N, and
 * --database-url=postgres://... / --redis-url=redis://... to run the servers on Postgres and Redis (a fresh
 * schema and key prefix per server, dropped afterwards) instead of the embedded defaults.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { startRclaudeServer } from '@rclaude/testkit';
import { Api, Viewer } from './lib/client.mjs';
import { renderTable, writeDocs } from './lib/report.mjs';
import { round, scaledMs } from './lib/stats.mjs';
import { killTerminals } from './lib/terminal.mjs';
import { checkpoint } from './scenarios/checkpoint.mjs';
import { cli } from './scenarios/cli.mjs';
import { echo } from './scenarios/echo.mjs';
import { interrupt } from './scenarios/interrupt.mjs';
import { reattach } from './scenarios/reattach.mjs';
import { resume } from './scenarios/resume.mjs';
import { sessionsHeld } from './scenarios/sessions.mjs';
import { throughput } from './scenarios/throughput.mjs';
import { tti, waitPoolFull } from './scenarios/tti.mjs';

const args = process.argv.slice(2);
const flag = (name) => args.includes(`--${name}`);
const value = (name) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const quick = flag('quick');
const only = value('only')?.split(',');
const wants = (name) => !only || only.includes(name);
const maxSessions = Number(value('max-sessions') ?? (quick ? 200 : 2000));

const opts = {
  floodMiB: Number(value('flood-mib') ?? (quick ? 8 : 48)),
  floodRounds: quick ? 1 : 2,
  echoKeys: quick ? 200 : 1000,
  interruptRounds: quick ? 2 : 5,
  historyMB: quick ? 10 : 50,
  reattachRounds: 5,
  ttiRounds: quick ? 3 : 10,
  poolSize: 2,
  sessionSteps: [50, 100, 200, 300, 400, 500, 600, 800, 1000, 1250, 1500, 1750, 2000].filter((n) => n <= maxSessions),
  sessionsPerSandbox: 50,
  sessionsMeasureMs: quick ? 3000 : 5000,
  sessionsBudgetMs: quick ? 60_000 : 240_000,
  cliFloodMiB: quick ? 8 : 32,
  cliRounds: 5,
  echoBudgetMs: quick ? 60_000 : 180_000,
  idleSettleMs: quick ? 2000 : 5000,
  checkpointFiles: quick ? 2000 : 20_000,
  checkpointMB: quick ? 20 : 200,
  resumeFiles: quick ? 300 : 2000,
  resumeRounds: quick ? 2 : 5,
};
/** The whole run stops by itself after this long, whatever state it is in. */
const HARD_LIMIT_MS = 20 * 60_000;

const log = (msg) => process.stderr.write(`${msg}\n`);
const servers = [];
// The sessions scenario holds more live tasks than one user may have by default (RCLAUDE_MAX_TASKS_PER_USER).
const serverEnv = { LOG_LEVEL: 'warn', AGENT_RECONNECT_GRACE_MS: '5000', RCLAUDE_MAX_TASKS_PER_USER: '0' };
const databaseUrl = value('database-url');
const redisUrl = value('redis-url');
const stores = `${databaseUrl ? 'postgres' : 'embedded pglite'} + ${redisUrl ? 'redis' : 'in-process sessions'}`;
/** Schemas and key prefixes created for this run, removed by cleanup(). */
const scratch = { schemas: [], prefixes: [] };
/** What scenarios started besides servers (sshd, temp dirs): `run` on cleanup, `sync` at process exit. */
const stoppers = [];

function storesEnv() {
  const env = {};
  if (databaseUrl) {
    const schema = `bench_${randomBytes(6).toString('hex')}`;
    scratch.schemas.push(schema);
    Object.assign(env, { DATABASE_URL: databaseUrl, RCLAUDE_DATABASE_SCHEMA: schema });
  }
  if (redisUrl) {
    const prefix = `rclaude-bench-${randomBytes(6).toString('hex')}`;
    scratch.prefixes.push(prefix);
    Object.assign(env, { REDIS_URL: redisUrl, RCLAUDE_REDIS_PREFIX: prefix });
  }
  return env;
}

async function dropScratch() {
  if (scratch.schemas.length) {
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    for (const schema of scratch.schemas.splice(0)) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  }
  if (scratch.prefixes.length) {
    const { Redis } = await import('ioredis');
    const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
    await redis.connect();
    for (const prefix of scratch.prefixes.splice(0)) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await redis.del(...keys);
      } while (cursor !== '0');
    }
    redis.disconnect();
  }
}

async function startServer(extraEnv = {}) {
  const t0 = performance.now();
  const server = await startRclaudeServer({
    env: { ...serverEnv, ...storesEnv(), ...extraEnv },
    timeoutMs: scaledMs(180_000),
  });
  servers.push(server);
  log(`server up at ${server.url} in ${((performance.now() - t0) / 1000).toFixed(1)} s (pid ${server.process.pid})`);
  return server;
}

async function stopServer(server) {
  const i = servers.indexOf(server);
  if (i >= 0) servers.splice(i, 1);
  await server.stop();
}

/** The cleanup under way: a second caller (a signal while a failure cleans up) waits for the same one. */
let cleaning = null;

function cleanup() {
  cleaning ??= cleanupOnce().finally(() => {
    cleaning = null;
  });
  return cleaning;
}

async function cleanupOnce() {
  killTerminals();
  for (const s of stoppers.splice(0).reverse()) {
    await Promise.resolve()
      .then(s.run)
      .catch((err) => log(`bench: cleanup step failed: ${err.message}`));
  }
  await Promise.all(servers.splice(0).map((s) => s.stop().catch(() => undefined)));
  await dropScratch().catch((err) => log(`bench: could not remove its schemas or keys: ${err.message}`));
}

async function main() {
  const machine = {
    cores: os.cpus().length,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    load_avg_1m: os.loadavg()[0],
    date: new Date().toISOString(),
  };
  log(
    `rclaude bench: ${machine.cores} cores (${machine.cpu}), Node ${machine.node}, load ${machine.load_avg_1m.toFixed(2)}`,
  );
  const figures = {};
  const started = performance.now();

  const chainScenarios = ['throughput', 'echo', 'interrupt', 'reattach', 'tti', 'resume'].filter(wants);
  const server = chainScenarios.length ? await startServer({ RCLAUDE_WARM_POOL_SIZE: '0' }) : null;
  const api = server && new Api(server.url, server.token);
  const viewer = server && new Viewer(server.url, server.token);
  await viewer?.connected();
  const ctx = { api, viewer, server, opts, log };

  if (wants('throughput')) {
    log('throughput (flood through the chain vs a local node-pty)...');
    Object.assign(figures, await throughput(ctx));
  }
  if (wants('echo')) {
    log(`echo (${opts.echoKeys} keys each way)...`);
    Object.assign(figures, await echo(ctx));
  }
  if (wants('interrupt')) {
    log('Ctrl-C during `yes`...');
    Object.assign(figures, await interrupt(ctx));
  }
  if (wants('reattach')) {
    log(`reattach to a session with ${opts.historyMB} MB of history...`);
    Object.assign(figures, await reattach(ctx));
  }
  if (wants('tti')) {
    log('time to first byte, cold (no warm pool)...');
    const cold = await tti(ctx, { rounds: opts.ttiRounds });
    figures.tti_cold_p50_ms = cold.p50;
  }
  if (wants('resume')) {
    log(`resume of a stopped task from its checkpoint (${opts.resumeFiles} files), cold...`);
    Object.assign(figures, await resume(ctx));
  }
  viewer?.close();
  await cleanup();

  if (wants('sessions')) {
    log('sessions held by one proxy (a fresh server, so its memory growth is the sessions)...');
    const holdServer = await startServer({ RCLAUDE_WARM_POOL_SIZE: '0' });
    const holdCtx = { ...ctx, api: new Api(holdServer.url, holdServer.token), server: holdServer };
    Object.assign(figures, await sessionsHeld(holdCtx));
    await cleanup();
  }

  if (wants('tti')) {
    log(`time to first byte, warm (pool of ${opts.poolSize})...`);
    const warmServer = await startServer({ RCLAUDE_WARM_POOL_SIZE: String(opts.poolSize) });
    const warmViewer = new Viewer(warmServer.url, warmServer.token);
    await warmViewer.connected();
    const warmCtx = { ...ctx, api: new Api(warmServer.url, warmServer.token), viewer: warmViewer, server: warmServer };
    const warm = await tti(warmCtx, {
      rounds: opts.ttiRounds,
      beforeEach: () => waitPoolFull(warmServer, opts.poolSize),
    });
    figures.tti_warm_p50_ms = warm.p50;
    warmViewer.close();
    await cleanup();
  }

  if (wants('cli')) {
    log('the rclaude CLI in a terminal, beside OpenSSH on loopback...');
    const cliCtx = {
      opts,
      log,
      startServer,
      stopServer,
      onCleanup: (run, sync = run) => stoppers.push({ run, sync }),
    };
    Object.assign(figures, await cli(cliCtx));
    await cleanup();
  }

  if (wants('checkpoint')) {
    log(
      `checkpoints: pack, pack again after one change, restore (${opts.checkpointFiles} files, ~${opts.checkpointMB} MB)...`,
    );
    const cpCtx = { opts, log, onCleanup: (run, sync = run) => stoppers.push({ run, sync }) };
    Object.assign(figures, await checkpoint(cpCtx));
    await cleanup();
  }

  const result = { ...roundAll(figures), stores, machine, duration_s: round((performance.now() - started) / 1000, 1) };
  const table = renderTable(result);
  process.stdout.write(`\n${table}\n`);
  if (flag('write-docs')) {
    writeDocs(table, result);
    log('wrote docs/benchmarks.md');
  }
  if (flag('json')) process.stdout.write(`${JSON.stringify(result)}\n`);
}

function roundAll(figures) {
  const out = {};
  for (const [k, v] of Object.entries(figures)) {
    if (typeof v === 'number') out[k] = round(v, k.endsWith('ratio') ? 3 : 2);
    else if (Array.isArray(v)) out[k] = v.map((row) => (typeof row === 'object' ? roundAll(row) : row));
    else out[k] = v;
  }
  return out;
}

const watchdog = setTimeout(() => {
  log(`bench: hard time limit (${HARD_LIMIT_MS / 60_000} min) reached; stopping`);
  void cleanup().finally(() => process.exit(3));
}, HARD_LIMIT_MS);
watchdog.unref();

// Last resort (an exit from anywhere): nothing the bench started outlives it.
process.on('exit', () => {
  killTerminals();
  for (const s of stoppers.splice(0)) {
    try {
      s.sync();
    } catch {
      // Best effort at exit.
    }
  }
  for (const s of servers) s.process.kill('SIGKILL');
});

/** Set by a signal: what fails after it (a terminal killed by the cleanup) is not news. */
let signalled = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    signalled = true;
    log(`bench: ${sig}; cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

main().then(
  () => {
    clearTimeout(watchdog);
    process.exit(0);
  },
  async (err) => {
    if (!signalled) {
      log(`bench failed: ${err?.stack ?? err}`);
      const tail = servers.map((s) => s.log().slice(-4000)).join('\n');
      if (tail) log(`server log tail:\n${tail}`);
    }
    await cleanup();
    process.exit(signalled ? 130 : 1);
  },
);
