/**
 * The real Claude Code CLI (the version the agent depends on) against the testkit's fake Anthropic API:
 * seeded config means no first-run screen, the TUI shows the fake model's answers, tool_use replies really
 * run tools, hooks fire, and `-p --output-format stream-json` prints the lines prompt tasks turn into events.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type FakeAnthropic,
  lastToolResults,
  lastUserText,
  type Responder,
  startFakeAnthropic,
  textReply,
  toolUseReply,
} from '@rclaude/testkit';
import xtermHeadless from '@xterm/headless';
import pty from 'node-pty';
import { afterEach, describe, expect, it } from 'vitest';
import { claudeEnv } from './claude-env.js';
import { resolveClaudeBinary } from './resolve-binary.js';
import { seedClaudeConfig } from './seed-config.js';
import { writeClaudeSettings } from './write-settings.js';

const { Terminal } = xtermHeadless;

const API_KEY = 'sk-ant-test-rclaude-0123456789abcdefghij';
const CLAUDE = resolveClaudeBinary();
const WAIT_MS = 45_000;

/** Screens a seeded sandbox must never show. */
const FIRST_RUN_SCREENS: Record<string, RegExp> = {
  onboarding: /Welcome to Claude Code/,
  theme: /Choose the text style/i,
  login: /Select login method/i,
  connectivity: /Unable to connect to Anthropic services/,
  trust: /trust this folder/i,
  apiKey: /Do you want to use this API key/i,
  bypassWarning: /running in Bypass Permissions mode/i,
  update: /new version|update available/i,
};

/** The prompt box's footer: the TUI is ready for input. */
const PROMPT_READY = /shift\+tab to cycle|\? for shortcuts/;

interface Waiter {
  pattern: RegExp;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Claude Code in a PTY, rendered by a headless xterm so tests read the screen a person would see. */
class TuiHarness {
  private readonly term: InstanceType<typeof Terminal>;
  private readonly proc: pty.IPty;
  private readonly waiters = new Set<Waiter>();
  /** First-run screens that appeared at any moment, even if redrawn away since. */
  readonly screensSeen = new Set<string>();
  exitCode: number | null = null;
  readonly exited: Promise<void>;

  constructor(args: string[], options: { cwd: string; env: Record<string, string> }) {
    this.term = new Terminal({ cols: 120, rows: 50, scrollback: 2000, allowProposedApi: true });
    this.proc = pty.spawn(CLAUDE, args, {
      name: 'xterm-256color',
      cols: 120,
      rows: 50,
      cwd: options.cwd,
      env: options.env,
    });
    this.proc.onData((data) => this.term.write(data, () => this.check()));
    this.exited = new Promise((resolve) => {
      this.proc.onExit(({ exitCode }) => {
        this.exitCode = exitCode;
        // Let the last output be parsed before failing waiters.
        this.term.write('', () => {
          this.check();
          for (const w of this.waiters)
            w.reject(new Error(`claude exited (${exitCode}) before showing ${w.pattern}\n${this.text()}`));
          this.waiters.clear();
          resolve();
        });
      });
    });
  }

