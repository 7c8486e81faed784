/**
 * `rclaude secret`, `rclaude token` and `rclaude user` end to end: a real `rclaude server` (embedded storage,
 * local sandboxes), the built CLI in pipes and in a real terminal (tmux), and a sandbox that proves what a
 * stored secret's value is without anyone printing it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import {
  type CliResult,
  type RclaudeServer,
  runCli,
  startRclaudeServer,
  Terminals,
  type TmuxTerminal,
  until,
} from '@rclaude/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

let server: RclaudeServer;
const terminals = new Terminals();
/** Every CLI run of this file: no secret value may appear in any of them. */
const outputs: CliResult[] = [];

const pipedValue = `sk-ant-piped-${randomBytes(12).toString('hex')}`;
// Two trailing newlines: exactly one is dropped, so the stored value keeps the other.
const multilineValue = `first-${randomBytes(6).toString('hex')}\nsecond\n`;
const typedValue = `typed-${randomBytes(12).toString('hex')}`;
const secretValues = [pipedValue, multilineValue.split('\n')[0] as string, typedValue];

beforeAll(async () => {
  server = await startRclaudeServer({ env: { ANTHROPIC_API_KEY: '', CLAUDE_CODE_OAUTH_TOKEN: '' } });
}, 120_000);

afterAll(async () => {
  if (process.env.RCLAUDE_TEST_LOG) writeFileSync(process.env.RCLAUDE_TEST_LOG, server?.log() ?? '');
  await server?.stop();
});

afterEach(() => {
  terminals.closeAll();
});

async function cli(args: string[], opts: { input?: string; token?: string } = {}): Promise<CliResult> {
  const r = await runCli(args, {
    env: { ...server.cliEnv(), ...(opts.token ? { RCLAUDE_TOKEN: opts.token } : {}) },
    ...(opts.input === undefined ? {} : { input: opts.input }),
  });
  outputs.push(r);
  return r;
}

function terminal(args: string): TmuxTerminal {
  return terminals.rclaude(server.cliEnv(), args);
}

