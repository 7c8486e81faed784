/**
 * The walking skeleton end to end, through real processes: `rclaude server` (embedded storage, local
 * bubblewrap sandboxes), the agent in each sandbox, and the CLI, in pipes and in a real terminal (tmux).
 */
import { writeFileSync } from 'node:fs';
import {
  type FakeAnthropic,
  lastToolResults,
  lastUserText,
  type RclaudeServer,
  runCli,
  startFakeAnthropic,
  startRclaudeServer,
  Terminals,
  type TmuxTerminal,
  toolUseReply,
  until,
} from '@rclaude/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

let server: RclaudeServer;
let fake: FakeAnthropic;
const terminals = new Terminals();

beforeAll(async () => {
  fake = await startFakeAnthropic({
    responder: ({ body }) => {
      if (lastToolResults(body).length > 0) return 'The proof is written.';
      if (lastUserText(body).includes('write the proof')) {
        return toolUseReply('Write', { file_path: '/workspace/proof.txt', content: 'proof from the fake model\n' });
      }
      return undefined;
    },
  });
  server = await startRclaudeServer({
    env: {
      ANTHROPIC_BASE_URL: fake.url,
      ANTHROPIC_API_KEY: 'sk-ant-test-rclaude-0123456789abcdefghij',
      AGENT_RECONNECT_GRACE_MS: '1500',
    },
  });
}, 120_000);

afterAll(async () => {
  if (process.env.RCLAUDE_TEST_LOG) writeFileSync(process.env.RCLAUDE_TEST_LOG, server?.log() ?? '');
  await server?.stop();
  await fake?.close();
});

afterEach(() => {
  terminals.closeAll();
});

const cli = (args: string[], input?: string) =>
  runCli(args, { env: server.cliEnv(), ...(input === undefined ? {} : { input }) });

function terminal(args: string, size = { cols: 100, rows: 30 }): TmuxTerminal {
  return terminals.rclaude(server.cliEnv(), args, size);
}

describe('rclaude run in pipes', () => {
  it('prints the remote output and exits with the remote exit code', async () => {
    const r = await cli(['run', '--', 'bash', '-c', 'echo hello-$((6*7)); exit 3']);
    expect(r.stdout).toContain('hello-42');
    expect(r.code).toBe(3);
  });

  it('feeds piped stdin to the remote program, typed before it had started', async () => {
    const r = await cli(['run', '--', 'bash', '-c', 'read line; echo got:$line'], 'piped-input\n');
    expect(r.stdout).toContain('got:piped-input');
    expect(r.code).toBe(0);
  });

  it('delivers every byte of a megabyte printed just before exit', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await cli(['run', '--', 'sh', '-c', "head -c 1000000 /dev/zero | tr '\\0' x; exit 7"]);
      expect(r.code).toBe(7);
      expect(r.stdout.replace(/[^x]/g, '').length).toBe(1_000_000);
    }
  });

  it("adds hosts to a task's egress allow-list with --allow-host, and refuses addresses", async () => {
    const refused = await cli(['run', '--detach', '--allow-host', '10.0.0.0/8', '--', 'true']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('"10.0.0.0/8" opens an address');
    const started = await cli([
      'run',
      '--detach',
      '--json',
      '--allow-host',
      'example.com',
      '--allow-host',
      '*.example.org',
      '--',
      'true',
    ]);
    expect(started.code, started.stderr).toBe(0);
    expect((JSON.parse(started.stdout) as { allowHosts: string[] }).allowHosts).toEqual([
      'example.com',
      '*.example.org',
    ]);
  });

  it('runs commands in a running task with exec, which returns their exit code', async () => {
    const started = await cli(['run', '--detach', '--json', '--', 'sleep', '60']);
    expect(started.code).toBe(0);
    const task = JSON.parse(started.stdout) as { id: string };
    const ok = await until('the task to run', async () => {
      const r = await cli(['exec', task.id, '--', 'sh', '-c', 'echo out-$((1+1)); echo err >&2; exit 5']);
      return r.code === 5 ? r : null;
    });
    expect(ok.stdout).toBe('out-2\n');
    expect(ok.stderr).toContain('err');
    const ls = await cli(['ls', '--json']);
    const listed = (JSON.parse(ls.stdout) as { id: string; status: string }[]).find((t) => t.id === task.id);
    expect(listed?.status).toBe('running');
    const stopped = await cli(['stop', task.id.slice(0, 6)]);
    expect(stopped.stdout).toContain(`${task.id} stopped`);
  });

  it('keeps the sandbox away from the server files and other workspaces', async () => {
    const r = await cli(['run', '--', 'sh', '-c', `id -u; ls ${server.dataDir} 2>&1; touch /usr/x 2>&1; pwd`]);
    const lines = r.stdout.trim().split(/\r?\n/);
    expect(lines[0]).toBe('1000');
    expect(r.stdout).toMatch(/No such file or directory/);
    expect(r.stdout).toMatch(/Read-only file system|Permission denied/);
    expect(r.stdout).toContain('/workspace');
  });
});