  /** Everything in the terminal buffer (scrollback included), trailing blanks trimmed. */
  text(): string {
    const buffer = this.term.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i)?.translateToString(true) ?? '');
    return lines.join('\n').trimEnd();
  }

  private check(): void {
    const text = this.text();
    for (const [name, pattern] of Object.entries(FIRST_RUN_SCREENS)) {
      if (pattern.test(text)) this.screensSeen.add(name);
    }
    for (const w of this.waiters) {
      if (w.pattern.test(text)) {
        this.waiters.delete(w);
        w.resolve();
      }
    }
  }

  waitFor(pattern: RegExp, timeoutMs = WAIT_MS): Promise<void> {
    if (pattern.test(this.text())) return Promise.resolve();
    if (this.exitCode !== null) return Promise.reject(new Error(`claude has exited; no ${pattern}\n${this.text()}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`no ${pattern} on screen within ${timeoutMs} ms:\n${this.text()}`));
      }, timeoutMs);
      const waiter: Waiter = {
        pattern,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.waiters.add(waiter);
    });
  }

  write(data: string): void {
    this.proc.write(data);
  }

  /** Types a prompt, waits for it to show in the input box, and submits it. */
  async submit(prompt: string): Promise<void> {
    await this.waitFor(PROMPT_READY);
    this.write(prompt);
    // The TUI puts a no-break space after its prompt sign; \s matches it.
    await this.waitFor(new RegExp(`❯\\s${prompt}`));
    this.write('\r');
  }

  async kill(): Promise<void> {
    if (this.exitCode === null) {
      this.proc.kill();
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5_000);
      await this.exited;
      clearTimeout(timer);
    }
    this.term.dispose();
  }
}

/** The parts of a `--output-format stream-json` line this test reads. */
interface StreamLine {
  type: string;
  session_id?: string;
  message?: { content: { type: string; id?: string; tool_use_id?: string }[] };
  [key: string]: unknown;
}

interface Sandbox {
  dir: string;
  home: string;
  workspace: string;
  fake: FakeAnthropic;
  env: Record<string, string>;
}

async function runPrint(
  sandbox: Sandbox,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(CLAUDE, args, { cwd: sandbox.workspace, env: sandbox.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), WAIT_MS);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** A hook command that appends each event (one JSON line on stdin) to `hooks.jsonl` in the sandbox dir. */
async function installHookRecorder(sandbox: Sandbox): Promise<() => Promise<Record<string, unknown>[]>> {
  const log = join(sandbox.dir, 'hooks.jsonl');
  const script = join(sandbox.dir, 'record-hook.sh');
  await writeFile(script, `#!/bin/sh\n{ cat; echo; } >> '${log}'\n`, { mode: 0o755 });
  await writeClaudeSettings(sandbox.home, { command: script });
  return async () => {
    const text = await readFile(log, 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  };
}

async function eventually<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('Claude Code CLI against the fake Anthropic API', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function sandbox(responder: Responder): Promise<Sandbox> {
    // realpath: Claude Code reports and trusts real paths.
    const dir = await realpath(await mkdtemp(join(tmpdir(), 'rclaude-claude-')));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const home = join(dir, 'home');
    const workspace = join(dir, 'workspace');
    await mkdir(home);
    await mkdir(workspace);
    const fake = await startFakeAnthropic({ responder });
    cleanups.push(() => fake.close());
    await seedClaudeConfig({ home, workspace, apiKey: API_KEY });
    const env = claudeEnv(
      { PATH: process.env.PATH, LANG: 'C.UTF-8', ANTHROPIC_API_KEY: API_KEY, ANTHROPIC_BASE_URL: fake.url },
      { home },
    );
    return { dir, home, workspace, fake, env };
  }

  function tui(sb: Sandbox, args: string[] = []): TuiHarness {
    const harness = new TuiHarness(args, { cwd: sb.workspace, env: sb.env });
    cleanups.push(() => harness.kill());
    return harness;
  }

  it('opens straight to the prompt and shows the fake model answer to a typed prompt', async () => {
    const sb = await sandbox(({ body }) =>
      lastUserText(body) === 'ping the fake' ? 'PONG from the fake model' : undefined,
    );
    const claude = tui(sb);

    await claude.submit('ping the fake');
    await claude.waitFor(/● PONG from the fake model/);

    expect([...claude.screensSeen]).toEqual([]);
    const calls = sb.fake.mainCalls();
    expect(calls).toHaveLength(1);
    expect(lastUserText(calls[0]!.body)).toBe('ping the fake');
    expect(calls[0]!.request.headers['x-api-key']).toBe(API_KEY);
    expect(calls[0]!.body.stream).toBe(true);
    expect(sb.fake.errors).toEqual([]);
  });

  const writeProof =
    (workspace: () => string): Responder =>
    ({ body }) => {
      const results = lastToolResults(body);
      if (results.length > 0) return results[0]?.isError ? 'The write FAILED.' : 'The proof is written.';
      if (lastUserText(body) === 'write the proof') {
        return toolUseReply('Write', {
          file_path: join(workspace(), 'proof.txt'),
          content: 'proof from the fake model\n',
        });
      }
      return undefined;
    };

  it.each([
    ['--permission-mode acceptEdits', ['--permission-mode', 'acceptEdits'], /accept edits on/],
    // As root this needs IS_SANDBOX=1 (claudeEnv sets it) and the seeded skipDangerousModePermissionPrompt.
    ['--dangerously-skip-permissions', ['--dangerously-skip-permissions'], /bypass permissions on/],
  ])('runs a Write tool_use without asking under %s', async (_name, args, footer) => {
    let workspace = '';
    const sb = await sandbox(writeProof(() => workspace));
    workspace = sb.workspace;
    const claude = tui(sb, args);

    await claude.waitFor(footer);
    await claude.submit('write the proof');
    await claude.waitFor(/● The proof is written\./);

    expect(await readFile(join(sb.workspace, 'proof.txt'), 'utf8')).toBe('proof from the fake model\n');
    expect([...claude.screensSeen]).toEqual([]);
    const [, second] = sb.fake.mainCalls();
    expect(lastToolResults(second!.body)).toEqual([
      {
        toolUseId: expect.stringMatching(/^toolu_/),
        isError: false,
        text: expect.stringContaining('File created successfully'),
      },
    ]);
  });

  it('fires the Notification hook at a permission prompt, which typing Enter approves', async () => {
    const sb = await sandbox(({ body }) => {
      if (lastToolResults(body).length > 0) return 'Bash finished.';
      if (lastUserText(body) === 'run the marker command') {
        return toolUseReply('Bash', { command: 'echo marker > bash-ran.txt', description: 'Write a marker file' });
      }
      return undefined;
    });
    const hookEvents = await installHookRecorder(sb);
    const claude = tui(sb, ['--permission-mode', 'default']);

    await claude.submit('run the marker command');
    await claude.waitFor(/Do you want to proceed\?/);
    const notification = await eventually(
      async () => (await hookEvents()).find((e) => e.hook_event_name === 'Notification'),
      'the Notification hook',
    );
    expect(notification).toMatchObject({ notification_type: 'permission_prompt', cwd: sb.workspace });
    claude.write('\r');
    await claude.waitFor(/● Bash finished\./);
    expect(await readFile(join(sb.workspace, 'bash-ran.txt'), 'utf8')).toBe('marker\n');

    const names = (
      await eventually(async () => {
        const events = await hookEvents();
        return events.some((e) => e.hook_event_name === 'Stop') ? events : undefined;
      }, 'the Stop hook')
    ).map((e) => e.hook_event_name);
    expect(names[0]).toBe('UserPromptSubmit');
    expect(names.at(-1)).toBe('Stop');
    expect(names.indexOf('PreToolUse')).toBeLessThan(names.indexOf('PostToolUse'));
    expect(names.indexOf('Notification')).toBeLessThan(names.indexOf('PostToolUse'));
  });

  it('prints stream-json lines for a prompt task: init, text, tool_use, tool_result, result with usage', async () => {
    let workspace = '';
    const sb = await sandbox(({ body }) => {
      if (lastToolResults(body).length > 0) {
        return textReply('All done.', { usage: { inputTokens: 200, outputTokens: 30, cacheReadInputTokens: 50 } });
      }
      return toolUseReply(
        'Write',
        { file_path: join(workspace, 'proof.txt'), content: 'proof\n' },
        { text: 'Writing the proof.', usage: { inputTokens: 100, outputTokens: 20 } },
      );
    });
    workspace = sb.workspace;
    const hookEvents = await installHookRecorder(sb);

    const run = await runPrint(sb, [
      '-p',
      'write the proof',
      '--output-format',
      'stream-json',
      '--verbose',
      '--permission-mode',
      'acceptEdits',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as StreamLine);

    const init = lines[0]!;
    expect(init).toMatchObject({
      type: 'system',
      subtype: 'init',
      cwd: sb.workspace,
      permissionMode: 'acceptEdits',
      apiKeySource: 'ANTHROPIC_API_KEY',
      claude_code_version: expect.stringMatching(/^2\.1\./),
      model: expect.any(String),
    });
    expect(init.tools).toContain('Write');
    const sessionId = init.session_id as string;
    expect(lines.every((l) => l.session_id === sessionId)).toBe(true);

    const content = lines
      .filter((l) => l.type === 'assistant' || l.type === 'user')
      .map((l) => [l.type, l.message?.content ?? []] as const);
    expect(content).toEqual([
      ['assistant', [{ type: 'text', text: 'Writing the proof.' }]],
      [
        'assistant',
        [
          {
            type: 'tool_use',
            id: expect.any(String),
            name: 'Write',
            input: { file_path: join(sb.workspace, 'proof.txt'), content: 'proof\n' },
          },
        ],
      ],
      [
        'user',
        [
          expect.objectContaining({
            type: 'tool_result',
            content: expect.stringContaining('File created successfully'),
          }),
        ],
      ],
      ['assistant', [{ type: 'text', text: 'All done.' }]],
    ]);
    const toolUseId = content[1]?.[1][0]?.id;
    expect(toolUseId).toMatch(/^toolu_/);
    expect(content[2]?.[1][0]?.tool_use_id).toBe(toolUseId);

    const result = lines.at(-1)!;
    expect(result).toMatchObject({
      type: 'result',
      subtype: 'success',
      is_error: false,
      num_turns: 2,
      result: 'All done.',
      stop_reason: 'end_turn',
      usage: { input_tokens: 300, output_tokens: 50, cache_read_input_tokens: 50, cache_creation_input_tokens: 0 },
      permission_denials: [],
    });
    expect(result.total_cost_usd).toBeGreaterThan(0);
    expect(result.duration_ms).toEqual(expect.any(Number));
    expect(result.duration_api_ms).toEqual(expect.any(Number));

    expect(await readFile(join(sb.workspace, 'proof.txt'), 'utf8')).toBe('proof\n');
    const hooks = await eventually(async () => {
      const events = await hookEvents();
      return events.length >= 4 ? events : undefined;
    }, 'four hook events');
    expect(hooks.map((e) => [e.hook_event_name, e.tool_name])).toEqual([
      ['UserPromptSubmit', undefined],
      ['PreToolUse', 'Write'],
      ['PostToolUse', 'Write'],
      ['Stop', undefined],
    ]);
    expect(hooks.every((e) => e.session_id === sessionId)).toBe(true);
  });

  it('reports an API error as an error result and exits 1', async () => {
    const sb = await sandbox(() => ({
      error: { status: 400, type: 'invalid_request_error', message: 'fake refusal' },
    }));
    const run = await runPrint(sb, ['-p', 'anything', '--output-format', 'stream-json', '--verbose']);
    expect(run.code).toBe(1);
    const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(result).toMatchObject({ type: 'result', is_error: true, api_error_status: 400 });
    expect(String(result.result)).toContain('fake refusal');
  });
});
