/**
 * The session runner with real processes: the real Claude Code (`claude -p` stream-json) against the testkit's
 * fake Anthropic API, small stand-in programs for the failure paths, a real event channel, real git.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentTaskEvent } from '@rclaude/protocol';
import { lastToolResults, lastUserText, startFakeAnthropic, toolUseReply } from '@rclaude/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { claudeEnv } from '../claude/claude-env.js';
import { type ChannelMessage, connectEventChannel, startEventChannel } from '../claude/hooks-channel.js';
import { resolveClaudeBinary } from '../claude/resolve-binary.js';
import { seedClaudeConfig } from '../claude/seed-config.js';
import { claimFinish } from '../repo/finish.js';
import { readRunSpec, type SessionRunSpec, writeRunSpec } from './run-spec.js';
import { runSession } from './session-runner.js';

const API_KEY = 'sk-ant-test-rclaude-0123456789abcdefghij';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Harness {
  dir: string;
  workspace: string;
  home: string;
  events: () => AgentTaskEvent[];
  run: (
    spec: Partial<SessionRunSpec> & Pick<SessionRunSpec, 'command'>,
    env?: Record<string, string>,
  ) => Promise<{ code: number; screen: string }>;
}

async function harness(): Promise<Harness> {
  const dir = await realpath(await mkdtemp(join(tmpdir(), 'rclaude-runner-')));
  const workspace = join(dir, 'workspace');
  const home = join(dir, 'home');
  await mkdir(workspace);
  await mkdir(home);
  const got: ChannelMessage[] = [];
  const channel = await startEventChannel({ path: join(dir, 'events.sock'), onMessage: (m) => got.push(m) });
  cleanups.push(async () => {
    await channel.close();
    await rm(dir, { recursive: true, force: true });
  });
  return {
    dir,
    workspace,
    home,
    events: () => got.flatMap((m) => (m.kind === 'event' ? [{ type: m.type, data: m.data } as AgentTaskEvent] : [])),
    async run(spec, env = {}) {
      const client = await connectEventChannel(channel.path);
      let screen = '';
      const stdout = {
        write: (d: string | Uint8Array) => {
          screen += typeof d === 'string' ? d : Buffer.from(d).toString();
          return true;
        },
      } as unknown as NodeJS.WritableStream;
      const code = await runSession(
        { sessionId: 'task1_main', workspace, prompt: null, repo: null, ...spec },
        { stdout, env: { PATH: process.env.PATH ?? '', HOME: home, ...env }, channel: client, color: false },
      );
      await client?.close();
      return { code, screen };
    },
  };
}

describe('runSession with the real Claude Code', () => {
  it('turns a prompt run into events in order and a readable screen, and exits 0', async () => {
    const h = await harness();
    const fake = await startFakeAnthropic({
      responder: ({ body }) => {
        if (lastToolResults(body).length > 0) return 'The proof is written.';
        if (lastUserText(body) === 'please write the proof') {
          return toolUseReply(
            'Write',
            { file_path: join(h.workspace, 'proof.txt'), content: 'proof\n' },
            { text: 'Writing.' },
          );
        }
        return undefined;
      },
    });
    cleanups.push(() => fake.close());
    await seedClaudeConfig({ home: h.home, workspace: h.workspace, apiKey: API_KEY });
    const env = claudeEnv(
      { PATH: process.env.PATH, ANTHROPIC_API_KEY: API_KEY, ANTHROPIC_BASE_URL: fake.url },
      { home: h.home },
    );
    const claude = [
      resolveClaudeBinary(),
      '-p',
      '--output-format',
      'stream-json',
      '--verbose',
      '--permission-mode',
      'bypassPermissions',
    ];

    const { code, screen } = await h.run({ command: claude, prompt: 'please write the proof' }, env);

    expect(code).toBe(0);
    expect(h.events().map((e) => e.type)).toEqual([
      'info',
      'assistant_text',
      'tool_use',
      'tool_result',
      'assistant_text',
      'result',
    ]);
    expect(h.events()[2]?.data).toMatchObject({ name: 'Write', summary: 'Write proof.txt' });
    expect(h.events()[5]?.data).toMatchObject({ ok: true, turns: 2, text: 'The proof is written.' });
    expect(screen).toMatch(
      /^Claude Code 2\.1\.\d+ started .*\n● Writing\.\n→ Write proof\.txt\n● The proof is written\.\n✓ done 2 turns/,
    );
    expect(await readFile(join(h.workspace, 'proof.txt'), 'utf8')).toBe('proof\n');
  });

  it('exits 1 on an error result and shows it', async () => {
    const h = await harness();
    const fake = await startFakeAnthropic({
      responder: () => ({ error: { status: 400, type: 'invalid_request_error', message: 'fake refusal' } }),
    });
    cleanups.push(() => fake.close());
    await seedClaudeConfig({ home: h.home, workspace: h.workspace, apiKey: API_KEY });
    const env = claudeEnv(
      { PATH: process.env.PATH, ANTHROPIC_API_KEY: API_KEY, ANTHROPIC_BASE_URL: fake.url },
      { home: h.home },
    );
    const { code, screen } = await h.run(
      { command: [resolveClaudeBinary(), '-p', '--output-format', 'stream-json', '--verbose'], prompt: 'anything' },
      env,
    );
    expect(code).toBe(1);
    expect(h.events().at(-1)).toMatchObject({ type: 'result', data: { ok: false } });
    expect(screen).toMatch(/✗ .*fake refusal/);
  });
});

describe('runSession with stand-in programs', () => {
  it('reports a prompt program that dies without a result, keeping its exit code', async () => {
    const h = await harness();
    const { code, screen } = await h.run({ command: ['sh', '-c', 'echo "not json"; exit 3'], prompt: 'x' });
    expect(code).toBe(3);
    expect(screen).toBe('not json\nerror: Claude Code exited with code 3 without a result\n');
    expect(h.events()).toEqual([
      { type: 'error', data: { message: 'Claude Code exited with code 3 without a result' } },
    ]);
  });

  it('runs an ordinary program on the terminal with its exit code, or 127 when it does not exist', async () => {
    const h = await harness();
    expect((await h.run({ command: ['sh', '-c', 'exit 7'] })).code).toBe(7);
    const missing = await h.run({ command: ['/no/such/program'] });
    expect(missing.code).toBe(127);
    expect(missing.screen).toContain('cannot run /no/such/program');
  });

  it('clones before and records the diff after, for any program', async () => {
    const h = await harness();
    const source = join(h.dir, 'source');
    await mkdir(source);
    const env = { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@e', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@e' };
    const git = (...args: string[]) => execFileSync('git', args, { cwd: source, env: { ...process.env, ...env } });
    git('init', '-q', '-b', 'main');
    await writeFile(join(source, 'x.txt'), 'x\n');
    git('add', '.');
    git('commit', '-q', '-m', 'x');
    await mkdir(join(h.workspace, '.rclaude'));
    git('bundle', 'create', join(h.workspace, '.rclaude', 'repo.bundle'), '--all');

    const finishMarker = join(h.dir, 'finished-task1_main');
    const { code, screen } = await h.run({
      command: ['sh', '-c', 'echo y >> x.txt'],
      repo: { url: source, branch: null, bundlePath: '.rclaude/repo.bundle' },
      finishMarker,
    });
    expect(code).toBe(0);
    expect(h.events().map((e) => e.type)).toEqual(['info', 'diff']);
    expect(h.events()[1]?.data).toMatchObject({ files: [{ path: 'x.txt', additions: 1, deletions: 0 }] });
    expect(screen).toContain(`cloned ${source}`);
    expect(screen).toContain('changes: 1 file changed, +1 -0 · full diff: .rclaude/changes.diff');
    // It claimed the finish: an agent asked to record the changes now (a stop) leaves them.
    expect(await claimFinish(finishMarker)).toBe(false);

    // The agent claimed it first (the sandbox was stopped or hibernated): the runner records nothing more.
    const again = await h.run({
      command: ['sh', '-c', 'echo z >> x.txt'],
      repo: { url: source, branch: null, bundlePath: '.rclaude/repo.bundle' },
      finishMarker,
    });
    expect(again.code).toBe(0);
    expect(h.events().map((e) => e.type)).toEqual(['info', 'diff']);
    expect(again.screen).not.toContain('changes:');
  });

  it('fails with the reason when the clone fails, without running the program', async () => {
    const h = await harness();
    const { code } = await h.run({
      command: ['sh', '-c', 'touch ran.txt'],
      repo: { url: '/nowhere', branch: null, bundlePath: '.rclaude/missing.bundle' },
    });
    expect(code).toBe(1);
    expect(h.events()).toEqual([
      { type: 'error', data: { message: expect.stringMatching(/^could not clone the repository: /) } },
    ]);
    await expect(readFile(join(h.workspace, 'ran.txt'))).rejects.toThrow();
  });
});

describe('run specs', () => {
  it('are written privately and deleted when read', async () => {
    const h = await harness();
    const spec: SessionRunSpec = {
      sessionId: 's1',
      workspace: h.workspace,
      command: ['true'],
      prompt: 'p'.repeat(300_000),
      repo: null,
    };
    const path = await writeRunSpec(h.dir, spec);
    expect((await import('node:fs')).statSync(path).mode & 0o777).toBe(0o600);
    expect(await readRunSpec(path)).toEqual(spec);
    await expect(readFile(path)).rejects.toThrow();
  });
});