describe('bad input gives one clear line and a non-zero exit', () => {
  it('unknown task id', async () => {
    const r = await cli(['attach', 'zzzzzzzzzz']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^rclaude: no task matches "zzzzzzzzzz"\n/);
    expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/);
  });

  it('a command that does not exist', async () => {
    const r = await cli(['run', '--', 'no-such-command-xyz']);
    expect(r.code).toBe(127);
    expect(r.stderr).toMatch(/command not found: no-such-command-xyz/);
  });

  it('the server being down', async () => {
    const r = await runCli(['ls'], { env: { RCLAUDE_SERVER: 'http://127.0.0.1:9', RCLAUDE_TOKEN: 'x' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot reach the rclaude server at http:\/\/127\.0\.0\.1:9/);
  });

  it('a wrong token', async () => {
    const r = await runCli(['ls'], { env: { RCLAUDE_SERVER: server.url, RCLAUDE_TOKEN: 'rct_wrong' } });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/hint: run `rclaude login`/);
  });

  it('the agent dying ends the task as failed with a reason', async () => {
    const t = terminal('run -- bash --norc');
    await t.waitFor((s) => s.includes('$'));
    // The agent is the only node process in the sandbox's PID namespace; kill it from inside.
    t.type('kill -9 $(pgrep -f agent/dist/main.js)\r');
    await t.waitFor((s) => /failed: the sandbox/.test(s), 30_000);
    await until('the CLI to exit', async () => t.exitStatus() !== null);
    expect(t.exitStatus()).toBe(1);
  });
});

describe('rclaude run in a terminal', () => {
  it('echoes typed commands, matches and follows the terminal size, and exits with the remote code', async () => {
    const t = terminal('run -- bash --norc', { cols: 100, rows: 30 });
    await t.waitFor((s) => s.includes('$'));
    t.type('echo typed-$((2+3))\r');
    await t.waitFor((s) => s.includes('typed-5'));
    t.type('stty size\r');
    await t.waitFor((s) => s.includes('30 100'));
    t.resize(120, 40);
    await new Promise((r) => setTimeout(r, 300));
    t.type('stty size\r');
    await t.waitFor((s) => s.includes('40 120'));
    t.type('exit 4\r');
    await until('the CLI to exit', async () => t.exitStatus() !== null);
    expect(t.exitStatus()).toBe(4);
  });

  it('detaches with Ctrl-P Ctrl-Q, leaves the task running, and attaches back to the same screen', async () => {
    const t = terminal('run --name detach-test -- bash --norc');
    await t.waitFor((s) => s.includes('$'));
    t.type('echo before-detach\r');
    await t.waitFor((s) => s.includes('before-detach'));
    t.keys('C-p', 'C-q');
    const screen = await t.waitFor((s) => s.includes('detached; the task keeps running'));
    const id = /rclaude attach ([a-z0-9]+)/.exec(screen)?.[1];
    expect(id).toBeTruthy();
    await until('the CLI to exit', async () => t.exitStatus() !== null);
    expect(t.exitStatus()).toBe(0);

    const back = terminal(`attach ${id}`);
    await back.waitFor((s) => s.includes('before-detach'));
    back.type('echo after-attach\r');
    await back.waitFor((s) => s.includes('after-attach'));
    back.type('exit 0\r');
    await until('the CLI to exit', async () => back.exitStatus() !== null);
    expect(back.exitStatus()).toBe(0);
  });

  it('runs the real Claude Code with no onboarding; a typed prompt gets the answer and a Write creates the file', async () => {
    const t = terminal('run --name claude-e2e -- claude --permission-mode acceptEdits', { cols: 120, rows: 40 });
    const first = await t.waitFor((s) => /accept edits on|\? for shortcuts/.test(s), 60_000);
    expect(first).not.toMatch(/Welcome to Claude Code|Choose the text style|trust this folder|Select login method/i);
    t.type('say hello');
    t.keys('Enter');
    await t.waitFor((s) => s.includes('Hello from the fake model.'), 60_000);
    t.type('please write the proof');
    t.keys('Enter');
    await t.waitFor((s) => s.includes('The proof is written.'), 60_000);
    const ls = await cli(['ls', '--json']);
    const task = (JSON.parse(ls.stdout) as { id: string; name: string }[]).find((x) => x.name === 'claude-e2e');
    expect(task).toBeTruthy();
    const cat = await cli(['exec', task?.id ?? '', '--', 'cat', '/workspace/proof.txt']);
    expect(cat.stdout).toBe('proof from the fake model\n');
    await cli(['stop', task?.id ?? '']);
  });
});
