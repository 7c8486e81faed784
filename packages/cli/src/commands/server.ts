import fs from 'node:fs';
import path from 'node:path';
import { CliError } from '../errors.js';

export interface ServerOptions {
  port?: string;
  host?: string;
  provider?: string;
  unconfined?: boolean;
  json?: boolean;
}

/** `rclaude server`: the proxy and the web app, on embedded storage unless DATABASE_URL / REDIS_URL are set. */
export async function serverCommand(opts: ServerOptions): Promise<number> {
  const { ConfigError, loadConfig, startServer } = await loadServer();
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env, {
      ...(opts.port !== undefined ? { PORT: Number(opts.port) } : {}),
      ...(opts.host ? { HOST: opts.host } : {}),
      ...(opts.provider ? { RCLAUDE_PROVIDER: opts.provider as 'local' } : {}),
      ...(opts.unconfined ? { RCLAUDE_LOCAL_SANDBOX: 'none' as const } : {}),
      // In a terminal (or with --json) only warnings are logged: request logs would drown the banner. As a
      // service (stderr not a terminal) the JSON log keeps everything at info; LOG_LEVEL always wins.
      ...((opts.json || process.stderr.isTTY) && !process.env.LOG_LEVEL ? { LOG_LEVEL: 'warn' as const } : {}),
    });
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, 1, 'see docs/configuration.md');
    throw err;
  }
  if (!opts.json && !config.DATABASE_URL && !fs.existsSync(path.join(config.dataDir, 'pgdata'))) {
    process.stderr.write(
      `rclaude: first start: creating the embedded database in ${config.dataDir} (takes a few seconds)…\n`,
    );
  }
  const server = await startServer(config);
  const stateFile = path.join(config.dataDir, 'server.json');
  // A sign-in link only to a person at a terminal: a piped stdout ends up in logs (docker logs, CloudWatch,
  // the journal), and whoever reads a log must not get a way in. CLIs on this machine read server.json.
  const login = process.stdout.isTTY ? await server.createLoginUrl() : null;
  if (opts.json) {
    process.stdout.write(
      `${JSON.stringify({ url: server.url, stateFile, ...(login ? { loginUrl: login.url, loginUrlExpiresAt: login.expiresAt } : {}) })}\n`,
    );
  } else {
    const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
    process.stdout.write(
      [
        '',
        `  rclaude server is running at ${bold(server.url)}`,
        `  provider: ${config.RCLAUDE_PROVIDER}  ·  data: ${config.DATABASE_URL ? 'Postgres' : `embedded (${config.dataDir})`}  ·  sessions: ${config.REDIS_URL ? 'Redis' : 'in-process'}`,
        '',
        ...(login
          ? ['  Open the web app (signed in as admin; the link works once, for 10 minutes):', `    ${login.url}`]
          : ['  To open the web app signed in, run on this machine:  rclaude web']),
        '',
        '  From a terminal on this machine:  rclaude run',
        '',
      ].join('\n'),
    );
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    // A stuck shutdown step must not leave the process hanging.
    setTimeout(() => process.exit(1), 10_000).unref();
    if (!opts.json)
      process.stderr.write(`\n${signal}: stopping (sandboxes keep running and reconnect on the next start)\n`);
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // Runs until a signal stops it.
  return new Promise<number>(() => undefined);
}

/**
 * The server is a separate package, loaded only by this command: the CLI a laptop installs stays a thin client
 * (no embedded Postgres, node-pty or Claude Code binary). It is there in the repository and in the server image.
 */
async function loadServer(): Promise<typeof import('@rclaude/proxy')> {
  try {
    return await import('@rclaude/proxy');
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes("'@rclaude/proxy'")) {
      throw new CliError(
        'the rclaude server is not installed with this CLI',
        1,
        'run the server from the rclaude repository (`npm install && npm start`) or its Docker image (docs/deploy-aws.md); this CLI then connects with --server URL',
      );
    }
    throw err;
  }
}
