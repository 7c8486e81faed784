import type { Logger } from 'pino';
import { composeServer } from './compose-server.js';
import type { Config } from './config.js';

export interface RunningServer {
  /** Where the server listens, e.g. http://127.0.0.1:7878. */
  url: string;
  /** A fresh one-time link that opens the web app signed in as the admin (once, for 10 minutes). */
  createLoginUrl(): Promise<{ url: string; expiresAt: string }>;
  /** The admin's API token for CLIs on this machine (in the 0600 local state file); never print it. */
  token: string;
  proxyId: string;
  close(): Promise<void>;
}

/** Starts the server `rclaude server` runs: {@link composeServer} with nothing swapped. */
export async function startServer(config: Config, opts: { log?: Logger } = {}): Promise<RunningServer> {
  const server = await composeServer(config, opts.log ? { log: opts.log } : {});
  return {
    url: server.url,
    createLoginUrl: server.createLoginUrl,
    token: server.token,
    proxyId: server.proxyId,
    close: server.close,
  };
}
