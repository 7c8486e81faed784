/**
 * Recordings and more terminals end to end, through real processes: `rclaude server` (embedded storage, local
 * bubblewrap sandboxes), the agent, and the CLI in pipes and in a real terminal (tmux). A session's recording
 * (`rclaude logs --cast`) is asciicast v2 with the timing the program had and holds exactly the logged output
 * (`rclaude play`'s schedule is unit-tested in src/terminal/cast-player.test.ts); `rclaude shell` opens another recorded session and exits with its code.
 */
import { writeFileSync } from 'node:fs';
import { ApiClient } from '@rclaude/client';
import { type Cast, parseCast } from '@rclaude/protocol';
import { type RclaudeServer, runCli, startRclaudeServer, Terminals, type TmuxTerminal, until } from '@rclaude/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

let server: RclaudeServer;
let api: ApiClient;
const terminals = new Terminals();

beforeAll(async () => {
  server = await startRclaudeServer({});
  const env = server.cliEnv();
  api = new ApiClient({ baseUrl: env.RCLAUDE_SERVER as string, token: env.RCLAUDE_TOKEN as string });
}, 120_000);

afterAll(async () => {
  if (process.env.RCLAUDE_TEST_LOG) writeFileSync(process.env.RCLAUDE_TEST_LOG, server?.log() ?? '');
  await server?.stop();
});

afterEach(() => {
  terminals.closeAll();
});

const cli = (args: string[], input?: string) =>
  runCli(args, { env: server.cliEnv(), ...(input === undefined ? {} : { input }) });

function terminal(args: string, size = { cols: 100, rows: 30 }): TmuxTerminal {
  return terminals.rclaude(server.cliEnv(), args, size);
}

/** The output of a recording, its `o` events joined. */
function outputOf(cast: Cast): string {
  return cast.events
    .filter((e) => e[1] === 'o')
    .map((e) => e[2])
    .join('');
}

/** The time of the first output event whose text includes `text`. */
function timeOf(cast: Cast, text: string): number {
  const event = cast.events.find((e) => e[1] === 'o' && e[2].includes(text));
  if (!event) throw new Error(`no output event with ${JSON.stringify(text)} in ${JSON.stringify(cast.events)}`);
  return event[0];
}

async function castOf(taskId: string, session?: string): Promise<Cast> {
  const r = await cli(['logs', taskId, '--cast', ...(session ? ['--session', session] : [])]);
  expect(r.code, r.stderr).toBe(0);
  return parseCast(r.stdout);
}

describe('recordings', () => {
  let taskId: string;

  beforeAll(async () => {
    const r = await cli(['run', '--name', 'rec-timing', '--', 'sh', '-c', 'printf a€; sleep 1; printf b; exit 0']);
    expect(r.code, r.stderr).toBe(0);
    taskId = (await api.listTasks({ limit: 50 })).find((t) => t.name === 'rec-timing')?.id as string;
    expect(taskId).toBeTruthy();
  }, 60_000);

  it('gives an asciicast v2 recording with the pause the program made, holding exactly the logged output', async () => {
    const cast = await castOf(taskId);
    expect(cast.header.version).toBe(2);
    expect(cast.header.width).toBeGreaterThan(0);
    expect(cast.header.height).toBeGreaterThan(0);
    expect(cast.header.timestamp).toBeGreaterThan(1_600_000_000);
    // A property of the recording (the program slept a second between the two), not of how fast anything ran.
    expect(timeOf(cast, 'b') - timeOf(cast, 'a€')).toBeGreaterThanOrEqual(0.9);
    const logs = await cli(['logs', taskId]);
    expect(logs.code).toBe(0);
    expect(outputOf(cast)).toBe(logs.stdout);
    expect(outputOf(cast)).toContain('a€');
    // Event times never go backwards.
    const times = cast.events.map((e) => e[0]);
    expect(times).toEqual([...times].sort((x, y) => x - y));
  });

  it('serves the recording as application/x-asciicast, and nothing without a valid token', async () => {
    const task = await api.getTask(taskId);
    const res = await api.call('getSessionRecording', {
      params: { id: task.mainSessionId },
      query: { format: 'cast' },
    });
    expect(res.headers.get('content-type')).toContain('application/x-asciicast');
    expect(parseCast(await res.text()).header.version).toBe(2);
    const stranger = new ApiClient({ baseUrl: server.cliEnv().RCLAUDE_SERVER as string, token: 'rck_not-a-token' });
    await expect(
      stranger.call('getSessionRecording', { params: { id: task.mainSessionId }, query: { format: 'cast' } }),
    ).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });
});

describe('rclaude shell', () => {
  let taskId: string;

  beforeAll(async () => {
    const started = await cli(['run', '--detach', '--json', '--name', 'rec-shell', '--', 'sleep', '300']);
    expect(started.code, started.stderr).toBe(0);
    taskId = (JSON.parse(started.stdout) as { id: string }).id;
    await until('the task to run', async () => (await api.getTask(taskId)).status === 'running');
  }, 60_000);

  afterAll(async () => {
    if (taskId) await cli(['stop', '--force', taskId]);
  });

  it("opens another session, attached, and exits with its program's exit code", async () => {
    const r = await cli(['shell', taskId, '--', 'sh', '-c', 'echo shell-says-$((6*7)); exit 7']);
    expect(r.stdout).toContain('shell-says-42');
    expect(r.code).toBe(7);
    // The task's own program runs on: a shell's exit ends nothing.
    expect((await api.getTask(taskId)).status).toBe('running');
  });

  it("records a shell session's output too, read with --session", async () => {
    const r = await cli(['shell', taskId, '--', 'sh', '-c', 'printf rec-shell-1; sleep 1; printf rec-shell-2']);
    expect(r.code, r.stderr).toBe(0);
    const { sessions } = await api.call('listTaskSessions', { params: { id: taskId } });
    const shell = sessions.find((s) => s.kind === 'shell' && s.command.join(' ').includes('rec-shell-1'));
    expect(shell).toBeDefined();
    const cast = await castOf(taskId, shell?.id);
    expect(outputOf(cast)).toContain('rec-shell-1');
    expect(timeOf(cast, 'rec-shell-2') - timeOf(cast, 'rec-shell-1')).toBeGreaterThanOrEqual(0.9);
    const logs = await cli(['logs', taskId, '--session', shell?.id as string]);
    expect(outputOf(cast)).toBe(logs.stdout);
  });

  it('opens a login shell in a real terminal when no command is given', async () => {
    const t = terminal(`shell ${taskId}`);
    // Typed before the shell may be ready: input is held until the session takes it.
    t.type('echo typed-$((2+3)); exit 4\r');
    await t.waitFor((screen) => screen.includes('typed-5'));
    expect(await until('the shell to exit', () => t.exitStatus(), 30_000)).toBe(4);
  });

  it('says what to do for a task that is not running', async () => {
    const ended = await cli(['run', '--detach', '--json', '--', 'true']);
    const id = (JSON.parse(ended.stdout) as { id: string }).id;
    await until('the task to end', async () => (await api.getTask(id)).endedAt !== null);
    const r = await cli(['shell', id]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('a shell needs its sandbox running');
    expect(r.stderr).toContain('rclaude resume');
  });
});