async function login(username: string, password: string): Promise<Response> {
  return fetch(`${server.url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('rclaude secret', () => {
  it('stores a value piped on stdin and lists the name, never the value', async () => {
    const set = await cli(['secret', 'set', 'ANTHROPIC_API_KEY'], { input: `${pipedValue}\n` });
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toBe('ANTHROPIC_API_KEY stored\n');
    expect((await cli(['secret', 'set', 'MULTILINE_SECRET'], { input: `${multilineValue}\n` })).code).toBe(0);

    const ls = await cli(['secret', 'ls', '--json']);
    expect(ls.code, ls.stderr).toBe(0);
    const secrets = JSON.parse(ls.stdout) as { name: string; updatedAt: string }[];
    expect(secrets.map((s) => s.name)).toEqual(['ANTHROPIC_API_KEY', 'MULTILINE_SECRET']);
    expect(Object.keys(secrets[0] ?? {}).sort()).toEqual(['name', 'updatedAt']);

    const table = await cli(['secret', 'ls']);
    expect(table.stdout).toMatch(/^NAME +UPDATED\nANTHROPIC_API_KEY +\d+s ago\nMULTILINE_SECRET +\d+s ago\n$/);
  });

  it('asks for the value without echo in a terminal', async () => {
    const t = terminal('secret set TYPED_SECRET');
    await t.waitFor((s) => s.includes('value of TYPED_SECRET:'));
    t.type(typedValue);
    t.keys('Enter');
    const screen = await t.waitFor((s) => s.includes('TYPED_SECRET stored'));
    expect(screen).not.toContain(typedValue);
    await until('the CLI to exit', () => t.exitStatus() !== null);
    expect(t.exitStatus()).toBe(0);
  });

  it('puts the exact values in the sandbox environment (one trailing newline dropped), model keys excepted', async () => {
    const run = await cli(['run', '--detach', '--json', '--', 'sleep', '600']);
    expect(run.code, run.stderr).toBe(0);
    const id = (JSON.parse(run.stdout) as { id: string }).id;
    // Hashes, so the values themselves never cross a pipe.
    const script =
      'for v in ANTHROPIC_API_KEY MULTILINE_SECRET TYPED_SECRET; do printenv "$v" | head -c -1 | sha256sum; done';
    const exec = await until('the sandbox to run the command', async () => {
      const r = await cli(['exec', id, '--', 'sh', '-c', script]);
      return r.code === 0 ? r : null;
    });
    expect(exec.stdout.split('\n').map((l) => l.split(' ')[0])).toEqual([
      // A model key stays with the server's egress gateway; the sandbox holds a placeholder.
      sha256('sk-ant-rclaude-gateway'),
      sha256(multilineValue),
      sha256(typedValue),
      '',
    ]);
    expect((await cli(['rm', id])).code).toBe(0);
  }, 60_000);

  it('refuses a value on the command line and a malformed name before sending anything', async () => {
    const arg = await cli(['secret', 'set', 'OTHER_SECRET', 'not-a-real-key'], { input: 'x\n' });
    expect(arg.code).toBe(1);
    expect(arg.stderr).toContain('never taken as an argument');
    const bad = await cli(['secret', 'set', 'lower-case'], { input: 'x\n' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('a secret name is an environment variable name in capitals');
    const empty = await cli(['secret', 'set', 'EMPTY_SECRET'], { input: '\n' });
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain('nothing on stdin');
    const names = (JSON.parse((await cli(['secret', 'ls', '--json'])).stdout) as { name: string }[]).map((s) => s.name);
    expect(names).not.toContain('OTHER_SECRET');
    expect(names).not.toContain('EMPTY_SECRET');
  });

  it('removes a secret, and says so clearly when there is none', async () => {
    const rm = await cli(['secret', 'rm', 'MULTILINE_SECRET']);
    expect(rm.code, rm.stderr).toBe(0);
    expect(rm.stdout).toBe('MULTILINE_SECRET deleted\n');
    const names = (JSON.parse((await cli(['secret', 'ls', '--json'])).stdout) as { name: string }[]).map((s) => s.name);
    expect(names).toEqual(['ANTHROPIC_API_KEY', 'TYPED_SECRET']);
    const again = await cli(['secret', 'rm', 'MULTILINE_SECRET']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('no secret named MULTILINE_SECRET');
    expect(again.stderr).toContain('rclaude secret ls');
  });
});

describe('rclaude allow-host', () => {
  it('adds names and patterns, lists them (--json), removes them, and says clearly what it refuses', async () => {
    const empty = await cli(['allow-host', 'ls']);
    expect(empty.code, empty.stderr).toBe(0);
    expect(empty.stdout).toContain('rclaude allow-host add HOST');

    const add = await cli(['allow-host', 'add', 'Registry.Example.com', '*.corp.example:8443']);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toBe(
      "registry.example.com allowed for your tasks' next connections\n*.corp.example:8443 allowed for your tasks' next connections\n",
    );
    const ls = await cli(['allow-host', 'ls', '--json']);
    expect(ls.code, ls.stderr).toBe(0);
    expect((JSON.parse(ls.stdout) as { host: string }[]).map((h) => h.host)).toEqual([
      '*.corp.example:8443',
      'registry.example.com',
    ]);
    const table = await cli(['allow-host', 'ls']);
    expect(table.stdout).toMatch(/^HOST\s+ADDED\n/);

    const refused = await cli(['allow-host', 'add', '10.0.0.0/8']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('opens an address');
    expect(refused.stderr).toContain('RCLAUDE_EGRESS_ALLOW');

    const rm = await cli(['allow-host', 'rm', 'registry.example.com']);
    expect(rm.code, rm.stderr).toBe(0);
    expect(rm.stdout).toBe('registry.example.com removed\n');
    const again = await cli(['allow-host', 'rm', 'registry.example.com']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('not on your allow-list');
    expect(again.stderr).toContain('rclaude allow-host ls');
    const left = JSON.parse((await cli(['allow-host', 'ls', '--json'])).stdout) as { host: string }[];
    expect(left.map((h) => h.host)).toEqual(['*.corp.example:8443']);
  });
});

describe('rclaude token', () => {
  it('creates a token that authenticates until it is revoked', async () => {
    const created = await cli(['token', 'create', 'ci']);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^rct_\S+\n$/);
    expect(created.stderr).toContain('will not be shown again');
    const token = created.stdout.trim();

    const ls = await cli(['ls'], { token });
    expect(ls.code, ls.stderr).toBe(0);

    const tokens = JSON.parse((await cli(['token', 'ls', '--json'])).stdout) as { id: string; name: string }[];
    const info = tokens.find((t) => t.name === 'ci');
    expect(info).toBeDefined();
    expect(JSON.stringify(tokens)).not.toContain(token);
    const table = await cli(['token', 'ls']);
    expect(table.stdout).toMatch(new RegExp(`^${info?.id} +ci +rct_\\S+ +\\d+s ago`, 'm'));

    const revoked = await cli(['token', 'revoke', info?.id ?? '']);
    expect(revoked.code, revoked.stderr).toBe(0);
    const refused = await cli(['ls'], { token });
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain('rclaude login');
  });

  it('prints {token, info} with --json', async () => {
    const created = await cli(['token', 'create', 'json-one', '--json']);
    expect(created.code, created.stderr).toBe(0);
    const body = JSON.parse(created.stdout) as { token: string; info: { id: string; name: string } };
    expect(body.info.name).toBe('json-one');
    expect((await cli(['token', 'ls'], { token: body.token })).code).toBe(0);
  });

  it('says clearly that an unknown token cannot be revoked', async () => {
    const unknown = await cli(['token', 'revoke', 'zzzzzzzzzzzz']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('rclaude: no such token');
    expect(unknown.stderr).toContain('rclaude token ls');
    const malformed = await cli(['token', 'revoke', 'rct_NOPE']);
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toContain('is not a token id');
  });
});

describe('rclaude user', () => {
  const bobPassword = `pw-${randomBytes(8).toString('hex')}`;

  it('lets the admin add users, with the password from stdin', async () => {
    const add = await cli(['user', 'add', 'bob'], { input: `${bobPassword}\n` });
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toMatch(/^bob created \(user, id [a-z0-9]+\)\n$/);
    const carol = await cli(['user', 'add', 'carol', '--admin', '--json'], { input: 'carol-password\n' });
    expect(carol.code, carol.stderr).toBe(0);
    expect(JSON.parse(carol.stdout)).toMatchObject({ username: 'carol', role: 'admin' });

    const users = JSON.parse((await cli(['user', 'ls', '--json'])).stdout) as { username: string; role: string }[];
    expect(users.map((u) => [u.username, u.role])).toEqual([
      ['admin', 'admin'],
      ['bob', 'user'],
      ['carol', 'admin'],
    ]);
    expect((await login('bob', bobPassword)).status).toBe(200);

    const short = await cli(['user', 'add', 'dave'], { input: 'short\n' });
    expect(short.code).toBe(1);
    expect(short.stderr).toContain('a password has at least 8 characters');
    const taken = await cli(['user', 'add', 'bob'], { input: 'another-password\n' });
    expect(taken.code).toBe(1);
    expect(taken.stderr).toContain('a user named bob already exists');
  });

  it("refuses a non-admin's user add and user ls with a clear message", async () => {
    const { token } = (await (await login('bob', bobPassword)).json()) as { token: string };
    const add = await cli(['user', 'add', 'mallory'], { input: 'mallory-password\n', token });
    expect(add.code).toBe(1);
    expect(add.stderr).toContain('only an admin can add users');
    const ls = await cli(['user', 'ls'], { token });
    expect(ls.code).toBe(1);
    expect(ls.stderr).toContain('only an admin can list users');
    const other = await cli(['user', 'passwd', 'carol'], { input: 'hijacked-password\n', token });
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('you can only change your own password');
    expect((await login('carol', 'carol-password')).status).toBe(200);
  });

  it('changes passwords: your own, and (admins) anyone’s', async () => {
    const { token } = (await (await login('bob', bobPassword)).json()) as { token: string };
    const own = await cli(['user', 'passwd'], { input: 'bob-new-password\n', token });
    expect(own.code, own.stderr).toBe(0);
    expect((await login('bob', 'bob-new-password')).status).toBe(200);
    expect((await login('bob', bobPassword)).status).toBe(401);

    const byAdmin = await cli(['user', 'passwd', 'bob'], { input: 'set-by-admin\n' });
    expect(byAdmin.code, byAdmin.stderr).toBe(0);
    expect((await login('bob', 'set-by-admin')).status).toBe(200);
    const nobody = await cli(['user', 'passwd', 'nobody'], { input: 'whatever-password\n' });
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toContain('no user named nobody');
  });

  it('cancels a password prompt on Ctrl-C with exit code 2', async () => {
    const t = terminal('user passwd');
    await t.waitFor((s) => s.includes('new password for admin:'));
    t.keys('C-c');
    await until('the CLI to exit', () => t.exitStatus() !== null);
    expect(t.exitStatus()).toBe(2);
    expect(t.screen()).toContain('rclaude: cancelled');
  });
});

describe('secret values', () => {
  it('appear in no CLI output and no server log line', () => {
    expect(outputs.length).toBeGreaterThan(10);
    for (const value of secretValues) {
      for (const r of outputs) {
        expect(r.stdout).not.toContain(value);
        expect(r.stderr).not.toContain(value);
      }
      expect(server.log()).not.toContain(value);
    }
  });
});
