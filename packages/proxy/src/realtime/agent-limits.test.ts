/**
 * A hostile sandbox against the `/agent` namespace: its agent (a real Socket.io client holding the sandbox's
 * real token) floods messages, bytes, oversized events, events faster than the database records them, and
 * made-up session ids. Each time the proxy holds a bounded amount, disconnects that agent, says why on the
 * task's timeline and in its metrics, and keeps serving the other sandboxes. Floods are bounded in count and
 * every wait in time.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Agent } from '@rclaude/agent';
import type { Ack, Task, TaskEvent } from '@rclaude/protocol';
import { until } from '@rclaude/testkit';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseUrl } from '../../test/test-database.js';
import { type FakeAgent, startTestStack, type TestStack, type TestUser } from '../../test/test-stack.js';
import {
  AgentMeter,
  agentLimitMessage,
  cooldownMessage,
  defaultAgentLimits,
  FREE_DROPS,
  ReconnectCooldown,
} from './agent-limits.js';

describe('AgentMeter', () => {
  it('lets two seconds of the rate through at once, then refuses, and reports the first limit once', () => {
    const tripped: string[] = [];
    const meter = new AgentMeter({ ...defaultAgentLimits, messagesPerSec: 100 }, (limit) => tripped.push(limit));
    let accepted = 0;
    for (let i = 0; i < 1000 && meter.packet(10); i++) accepted++;
    // A little refill while the loop ran is allowed for; never anywhere near the 1000 offered.
    expect(accepted).toBeGreaterThanOrEqual(200);
    expect(accepted).toBeLessThan(210);
    expect(meter.over).toBe('messages');
    expect(meter.packet(1)).toBe(false);
    expect(meter.hold(1)).toBeNull();
    meter.trip('bytes');
    expect(tripped).toEqual(['messages']);
  });

  it('counts bytes per second apart from messages', () => {
    const meter = new AgentMeter({ ...defaultAgentLimits, bytesPerSec: 1024 * 1024 }, () => undefined);
    expect(meter.packet(2 * 1024 * 1024)).toBe(true);
    expect(meter.packet(64 * 1024)).toBe(false);
    expect(meter.over).toBe('bytes');
  });

  it('holds bytes until released, each release counting once, and refuses what would go over', () => {
    const meter = new AgentMeter({ ...defaultAgentLimits, pendingMaxBytes: 1000 }, () => undefined);
    const a = meter.hold(600);
    expect(a).not.toBeNull();
    const b = meter.hold(400);
    expect(meter.pendingBytes).toBe(1000);
    a?.();
    a?.();
    expect(meter.pendingBytes).toBe(400);
    b?.();
    expect(meter.pendingBytes).toBe(0);
    expect(meter.hold(1001)).toBeNull();
    expect(meter.over).toBe('pending_bytes');
  });

  it('says on the timeline what happened, which setting it was, and that output is not lost', () => {
    const text = agentLimitMessage('event_size', defaultAgentLimits, 300_000);
    expect(text).toContain('300000 bytes');
    expect(text).toContain('AGENT_MAX_EVENT_BYTES');
    expect(text).toContain('without losing output');
  });
});

describe('ReconnectCooldown', () => {
  it('lets the first drops reconnect at once, then holds reconnections back for a doubling, bounded interval', () => {
    let now = 1_000_000;
    const cooldown = new ReconnectCooldown({ cooldownBaseMs: 1000, cooldownMaxMs: 5000 }, () => now);
    const steps = [];
    for (let i = 0; i < 7; i++) {
      const step = cooldown.drop('sb1');
      steps.push(step);
      expect(cooldown.remaining('sb1')).toBe(step.cooldownMs);
      now += step.cooldownMs + 10;
      expect(cooldown.remaining('sb1')).toBe(0);
    }
    expect(steps.map((s) => s.cooldownMs)).toEqual([0, 0, 1000, 2000, 4000, 5000, 5000]);
    expect(steps.map((s) => s.drops)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    // Only the drop that begins the cooldowns is told on the timeline.
    expect(steps.filter((s) => s.began).map((s) => s.drops)).toEqual([FREE_DROPS + 1]);
    // Other sandboxes are not held back.
    expect(cooldown.remaining('sb2')).toBe(0);
    expect(cooldown.drop('sb2').cooldownMs).toBe(0);
  });

  it('counts down while waiting, and forgets a streak after a quiet window', () => {
    let now = 0;
    const cooldown = new ReconnectCooldown({ cooldownBaseMs: 1000, cooldownMaxMs: 60_000 }, () => now);
    for (let i = 0; i <= FREE_DROPS; i++) cooldown.drop('sb');
    now += 400;
    expect(cooldown.remaining('sb')).toBe(600);
    // Two maximum cooldowns without a drop end the streak: the next drop is a free one again.
    now += 2 * 60_000;
    expect(cooldown.remaining('sb')).toBe(0);
    expect(cooldown.drop('sb')).toEqual({ drops: 1, cooldownMs: 0, began: false });
  });

  it('says how long, how it grows, which settings, and that sessions resume', () => {
    const text = cooldownMessage({ drops: 3, cooldownMs: 5000, began: true }, { cooldownMaxMs: 300_000 });
    expect(text).toContain('3 times in a row');
    expect(text).toContain('for 5s, doubling with each further drop up to 300s');
    expect(text).toContain('AGENT_RECONNECT_COOLDOWN_MS');
    expect(text).toContain('resume');
  });
});

/** The timeline entries of a task that say its agent was cut off. */
async function dropEvents(stack: TestStack, token: string, taskId: string): Promise<TaskEvent[]> {
  const res = await stack.api(token, 'GET', `/api/tasks/${taskId}/events`);
  expect(res.status).toBe(200);
  return (res.body.events as TaskEvent[]).filter((e) => e.type === 'error' && typeof e.data.limit === 'string');
}

