import { createInterface } from 'node:readline/promises';
import {
  AppError,
  allowHostEntrySchema,
  apiTokenIdSchema,
  passwordSchema,
  putSecretRequestSchema,
  secretNameSchema,
  usernameSchema,
} from '@rclaude/protocol';
import { apiClientFor } from '../api.js';
import { CliError, EXIT } from '../errors.js';
import { safeJson, safeText } from '../output.js';
import { age, printTable } from '../table.js';
import { askHidden } from '../terminal/ask-hidden.js';

interface Common {
  server?: string;
  json?: boolean;
}

// ---- secrets ------------------------------------------------------------------------------------

/**
 * `rclaude secret set NAME`: the value comes from stdin (piped) or a prompt without echo, never from the
 * command line, where it would land in shell history and `ps`.
 */
export async function secretSetCommand(name: string, opts: Common, cmd: { args: string[] }): Promise<number> {
  if (cmd.args.length > 1) {
    throw new CliError(
      'a secret value is never taken as an argument (it would stay in your shell history and show in `ps`)',
      1,
      `pipe it in: \`printenv ${name} | rclaude secret set ${name}\`, or run without the value to be asked for it; if that was a real key, consider rotating it`,
    );
  }
  parse(secretNameSchema, name);
  const api = apiClientFor(opts);
  const value = await readConfidential(`value of ${name}: `);
  parse(putSecretRequestSchema, { value });
  const info = await api.call('putSecret', { params: { name }, body: { value } });
  process.stdout.write(`${info.name} stored\n`);
  return EXIT.ok;
}

/** `rclaude secret ls`: names and when they were last set; values never leave the server. */
export async function secretLsCommand(opts: Common): Promise<number> {
  const { secrets } = await apiClientFor(opts).call('listSecrets');
  if (opts.json) {
    process.stdout.write(`${safeJson(secrets, 2)}\n`);
    return EXIT.ok;
  }
  if (secrets.length === 0) {
    process.stdout.write('no secrets yet; store one with `rclaude secret set ANTHROPIC_API_KEY`\n');
    return EXIT.ok;
  }
  printTable(
    ['NAME', 'UPDATED'],
    secrets.map((s) => [s.name, age(s.updatedAt)]),
  );
  return EXIT.ok;
}

/** `rclaude secret rm NAME`. */
export async function secretRmCommand(name: string, opts: Common): Promise<number> {
  parse(secretNameSchema, name);
  await notFoundHint(
    apiClientFor(opts).call('deleteSecret', { params: { name } }),
    'list your secrets with `rclaude secret ls`',
  );
  process.stdout.write(`${name} deleted\n`);
  return EXIT.ok;
}

// ---- egress allow-list ----------------------------------------------------------------------------

/** `rclaude allow-host ls`: the hosts your tasks' sandboxes may reach besides the server's list. */
export async function allowHostLsCommand(opts: Common): Promise<number> {
  const { hosts } = await apiClientFor(opts).call('listAllowHosts');
  if (opts.json) {
    process.stdout.write(`${safeJson(hosts, 2)}\n`);
    return EXIT.ok;
  }
  if (hosts.length === 0) {
    process.stdout.write(
      "no hosts of your own; your tasks reach the server's allow-list only. Add one with `rclaude allow-host add HOST`\n",
    );
    return EXIT.ok;
  }
  printTable(
    ['HOST', 'ADDED'],
    hosts.map((h) => [h.host, age(h.addedAt)]),
  );
  return EXIT.ok;
}

/** `rclaude allow-host add HOST...`: each is checked by the server (names and *.patterns, optional :port). */
export async function allowHostAddCommand(hosts: string[], opts: Common): Promise<number> {
  const api = apiClientFor(opts);
  const added = [];
  for (const host of hosts) {
    const entry = await api.call('addAllowHost', { body: { host: parse(allowHostEntrySchema, host) } });
    added.push(entry);
    if (!opts.json) process.stdout.write(`${safeText(entry.host)} allowed for your tasks' next connections\n`);
  }
  if (opts.json) process.stdout.write(`${safeJson(added, 2)}\n`);
  return EXIT.ok;
}

/** `rclaude allow-host rm HOST...`. */
export async function allowHostRmCommand(hosts: string[], opts: Common): Promise<number> {
  const api = apiClientFor(opts);
  for (const host of hosts) {
    await notFoundHint(
      api.call('removeAllowHost', { params: { host: parse(allowHostEntrySchema, host) } }),
      'list your hosts with `rclaude allow-host ls`',
    );
    process.stdout.write(`${safeText(host.trim().toLowerCase())} removed\n`);
  }
  return EXIT.ok;
}

// ---- API tokens ---------------------------------------------------------------------------------

/** `rclaude token ls`. */
export async function tokenLsCommand(opts: Common): Promise<number> {
  const { tokens } = await apiClientFor(opts).call('listTokens');
  if (opts.json) {
    process.stdout.write(`${safeJson(tokens, 2)}\n`);
    return EXIT.ok;
  }
  if (tokens.length === 0) {
    process.stdout.write('no API tokens; create one with `rclaude token create NAME`\n');
    return EXIT.ok;
  }
  printTable(
    ['ID', 'NAME', 'PREFIX', 'CREATED', 'LAST USED'],
    tokens.map((t) => [t.id, t.name, t.prefix, age(t.createdAt), t.lastUsedAt ? age(t.lastUsedAt) : 'never']),
  );
  return EXIT.ok;
}

