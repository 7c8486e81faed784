/**
 * The image ECS and E2B would run, in the end-to-end path: `rclaude server` with the docker provider and the
 * real sandbox image (docker/build.sh builds it), the real Claude Code in it against the testkit's fake
 * Anthropic API through the server's egress gateway, and the CLI through the bin npm linked. The walking
 * skeleton (an interactive Claude Code that writes a file), a prompt task, and a stop and resume that brings
 * the workspace back from its checkpoint into a new container.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
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

const run = promisify(execFile);
const IMAGE = process.env.RCLAUDE_DOCKER_IMAGE ?? 'rclaude-sandbox:0.1.0';
/** This file's own label value, so cleaning up never touches another run's containers. */
const INSTALLATION = `cli-e2e-${randomBytes(4).toString('hex')}`;
const LABEL = `label=org.rclaude.installation=${INSTALLATION}`;

async function docker(...args: string[]): Promise<string> {
  return (await run('docker', args, { timeout: 60_000 })).stdout.trim();
}

async function removeAll(): Promise<void> {
  const containers = (await docker('ps', '-aq', '--filter', LABEL)).split('\n').filter(Boolean);
  if (containers.length > 0) await docker('rm', '-f', '-v', ...containers);
  const volumes = (await docker('volume', 'ls', '-q', '--filter', LABEL)).split('\n').filter(Boolean);
  if (volumes.length > 0) await docker('volume', 'rm', '-f', ...volumes);
}

let server: RclaudeServer;
let fake: FakeAnthropic;
const terminals = new Terminals();

beforeAll(async () => {
  // The image must be there: a missing one would fail every test below with the provider's own hint.
  expect(await docker('image', 'inspect', '--format', '{{.Config.User}}', IMAGE)).toBe('1000:1000');
  fake = await startFakeAnthropic({
    responder: ({ body }) => {
      if (lastToolResults(body).length > 0) return 'The proof is written.';
      const text = lastUserText(body);
      if (text.includes('write the proof')) {
        const content = text.includes('prompt') ? 'prompt proof\n' : 'proof from the fake model\n';
        return toolUseReply('Write', { file_path: '/workspace/proof.txt', content });
      }
      return undefined;
    },
  });
  server = await startRclaudeServer({
    env: {
      RCLAUDE_PROVIDER: 'docker',
      RCLAUDE_DOCKER_IMAGE: IMAGE,
      RCLAUDE_INSTALLATION: INSTALLATION,
      ANTHROPIC_BASE_URL: fake.url,
      ANTHROPIC_API_KEY: 'sk-ant-test-rclaude-0123456789abcdefghij',
    },
  });
}, 180_000);

afterAll(async () => {
  terminals.closeAll();
  if (process.env.RCLAUDE_TEST_LOG) writeFileSync(process.env.RCLAUDE_TEST_LOG, server?.log() ?? '');
  await server?.stop();
  await fake?.close();
  await removeAll();
}, 120_000);

afterEach(() => {
  terminals.closeAll();
});

const cli = (args: string[]) => runCli(args, { env: server.cliEnv(), timeoutMs: 180_000 });

function terminal(args: string, size = { cols: 120, rows: 40 }): TmuxTerminal {
  return terminals.rclaude(server.cliEnv(), args, size);
}

async function taskNamed(name: string): Promise<{ id: string; status: string; provider: string }> {
  const ls = await cli(['ls', '--json']);
  const task = (JSON.parse(ls.stdout) as { id: string; name: string; status: string; provider: string }[]).find(
    (t) => t.name === name,
  );
  if (!task) throw new Error(`no task named ${name}: ${ls.stdout}`);
  return task;
}

describe('the sandbox image under the docker provider, end to end', () => {
  it('runs the real Claude Code interactively; a typed prompt makes a Write that creates the file', async () => {
    const t = terminal('run --name docker-claude -- claude --permission-mode acceptEdits');
    const first = await t.waitFor((s) => /accept edits on|\? for shortcuts/.test(s), 120_000);
    expect(first).not.toMatch(/Welcome to Claude Code|Choose the text style|trust this folder|Select login method/i);
    t.type('please write the proof');
    t.keys('Enter');
    await t.waitFor((s) => s.includes('The proof is written.'), 60_000);

    const task = await taskNamed('docker-claude');
    expect(task.provider).toBe('docker');
    const cat = await cli(['exec', task.id, '--', 'cat', '/workspace/proof.txt']);
    expect(cat.stdout).toBe('proof from the fake model\n');
    // It ran in this installation's container, as the image's user, with no network but lo.
    const container = await docker('ps', '-q', '--filter', LABEL, '--filter', `label=org.rclaude.task-id=${task.id}`);
    expect(container).not.toBe('');
    expect(await docker('exec', container, 'id', '-u')).toBe('1000');
    expect((await docker('exec', container, 'ls', '/sys/class/net')).split(/\s+/)).toEqual(['lo']);
    // The model key never entered the sandbox: the gateway adds it.
    const env = await docker('exec', container, 'sh', '-c', 'cat /proc/[0-9]*/environ 2>/dev/null | tr "\\0" "\\n"');
    expect(env).not.toContain('sk-ant-test-rclaude-0123456789abcdefghij');
    await cli(['stop', task.id]);
  });

  it('runs a prompt task to its result, then stop and resume bring the workspace back in a new container', async () => {
    const r = await cli(['run', '--name', 'docker-prompt', '-p', 'prompt: please write the proof']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/→ Write proof\.txt/);
    expect(r.stdout).toContain('The proof is written.');
    const task = await taskNamed('docker-prompt');
    const first = await docker('ps', '-q', '--filter', `label=org.rclaude.task-id=${task.id}`);

    const stopped = await cli(['stop', task.id]);
    expect(stopped.code, stopped.stderr).toBe(0);
    // The stop's checkpoint holds the workspace; the container and its volumes are gone.
    await until('the container to go', async () =>
      (await docker('ps', '-aq', '--filter', `label=org.rclaude.task-id=${task.id}`)) === '' ? true : undefined,
    );
    const resumed = await cli(['resume', task.id, '--detach']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const cat = await until('the resumed task to answer', async () => {
      const c = await cli(['exec', task.id, '--', 'cat', '/workspace/proof.txt']);
      return c.code === 0 ? c : undefined;
    });
    expect(cat.stdout).toBe('prompt proof\n');
    const second = await docker('ps', '-q', '--filter', `label=org.rclaude.task-id=${task.id}`);
    expect(second).not.toBe('');
    expect(second).not.toBe(first);
    await cli(['stop', task.id]);
  });
});
