/**
 * Agent-aware status: hook payloads to activity, the event channel (a real unix socket), and the built hook
 * reporter run as Claude Code runs it (`npx tsc -b packages/agent` first: the reporter is the dist file).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { builtScript } from '../prompt/built-script.js';
import { ActivityTracker, activityFromHook } from './hooks-activity.js';
import {
  CHANNEL_LINE_MAX_BYTES,
  type ChannelMessage,
  connectEventChannel,
  type EventChannel,
  startEventChannel,
} from './hooks-channel.js';
import { hookReporterCommand } from './hooks-install.js';
import { HooksRelay } from './hooks-relay.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function channel(): Promise<{ ch: EventChannel; got: ChannelMessage[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'rclaude-hooks-'));
  const got: ChannelMessage[] = [];
  const ch = await startEventChannel({ path: join(dir, 'events.sock'), onMessage: (m) => got.push(m) });
  cleanups.push(async () => {
    await ch.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { ch, got };
}

describe('activityFromHook', () => {
  it('maps the hook events to working, waiting (with the question) and done', () => {
    expect(activityFromHook({ hook_event_name: 'UserPromptSubmit' })).toEqual({
      activity: 'working',
      hook: 'UserPromptSubmit',
    });
    expect(activityFromHook({ hook_event_name: 'PreToolUse', tool_name: 'Bash' })).toEqual({
      activity: 'working',
      hook: 'PreToolUse',
    });
    expect(activityFromHook({ hook_event_name: 'PostToolUse' })).toEqual({ activity: 'working', hook: 'PostToolUse' });
    expect(
      activityFromHook({
        hook_event_name: 'Notification',
        notification_type: 'permission_prompt',
        message: 'Claude needs your permission to use Bash',
      }),
    ).toEqual({ activity: 'waiting', message: 'Claude needs your permission to use Bash', hook: 'Notification' });
    expect(activityFromHook({ hook_event_name: 'Notification', notification_type: 'permission_prompt' })).toEqual({
      activity: 'waiting',
      message: 'Claude needs your permission',
      hook: 'Notification',
    });
    expect(activityFromHook({ hook_event_name: 'Stop' })).toEqual({ activity: 'done', hook: 'Stop' });
    expect(activityFromHook({ hook_event_name: 'SessionStart' })).toBeNull();
    expect(activityFromHook({})).toBeNull();
  });
});

describe('ActivityTracker', () => {
  it('reports each change once per session, and a new question while waiting', () => {
    const t = new ActivityTracker();
    const seq = [
      ['s1', { hook_event_name: 'UserPromptSubmit' }],
      ['s1', { hook_event_name: 'PreToolUse' }],
      ['s1', { hook_event_name: 'PostToolUse' }],
      ['s2', { hook_event_name: 'UserPromptSubmit' }],
      ['s1', { hook_event_name: 'Notification', message: 'may I?' }],
      ['s1', { hook_event_name: 'Notification', message: 'may I?' }],
      ['s1', { hook_event_name: 'Notification', message: 'and this?' }],
      ['s1', { hook_event_name: 'PreToolUse' }],
      ['s1', { hook_event_name: 'Stop' }],
      ['s1', { hook_event_name: 'Stop' }],
    ] as const;
    const out = seq.map(([key, payload]) => t.update(key, payload)?.activity ?? null);
    expect(out).toEqual(['working', null, null, 'working', 'waiting', null, 'waiting', 'working', 'done', null]);
  });

  it("names the tool in Claude Code's permission notice, which does not", () => {
    const t = new ActivityTracker();
    t.update('s', { hook_event_name: 'PreToolUse', tool_name: 'Bash' });
    // What Claude Code 2.1.329 sends at a permission prompt.
    const notice = {
      hook_event_name: 'Notification',
      notification_type: 'permission_prompt',
      message: 'Claude needs your permission',
    };
    expect(t.update('s', notice)).toEqual({
      activity: 'waiting',
      message: 'Claude needs your permission to use Bash',
      hook: 'Notification',
    });
    expect(t.update('other', notice)?.message).toBe('Claude needs your permission');
    const idle = {
      hook_event_name: 'Notification',
      notification_type: 'idle_prompt',
      message: 'Claude is waiting for your input',
    };
    expect(new ActivityTracker().update('s', idle)?.message).toBe('Claude is waiting for your input');
  });
});

describe('event channel', () => {
  it('hands over messages in order, answers a flush after them, and drops malformed lines', async () => {
    const { ch, got } = await channel();
    const client = await connectEventChannel(ch.path);
    expect(client).not.toBeNull();
    for (let i = 0; i < 50; i++)
      client?.send({ kind: 'event', sessionId: 's', type: 'info', data: { message: `m${i}` } });
    await client?.flush();
    expect(got.map((m) => (m.kind === 'event' ? m.data.message : null))).toEqual(
      Array.from({ length: 50 }, (_, i) => `m${i}`),
    );
    await client?.close();

    const raw = net.createConnection(ch.path);
    await new Promise((r) => raw.once('connect', r));
    raw.write(
      'not json\n{"kind":"event"}\n[1]\n{"kind":"hook","payload":{"hook_event_name":"Stop"}}\n{"kind":"flush"}\n',
    );
    await new Promise<void>((r) => raw.once('data', () => r()));
    raw.destroy();
    expect(got.at(-1)).toEqual({ kind: 'hook', sessionId: null, payload: { hook_event_name: 'Stop' } });
    expect(got).toHaveLength(51);
  });

  it('closes a connection whose line grows past the limit, and keeps serving others', async () => {
    const { ch, got } = await channel();
    const raw = net.createConnection(ch.path);
    await new Promise((r) => raw.once('connect', r));
    const closed = new Promise((r) => raw.once('close', r));
    raw.on('error', () => undefined);
    raw.write(Buffer.alloc(CHANNEL_LINE_MAX_BYTES + 1024, 0x61));
    await closed;
    const client = await connectEventChannel(ch.path);
    client?.send({ kind: 'hook', sessionId: 'x', payload: { hook_event_name: 'Stop' } });
    await client?.flush();
    await client?.close();
    expect(got).toEqual([{ kind: 'hook', sessionId: 'x', payload: { hook_event_name: 'Stop' } }]);
  });

  it('gives no client when there is no channel', async () => {
    expect(await connectEventChannel(undefined)).toBeNull();
    expect(await connectEventChannel(join(tmpdir(), 'rclaude-no-such.sock'))).toBeNull();
  });
});

describe('HooksRelay', () => {
  it('turns hook reports into deduplicated activity events and passes runner events through', async () => {
    const emitted: unknown[] = [];
    const relay = await HooksRelay.start({ emit: (e) => emitted.push(e), log: pino({ level: 'silent' }) });
    cleanups.push(() => relay.close());
    const client = await connectEventChannel(relay.socketPath);
    client?.send({ kind: 'hook', sessionId: 'abcd_main', payload: { hook_event_name: 'UserPromptSubmit' } });
    client?.send({ kind: 'hook', sessionId: 'abcd_main', payload: { hook_event_name: 'PreToolUse' } });
    client?.send({ kind: 'event', sessionId: 'NOT A SESSION ID', type: 'tool_use', data: { name: 'Write' } });
    client?.send({ kind: 'hook', sessionId: 'abcd_main', payload: { hook_event_name: 'Stop' } });
    await client?.flush();
    await client?.close();
    expect(emitted).toEqual([
      { sessionId: 'abcd_main', type: 'activity', data: { activity: 'working', hook: 'UserPromptSubmit' } },
      { sessionId: null, type: 'tool_use', data: { name: 'Write' } },
      { sessionId: 'abcd_main', type: 'activity', data: { activity: 'done', hook: 'Stop' } },
    ]);
    const dir = relay.runtimeDir;
    await relay.close();
    expect(existsSync(dir)).toBe(false);
  });
});

describe('the hook reporter (built)', () => {
  function runReporter(input: string, env: Record<string, string>): Promise<{ code: number | null; out: string }> {
    return new Promise((resolve) => {
      const child = spawn('/bin/sh', ['-c', hookReporterCommand()], { env: { PATH: process.env.PATH ?? '', ...env } });
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
      });
      child.stderr.on('data', (d) => {
        out += d;
      });
      child.on('close', (code) => resolve({ code, out }));
      child.stdin.end(input);
    });
  }

  it('forwards only the fields rclaude reads, prints nothing and exits 0', async () => {
    expect(existsSync(builtScript('claude/hooks-report.js')), 'build the agent first').toBe(true);
    const { ch, got } = await channel();
    const input = JSON.stringify({
      hook_event_name: 'Notification',
      notification_type: 'permission_prompt',
      message: 'Claude needs your permission to use Bash',
      session_id: 'abc',
      transcript_path: '/home/x/.claude/projects/p.jsonl',
      tool_input: { command: 'cat ~/.ssh/id_rsa' },
    });
    const r = await runReporter(input, { RCLAUDE_EVENTS_SOCKET: ch.path, RCLAUDE_SESSION_ID: 'abcd_main' });
    expect(r).toEqual({ code: 0, out: '' });
    expect(got).toEqual([
      {
        kind: 'hook',
        sessionId: 'abcd_main',
        payload: {
          hook_event_name: 'Notification',
          notification_type: 'permission_prompt',
          message: 'Claude needs your permission to use Bash',
          // Which Claude Code it was (a pending approval of that Claude is settled by its later hooks).
          session_id: 'abc',
        },
      },
    ]);
  });

  it('stays silent and exits 0 without a channel, or on garbage input', async () => {
    expect(await runReporter('{"hook_event_name":"Stop"}', {})).toEqual({ code: 0, out: '' });
    expect(await runReporter('garbage', { RCLAUDE_EVENTS_SOCKET: '/nonexistent/events.sock' })).toEqual({
      code: 0,
      out: '',
    });
  });
});