/** `rclaude token create NAME`: the token goes to stdout alone, so `$(rclaude token create ci)` captures it. */
export async function tokenCreateCommand(name: string, opts: Common): Promise<number> {
  const res = await apiClientFor(opts).call('createToken', { body: { name } });
  process.stdout.write(opts.json ? `${safeJson(res)}\n` : `${res.token}\n`);
  process.stderr.write(`token "${safeText(res.info.name)}" (id ${res.info.id}) created; it will not be shown again\n`);
  return EXIT.ok;
}

/** `rclaude token revoke ID`. */
export async function tokenRevokeCommand(id: string, opts: Common): Promise<number> {
  if (!apiTokenIdSchema.safeParse(id).success) {
    throw new CliError(`"${id}" is not a token id`, 1, 'the ID column of `rclaude token ls`');
  }
  await notFoundHint(
    apiClientFor(opts).call('revokeToken', { params: { id } }),
    'list your tokens with `rclaude token ls`',
  );
  process.stdout.write(`${id} revoked\n`);
  return EXIT.ok;
}

// ---- users --------------------------------------------------------------------------------------

/** `rclaude user ls` (admins). */
export async function userLsCommand(opts: Common): Promise<number> {
  const { users } = await apiClientFor(opts).call('listUsers');
  if (opts.json) {
    process.stdout.write(`${safeJson(users, 2)}\n`);
    return EXIT.ok;
  }
  printTable(
    ['ID', 'USERNAME', 'ROLE', 'CREATED'],
    users.map((u) => [u.id, u.username, u.role, age(u.createdAt)]),
  );
  return EXIT.ok;
}

/** `rclaude user add USERNAME [--admin]`: the password comes from stdin (piped) or a prompt without echo. */
export async function userAddCommand(username: string, opts: Common & { admin?: boolean }): Promise<number> {
  parse(usernameSchema, username);
  const api = apiClientFor(opts);
  // The server refuses too; asking first spares a non-admin typing a password for nothing.
  const me = await api.me();
  if (me.role !== 'admin') throw new CliError(`only an admin can add users (you are ${me.username})`);
  const password = parse(passwordSchema, await readConfidential(`password for ${username}: `, { confirm: true }));
  const user = await api.call('createUser', {
    body: { username, password, role: opts.admin ? 'admin' : 'user' },
  });
  process.stdout.write(
    opts.json ? `${safeJson(user)}\n` : `${safeText(user.username)} created (${user.role}, id ${user.id})\n`,
  );
  return EXIT.ok;
}

/** `rclaude user passwd [USERNAME]`: your own password, or (admins) anyone's. */
export async function userPasswdCommand(username: string | undefined, opts: Common): Promise<number> {
  const api = apiClientFor(opts);
  const me = await api.me();
  const target = username ?? me.username;
  let id = me.id;
  if (target !== me.username) {
    if (me.role !== 'admin') throw new CliError('you can only change your own password');
    const { users } = await api.call('listUsers');
    const found = users.find((u) => u.username === target);
    if (!found) throw new CliError(`no user named ${target}`, 1, 'list users with `rclaude user ls`');
    id = found.id;
  }
  const password = parse(passwordSchema, await readConfidential(`new password for ${target}: `, { confirm: true }));
  await api.call('setPassword', { params: { id }, body: { password } });
  process.stdout.write(`password of ${target} changed\n`);
  return EXIT.ok;
}

// ---- helpers ------------------------------------------------------------------------------------

/** What `parse` needs of a protocol zod schema (the CLI does not depend on zod itself). */
interface Schema<T> {
  safeParse(value: unknown): { success: true; data: T } | { success: false; error: { issues: { message: string }[] } };
}

/** Validates early with the protocol schema, so bad input fails before any prompt or request. */
function parse<T>(schema: Schema<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new CliError(result.error.issues.map((i) => i.message).join('; '));
}

/** The generic NOT_FOUND hint points at tasks; these resources have their own list command. */
async function notFoundHint<T>(request: Promise<T>, hint: string): Promise<T> {
  try {
    return await request;
  } catch (err) {
    if (err instanceof AppError && err.code === 'NOT_FOUND') throw new CliError(err.message, EXIT.error, hint);
    throw err;
  }
}

/**
 * A secret or password: all of stdin when it is not a terminal (one trailing newline dropped, as `echo`
 * adds it), else typed at a prompt on stderr without echo.
 */
async function readConfidential(prompt: string, opts: { confirm?: boolean } = {}): Promise<string> {
  if (!process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '');
    if (text === '') throw new CliError('nothing on stdin', 1, 'pipe the value in, or run in a terminal to type it');
    return text;
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  // In raw mode Ctrl-C is a keypress, not a signal: without this the prompt would ignore it.
  const cancel = new AbortController();
  rl.on('SIGINT', () => cancel.abort());
  try {
    const value = await askHidden(rl, prompt, cancel.signal);
    if (value === '') throw new CliError('nothing entered; nothing was changed');
    if (opts.confirm && (await askHidden(rl, 'again: ', cancel.signal)) !== value) {
      throw new CliError('the two entries differ; nothing was changed');
    }
    return value;
  } catch (err) {
    if (cancel.signal.aborted) throw new CliError('cancelled', EXIT.cancelled);
    throw err;
  } finally {
    rl.close();
  }
}
