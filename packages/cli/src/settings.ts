import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CliError, EXIT } from './errors.js';

/** Where `rclaude login` keeps credentials: `$XDG_CONFIG_HOME/rclaude/credentials.json`, mode 0600. */
export function configDir(env = process.env): string {
  return path.join(env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config'), 'rclaude');
}

/** Where a local `rclaude server` keeps its data and leaves `server.json` for CLIs on this machine. */
export function dataDir(env = process.env): string {
  return env.RCLAUDE_DATA_DIR || path.join(env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share'), 'rclaude');
}

interface Credentials {
  /** The server used when none is named. */
  current?: string;
  tokens: Record<string, string>;
}

function credentialsFile(env = process.env): string {
  return path.join(configDir(env), 'credentials.json');
}

export function readCredentials(env = process.env): Credentials {
  try {
    const parsed = JSON.parse(fs.readFileSync(credentialsFile(env), 'utf8')) as Partial<Credentials>;
    return { ...(parsed.current ? { current: parsed.current } : {}), tokens: parsed.tokens ?? {} };
  } catch {
    return { tokens: {} };
  }
}

export function saveCredentials(server: string, token: string, env = process.env): string {
  const creds = readCredentials(env);
  creds.tokens[server] = token;
  creds.current = server;
  const file = credentialsFile(env);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
  fs.chmodSync(file, 0o600);
  return file;
}

function localServer(env = process.env): { url: string; token: string } | null {
  try {
    const state = JSON.parse(fs.readFileSync(path.join(dataDir(env), 'server.json'), 'utf8')) as {
      url?: string;
      token?: string;
      pid?: number;
    };
    if (!state.url || !state.token || !state.pid) return null;
    process.kill(state.pid, 0);
    return { url: state.url, token: state.token };
  } catch {
    return null;
  }
}

export function normaliseServer(url: string): string {
  let u: URL;
  try {
    u = new URL(/^[a-z]+:\/\//i.test(url) ? url : `http://${url}`);
  } catch {
    throw new CliError(`not a server URL: ${url}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new CliError(`not an http(s) URL: ${url}`);
  return u.origin;
}

/**
 * Which server and token to use: `--server`, then RCLAUDE_SERVER / RCLAUDE_TOKEN, then the saved login,
 * then a server running on this machine (its URL and admin token from server.json).
 */
export function resolveTarget(
  opts: { server?: string | undefined },
  env = process.env,
): { server: string; token: string } {
  const named = opts.server ?? env.RCLAUDE_SERVER;
  const creds = readCredentials(env);
  if (named) {
    const server = normaliseServer(named);
    const token =
      env.RCLAUDE_TOKEN ||
      creds.tokens[server] ||
      (localServer(env)?.url === server ? localServer(env)?.token : undefined);
    if (!token)
      throw new CliError(`no credentials for ${server}`, EXIT.auth, `run \`rclaude login --server ${server}\``);
    return { server, token };
  }
  if (env.RCLAUDE_TOKEN && creds.current) return { server: creds.current, token: env.RCLAUDE_TOKEN };
  if (creds.current && creds.tokens[creds.current])
    return { server: creds.current, token: creds.tokens[creds.current] as string };
  const local = localServer(env);
  if (local) return { server: local.url, token: env.RCLAUDE_TOKEN || local.token };
  throw new CliError(
    'no rclaude server found',
    EXIT.error,
    'start one with `rclaude server` (or `npm start`), or point at one with `rclaude login --server URL`',
  );
}
