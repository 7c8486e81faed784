import { createInterface } from 'node:readline/promises';
import { AppError, type User } from '@rclaude/protocol';
import { ApiClient } from '../api.js';
import { CliError, EXIT } from '../errors.js';
import { safeText } from '../output.js';
import { normaliseServer, resolveTarget, saveCredentials } from '../settings.js';
import { askHidden } from '../terminal/ask-hidden.js';

/**
 * `rclaude login`: stores a token for a server in $XDG_CONFIG_HOME/rclaude/credentials.json (mode 0600).
 * With --token, checks and stores it; otherwise asks for a username and password.
 */
export async function loginCommand(opts: { server?: string; token?: string; username?: string }): Promise<number> {
  const server = opts.server ? normaliseServer(opts.server) : resolveTarget({}).server;
  let token = opts.token ?? process.env.RCLAUDE_TOKEN;
  if (!token) {
    if (!process.stdin.isTTY)
      throw new CliError('no token given and no terminal to ask for a password', 1, 'use --token or RCLAUDE_TOKEN');
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const username = opts.username ?? (await rl.question('username: '));
    const password = await askHidden(rl, 'password: ');
    rl.close();
    token = (await new ApiClient(server, '').login(username, password)).token;
  }
  const api = new ApiClient(server, token);
  let me: User;
  try {
    me = await api.me();
  } catch (err) {
    if (err instanceof AppError && err.code === 'UNAUTHENTICATED')
      throw new CliError('that token was refused', EXIT.auth);
    throw err;
  }
  // A server from before GET /api/version answers NOT_FOUND: it is only left out of the message.
  const version = await api.version().then(
    (v) => ` (rclaude ${v.version})`,
    (err: unknown) => {
      if (err instanceof AppError && err.code === 'NOT_FOUND') return '';
      throw err;
    },
  );
  const file = saveCredentials(server, token);
  process.stderr.write(
    `logged in to ${safeText(`${server}${version}`)} as ${safeText(me.username)}; token saved in ${file}\n`,
  );
  return EXIT.ok;
}
