import type { Logger } from 'pino';
import { composeServer } from './compose-server.js';
import type { Config } from './config.js';

export interface RunningServer {
  /** Where the server listens, e.g. http://127.0.0.1:7878. */
  url: string;
  /** Opens the web app signed in as the admin (the token is exchanged for a cookie, then dropped). */
  loginUrl: string;
  /** The admin's login token (also written to the local state file for CLIs on this machine). */
  token: string;
  proxyId: string;
  close(): Promise<void>;
}

/** Starts the server `rclaude server` runs: {@link composeServer} with nothing swapped. */
export async function startServer(config: Config, opts: { log?: Logger } = {}): Promise<RunningServer> {
  const server = await composeServer(config, opts.log ? { log: opts.log } : {});
  return {
    url: server.url,
    loginUrl: server.loginUrl,
    token: server.token,
    proxyId: server.proxyId,
    close: server.close,
  };
}