async function countOf(stack: TestStack, limit: string): Promise<number> {
  const metric = await stack.server.metrics.registry.getSingleMetric('rclaude_agent_limit_drops_total')?.get();
  return metric?.values.find((v) => v.labels.limit === limit)?.value ?? 0;
}

/** Waits until `agent` is cut off, its task's timeline names `limit`, and the drop is counted. */
async function expectDropped(stack: TestStack, user: TestUser, taskId: string, agent: FakeAgent, limit: string) {
  await until(`the agent to be disconnected (${limit})`, () => !agent.connected, 15_000);
  const [event] = await until(
    `the timeline to say why (${limit})`,
    async () => {
      const events = await dropEvents(stack, user.token, taskId);
      return events.length > 0 ? events : null;
    },
    15_000,
  );
  expect(event?.data.limit).toBe(limit);
  expect(String(event?.data.message)).toMatch(/^the sandbox's agent .* so the server disconnected it/);
  expect(await countOf(stack, limit)).toBeGreaterThanOrEqual(1);
  expect(stack.logs()).toContain('agent over a limit');
}

/** Another user's sandbox keeps working: its output reaches a viewer and its agent stays connected. */
async function expectServed(stack: TestStack, user: TestUser, sessionId: string, agent: FakeAgent) {
  const viewer = await stack.client(user.token);
  const seen: string[] = [];
  viewer.on('pty:output', (_s: string, _o: number, data: Buffer) => seen.push(Buffer.from(data).toString()));
  const attached = (await viewer.timeout(5000).emitWithAck('session:attach', { sessionId })) as Ack<unknown>;
  expect(attached.ok).toBe(true);
  const marker = `still-served-${randomBytes(3).toString('hex')}`;
  agent.output(sessionId, marker);
  await until('the other sandbox to be served', () => seen.join('').includes(marker), 10_000);
  expect(agent.connected).toBe(true);
  viewer.disconnect();
}

describe('agent floods, rate and size limits (embedded)', () => {
  let stack: TestStack;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    stack = await startTestStack('embedded', {
      env: {
        AGENT_MAX_MESSAGES_PER_SEC: '500',
        AGENT_MAX_BYTES_PER_SEC: String(1024 * 1024),
        AGENT_MAX_EVENT_BYTES: '4096',
      },
    });
    alice = await stack.createUser('alice');
    bob = await stack.createUser('bob');
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('drops an agent that sends more messages per second than allowed; it may reconnect and resume', async () => {
    const a = await stack.startTask(alice.token);
    const b = await stack.startTask(bob.token);
    const session = a.task.mainSessionId;
    for (let i = 0; i < 5000 && a.agent.connected; i++) a.agent.output(session, 'x');
    await expectDropped(stack, alice, a.task.id, a.agent, 'messages');
    await expectServed(stack, bob, b.task.mainSessionId, b.agent);
    // Not fatal: the agent comes back (with its rotated token) and its task still runs.
    await a.agent.connect();
    expect((await stack.api(alice.token, 'GET', `/api/tasks/${a.task.id}`)).body.status).toBe('running');
  });

  it('drops an agent that sends more bytes per second than allowed', async () => {
    const a = await stack.startTask(alice.token);
    const b = await stack.startTask(bob.token);
    const frame = 'y'.repeat(256 * 1024);
    for (let i = 0; i < 40 && a.agent.connected; i++) a.agent.output(a.task.mainSessionId, frame);
    await expectDropped(stack, alice, a.task.id, a.agent, 'bytes');
    await expectServed(stack, bob, b.task.mainSessionId, b.agent);
  });

  it('refuses an event over AGENT_MAX_EVENT_BYTES, records nothing of it, and drops the agent', async () => {
    const a = await stack.startTask(alice.token);
    const text = `oversized-${'z'.repeat(8000)}`;
    a.agent.emitRaw('agent:event', { sessionId: null, type: 'assistant_text', data: { text } });
    await expectDropped(stack, alice, a.task.id, a.agent, 'event_size');
    const events = (await stack.api(alice.token, 'GET', `/api/tasks/${a.task.id}/events`)).body.events as TaskEvent[];
    expect(events.some((e) => e.type === 'assistant_text')).toBe(false);
    const [drop] = await dropEvents(stack, alice.token, a.task.id);
    expect(String(drop?.data.message)).toMatch(/an event of \d+ bytes, over the limit of 4096/);
  });
});

describe('an agent dropped again and again (embedded)', () => {
  let stack: TestStack;
  let alice: TestUser;
  const COOLDOWN_MS = 1500;

  beforeAll(async () => {
    stack = await startTestStack('embedded', {
      env: {
        AGENT_MAX_EVENT_BYTES: '4096',
        AGENT_RECONNECT_COOLDOWN_MS: String(COOLDOWN_MS),
        AGENT_RECONNECT_COOLDOWN_MAX_MS: String(4 * COOLDOWN_MS),
      },
    });
    alice = await stack.createUser('alice');
  }, 120_000);
  afterAll(async () => {
    await stack?.close();
  });

  const oversized = () => ({ sessionId: null, type: 'assistant_text', data: { text: 'o'.repeat(8000) } });
  const cooldownNotes = async (taskId: string) =>
    (await dropEvents(stack, alice.token, taskId)).filter((e) => e.data.limit === 'reconnect_cooldown');

  /** Connects `agent`, or answers the handshake refusal's data. */
  async function tryConnect(agent: FakeAgent): Promise<{ code?: string; retryAfterMs?: number } | null> {
    try {
      await agent.connect();
      return null;
    } catch (err) {
      const refusal = (err as { refusal?: { data?: { code?: string; retryAfterMs?: number } } }).refusal;
      if (!refusal) throw err;
      return refusal.data ?? {};
    }
  }

  it('refuses its handshake for a growing interval, says so once, and lets it back in after the wait', async () => {
    const { task, agent, sandboxId } = await stack.startTask(alice.token);
    const other = await stack.startTask(alice.token);
    // The free drops: each time the agent reconnects at once.
    for (let i = 0; i < FREE_DROPS; i++) {
      agent.emitRaw('agent:event', oversized());
      await until(`drop ${i + 1}`, () => !agent.connected, 15_000);
      expect(await tryConnect(agent)).toBeNull();
    }
    agent.emitRaw('agent:event', oversized());
    await until('the drop that begins the cooldown', () => !agent.connected, 15_000);
    const tokenBefore = agent.token;
    const refused = await tryConnect(agent);
    expect(refused?.code).toBe('RATE_LIMITED');
    expect(refused?.retryAfterMs).toBeGreaterThan(0);
    expect(refused?.retryAfterMs).toBeLessThanOrEqual(COOLDOWN_MS);
    // The refusal spent no token: the same one gets in once the wait is over.
    expect(agent.token).toBe(tokenBefore);
    const [note] = await until('the cooldown on the timeline', async () => {
      const notes = await cooldownNotes(task.id);
      return notes.length > 0 ? notes : null;
    });
    expect(String(note?.data.message)).toMatch(/went over its connection limits 3 times in a row/);
    const metric = await stack.server.metrics.registry.getSingleMetric('rclaude_agent_cooldown_refusals_total')?.get();
    expect(metric?.values[0]?.value ?? 0).toBeGreaterThanOrEqual(1);
    // Another sandbox of the same user is not held back.
    expect(other.agent.connected).toBe(true);

    const waitedFrom = Date.now();
    await until('the agent to be let back in', async () => (await tryConnect(agent)) === null, 10_000, 200);
    expect(Date.now() - waitedFrom).toBeGreaterThanOrEqual((refused?.retryAfterMs ?? 0) - 250);
    expect(agent.token).not.toBe(tokenBefore);

    // The next drop doubles the wait; the timeline does not repeat itself.
    agent.emitRaw('agent:event', oversized());
    await until('the fourth drop', () => !agent.connected, 15_000);
    const again = await tryConnect(agent);
    expect(again?.code).toBe('RATE_LIMITED');
    expect(again?.retryAfterMs).toBeGreaterThan(COOLDOWN_MS);
    expect(again?.retryAfterMs).toBeLessThanOrEqual(2 * COOLDOWN_MS);
    expect(await cooldownNotes(task.id)).toHaveLength(1);
    expect((await stack.api(alice.token, 'GET', `/api/tasks/${task.id}`)).body.status).toBe('running');
    expect(stack.logs()).toContain('agent reconnections held back');
    expect(stack.logs()).toContain(sandboxId);
  });
});

describe('agent floods, queues (Postgres + Redis)', () => {
  let stack: TestStack;
  let alice: TestUser;
  let bob: TestUser;
  const QUEUED = 50;

  beforeAll(async () => {
    stack = await startTestStack('postgres+redis', {
      env: { AGENT_MAX_QUEUED_EVENTS: String(QUEUED), AGENT_MAX_PENDING_BYTES: String(1024 * 1024) },
    });
    alice = await stack.createUser('alice');
    bob = await stack.createUser('bob');
  });
  afterAll(async () => {
    await stack?.close();
  });

  /**
   * Holds the task's row locked, as a slow database would: every timeline write of that task (each bumps the
   * row's event counter) waits, so the agent's events pile up in the proxy. Other tasks are not held.
   */
  async function lockTask(taskId: string): Promise<() => Promise<void>> {
    const client = new pg.Client({ connectionString: testDatabaseUrl() });
    await client.connect();
    await client.query(`SET search_path TO "${stack.server.schema}"`);
    await client.query('BEGIN');
    const locked = await client.query('SELECT id FROM tasks WHERE id = $1 FOR UPDATE', [taskId]);
    expect(locked.rowCount).toBe(1);
    return async () => {
      await client.query('ROLLBACK');
      await client.end();
    };
  }

  async function recordedOf(token: string, taskId: string, type: string): Promise<number> {
    const events = (await stack.api(token, 'GET', `/api/tasks/${taskId}/events`)).body.events as TaskEvent[];
    return events.filter((e) => e.type === type).length;
  }

  it('queues at most AGENT_MAX_QUEUED_EVENTS events of a sandbox, then drops its agent', async () => {
    const a = await stack.startTask(alice.token);
    const b = await stack.startTask(bob.token);
    const unlock = await lockTask(a.task.id);
    const sent = 2000;
    try {
      for (let i = 0; i < sent && a.agent.connected; i++) {
        a.agent.emitRaw('agent:event', { sessionId: null, type: 'assistant_text', data: { text: `flood ${i}` } });
      }
      await until('the agent to be disconnected', () => !a.agent.connected, 15_000);
      // While the first event waits on the database, the others wait in the proxy: the sandbox's queue.
      await expectServed(stack, bob, b.task.mainSessionId, b.agent);
    } finally {
      await unlock();
    }
    await expectDropped(stack, alice, a.task.id, a.agent, 'queued_events');
    // Everything accepted gets recorded once the database answers; nothing beyond the queue was accepted.
    const recorded = await recordedOf(alice.token, a.task.id, 'assistant_text');
    expect(recorded).toBeGreaterThan(0);
    expect(recorded).toBeLessThanOrEqual(QUEUED);
  });

  it('holds at most AGENT_MAX_PENDING_BYTES of events not yet recorded, then drops the agent', async () => {
    const a = await stack.startTask(alice.token);
    const b = await stack.startTask(bob.token);
    // A valid `diff` event of about 100 KiB (under AGENT_MAX_EVENT_BYTES, 256 KiB by default).
    const files = Array.from({ length: 100 }, (_, i) => ({
      path: `${String(i).padStart(4, '0')}/${'p'.repeat(1000)}`,
      additions: 1,
      deletions: 0,
    }));
    const diff = {
      files,
      filesChanged: files.length,
      additions: files.length,
      deletions: 0,
      diffPath: '.rclaude/diff.patch',
      diffBytes: 1,
      summary: `${files.length} files changed`,
    };
    const unlock = await lockTask(a.task.id);
    try {
      for (let i = 0; i < 100 && a.agent.connected; i++) {
        a.agent.emitRaw('agent:event', { sessionId: null, type: 'diff', data: diff });
      }
      await until('the agent to be disconnected', () => !a.agent.connected, 15_000);
      await expectServed(stack, bob, b.task.mainSessionId, b.agent);
    } finally {
      await unlock();
    }
    await expectDropped(stack, alice, a.task.id, a.agent, 'pending_bytes');
    // About 1 MiB of 100 KiB events: ten or so, never the hundred sent.
    const recorded = await recordedOf(alice.token, a.task.id, 'diff');
    expect(recorded).toBeGreaterThan(0);
    expect(recorded).toBeLessThanOrEqual(11);
  });

  it('drops an agent that names more sessions than it could hold, and keeps others served', async () => {
    const a = await stack.startTask(alice.token);
    const b = await stack.startTask(bob.token);
    const prefix = randomBytes(4).toString('hex');
    const bytes = new Uint8Array([120]);
    for (let i = 0; i <= defaultAgentLimits.sessionsMax + 10 && a.agent.connected; i++) {
      a.agent.emitRaw('pty:output', `${prefix}_${i}`, 0, bytes);
    }
    await expectDropped(stack, alice, a.task.id, a.agent, 'sessions');
    await expectServed(stack, bob, b.task.mainSessionId, b.agent);
  });
});

describe('the real agent over a limit (embedded)', () => {
  let stack: TestStack;
  let alice: TestUser;
  let workspace: string;
  let agent: Agent | null = null;
  let cooled: Agent | null = null;

  beforeAll(async () => {
    stack = await startTestStack('embedded', {
      // A short cooldown: the real agent, dropped again and again here, retries after each refusal by itself.
      env: {
        AGENT_MAX_BYTES_PER_SEC: String(1024 * 1024),
        AGENT_RECONNECT_COOLDOWN_MS: '500',
        AGENT_RECONNECT_COOLDOWN_MAX_MS: '2000',
      },
      autoConnectAgents: false,
    });
    alice = await stack.createUser('alice');
    workspace = await mkdtemp(path.join(os.tmpdir(), 'rclaude-agent-limits-'));
  });
  afterAll(async () => {
    agent?.shutdown(0);
    cooled?.shutdown(0);
    await stack?.close();
    await rm(workspace, { recursive: true, force: true });
  });

  it('reconnects by itself after being dropped, and not a byte of its output is lost or doubled', async () => {
    // About 7.9 MB: several times what 1 MiB/s with two seconds of burst lets through on one connection.
    const lines = 1_000_000;
    const created = await stack.api(alice.token, 'POST', '/api/tasks', {
      body: { command: ['sh', '-c', `seq 1 ${lines}; exec sleep 600`] },
    });
    expect(created.status, created.text).toBe(201);
    const spec = await until('the sandbox to start', () => stack.started.find((s) => s.taskId === created.body.id));
    agent = new Agent({
      proxyUrl: stack.url,
      sandboxId: spec.sandboxId,
      token: spec.env.RCLAUDE_AGENT_TOKEN ?? '',
      workspace,
      home: workspace,
      baseEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: workspace, TERM: 'xterm-256color' },
      log: pino({ level: 'silent' }),
    });
    agent.start();
    const task = await until(
      'the task to run',
      async () => {
        const t = (await stack.api(alice.token, 'GET', `/api/tasks/${created.body.id}`)).body as Task;
        return t.status === 'running' ? t : null;
      },
      30_000,
    );

    // No viewer while it floods (a viewer's window would pace the PTY below the limit): wait until it is all
    // stored, then read everything back from offset 0.
    const expected = Array.from({ length: lines }, (_, i) => `${i + 1}\r\n`).join('');
    const end = await until(
      'all of the output to be stored',
      async () => {
        const info = (await stack.api(alice.token, 'GET', `/api/sessions/${task.mainSessionId}`)).body;
        return info.outputEnd >= expected.length ? (info.outputEnd as number) : null;
      },
      120_000,
      250,
    );
    const viewer = await stack.client(alice.token);
    const chunks: Buffer[] = [];
    let received = 0;
    viewer.on('pty:output', (sessionId: string, offset: number, data: Buffer) => {
      chunks.push(Buffer.from(data));
      received = offset + data.byteLength;
      viewer.emit('pty:ack', { sessionId, offset: received });
    });
    const attached = (await viewer
      .timeout(5000)
      .emitWithAck('session:attach', { sessionId: task.mainSessionId, from: 0 })) as Ack<unknown>;
    expect(attached.ok).toBe(true);

    await until('all of the output to be read back', () => received >= end, 60_000);
    const text = Buffer.concat(chunks).toString('latin1');
    // Exactly once, in order, with nothing missing in between.
    expect(text.includes(expected)).toBe(true);
    expect(text.split(`\r\n${Math.floor(lines / 2)}\r\n`).length - 1).toBe(1);
    expect(text.length - expected.length).toBeLessThan(1024);
    expect(stack.logs()).not.toContain('output log lost bytes');

    // It was dropped for its byte rate and came back on its own, resuming its session each time.
    const drops = await countOf(stack, 'bytes');
    expect(drops).toBeGreaterThanOrEqual(1);
    const reconnects = await stack.server.metrics.registry.getSingleMetric('rclaude_agent_reconnects_total')?.get();
    expect(reconnects?.values[0]?.value ?? 0).toBeGreaterThanOrEqual(drops);
    const [drop] = await dropEvents(stack, alice.token, task.id);
    expect(drop?.data.limit).toBe('bytes');
    expect((await stack.api(alice.token, 'GET', `/api/tasks/${task.id}`)).body.status).toBe('running');
    viewer.disconnect();
  });

  it('waits out a cooldown refusal by itself and comes back to a running task', async () => {
    const metric = async (name: string, label?: string) => {
      const values = (await stack.server.metrics.registry.getSingleMetric(name)?.get())?.values ?? [];
      return values.find((v) => label === undefined || v.labels.limit === label)?.value ?? 0;
    };
    const created = await stack.api(alice.token, 'POST', '/api/tasks', {
      body: { command: ['sh', '-c', 'while read l; do echo "got-$l"; done'] },
    });
    expect(created.status, created.text).toBe(201);
    const spec = await until('the sandbox to start', () => stack.started.find((s) => s.taskId === created.body.id));
    cooled = new Agent({
      proxyUrl: stack.url,
      sandboxId: spec.sandboxId,
      token: spec.env.RCLAUDE_AGENT_TOKEN ?? '',
      workspace,
      home: workspace,
      baseEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: workspace, TERM: 'xterm-256color' },
      log: pino({ level: 'silent' }),
    });
    const real = cooled;
    real.start();
    const task = await until(
      'the task to run',
      async () => {
        const t = (await stack.api(alice.token, 'GET', `/api/tasks/${created.body.id}`)).body as Task;
        return t.status === 'running' ? t : null;
      },
      30_000,
    );
    const dropsBefore = await metric('rclaude_agent_limit_drops_total', 'event_size');
    const refusalsBefore = await metric('rclaude_agent_cooldown_refusals_total');
    // Three events over AGENT_MAX_EVENT_BYTES (256 KiB), each sent once the agent is back: the third drop
    // begins a cooldown, and the agent's next handshake is refused with RATE_LIMITED.
    const oversized = { sessionId: null, type: 'assistant_text', data: { text: 'c'.repeat(300 * 1024) } };
    let connects = 0;
    real.connection.on('connect', () => connects++);
    for (let i = 1; i <= 3; i++) {
      // Each drop's reconnection is a new `connect`; the first event goes on the connection already open.
      await until(`the agent to be connected (${i})`, () => real.connection.connected && connects >= i - 1, 15_000);
      real.connection.emit('agent:event', oversized);
      await until(
        `drop ${i}`,
        async () => (await metric('rclaude_agent_limit_drops_total', 'event_size')) >= dropsBefore + i,
        15_000,
      );
    }
    await until(
      'a handshake refused for the cooldown',
      async () => (await metric('rclaude_agent_cooldown_refusals_total')) > refusalsBefore,
      15_000,
    );
    // Socket.io does not retry a refused handshake itself: the agent's own retry brings it back.
    await until('the agent to be back', () => real.connection.connected && connects >= 3, 15_000);
    const viewer = await stack.client(alice.token);
    const seen: string[] = [];
    viewer.on('pty:output', (_s: string, _o: number, data: Buffer) => seen.push(Buffer.from(data).toString()));
    const attached = (await viewer
      .timeout(5000)
      .emitWithAck('session:attach', { sessionId: task.mainSessionId })) as Ack<unknown>;
    expect(attached.ok).toBe(true);
    viewer.emit('pty:input', { sessionId: task.mainSessionId, data: 'after-cooldown\r' });
    await until('the task to answer after the cooldown', () => seen.join('').includes('got-after-cooldown'), 15_000);
    expect((await stack.api(alice.token, 'GET', `/api/tasks/${task.id}`)).body.status).toBe('running');
    viewer.disconnect();
  });
});
