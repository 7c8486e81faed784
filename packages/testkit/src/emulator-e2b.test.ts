import { readFile } from 'node:fs/promises';
import {
  AuthenticationError,
  CommandExitError,
  RateLimitError,
  Sandbox,
  SandboxError,
  SandboxNotFoundError,
  type SandboxOpts,
  ServiceBusyError,
} from 'e2b';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type E2bCommandContext, type E2bEmulator, startE2bEmulator } from './e2b-emulator.js';
import { waitUntil } from './emulator-standin.js';

let emulator: E2bEmulator;
let opts: SandboxOpts;
const seen: E2bCommandContext[] = [];

beforeEach(async () => {
  seen.length = 0;
  emulator = await startE2bEmulator({
    commandFor: (ctx) => {
      seen.push(ctx);
      return null;
    },
    templates: { 'rclaude-sandbox': { cpuCount: 2, memoryMB: 2048 } },
    maxTimeoutSeconds: 3600,
  });
  opts = {
    apiKey: emulator.apiKey,
    apiUrl: emulator.apiUrl,
    sandboxUrl: emulator.sandboxUrl,
    requestTimeoutMs: 10_000,
  };
});

afterEach(async () => {
  await emulator.close();
});

/** Reads every Connect envelope of a streaming response body. */
async function readEnvelopes(res: Response, until: (messages: { flags: number; json: unknown }[]) => boolean) {
  const reader = res.body?.getReader();
  if (!reader) throw new Error('no body');
  let buf = Buffer.alloc(0);
  const messages: { flags: number; json: unknown }[] = [];
  while (!until(messages)) {
    const { done, value } = await reader.read();
    if (done) break;
    buf = Buffer.concat([buf, Buffer.from(value)]);
    while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
      const len = buf.readUInt32BE(1);
      messages.push({ flags: buf.readUInt8(0), json: JSON.parse(buf.subarray(5, 5 + len).toString('utf8')) });
      buf = buf.subarray(5 + len);
    }
  }
  await reader.cancel().catch(() => {});
  return messages;
}

describe('E2B emulator with the real SDK', () => {
  it('creates a sandbox and runs commands as local processes with sandbox and command envs merged', async () => {
    const sbx = await Sandbox.create('rclaude-sandbox', {
      ...opts,
      envs: { FROM_SANDBOX: 'a', BOTH: 'sandbox' },
      metadata: { rclaudeSandboxId: 'sbx1' },
      timeoutMs: 120_000,
    });
    const result = await sbx.commands.run('echo "$FROM_SANDBOX $FROM_CMD $BOTH"; pwd', {
      envs: { FROM_CMD: 'b', BOTH: 'command' },
      cwd: '/workspace',
    });
    expect(result.exitCode).toBe(0);
    const [line, cwd] = result.stdout.trim().split('\n');
    expect(line).toBe('a b command');
    const sandbox = emulator.sandbox(sbx.sandboxId);
    expect(cwd).toBe(sandbox?.fs.workspace);
    expect(seen[0]?.command).toBe('echo "$FROM_SANDBOX $FROM_CMD $BOTH"; pwd');
    expect(seen[0]?.cmd).toBe('/bin/bash');
    expect(sandbox?.metadata).toEqual({ rclaudeSandboxId: 'sbx1' });
    const create = emulator.requestsOf('createSandbox')[0];
    expect(create?.body).toMatchObject({ templateID: 'rclaude-sandbox', timeout: 120, envVars: { FROM_SANDBOX: 'a' } });

    const failing = await sbx.commands.run('echo oops >&2; exit 7').catch((e: unknown) => e);
    expect(failing).toBeInstanceOf(CommandExitError);
    expect((failing as CommandExitError).exitCode).toBe(7);
    expect((failing as CommandExitError).stderr).toBe('oops\n');
  });

  it('runs a background command with no deadline, lists it and kills it by signal', async () => {
    const sbx = await Sandbox.create('rclaude-sandbox', opts);
    const handle = await sbx.commands.run('sleep 600', { background: true, timeoutMs: 0 });
    const start = emulator.requestsOf('process.Start')[0];
    expect(start?.headers['connect-timeout-ms']).toBeUndefined();
    const listed = await sbx.commands.list();
    expect(listed.map((p) => p.pid)).toEqual([handle.pid]);
    expect(await sbx.commands.kill(handle.pid)).toBe(true);
    const ended = await handle.wait().catch((e: unknown) => e);
    expect(ended).toBeInstanceOf(CommandExitError);
    expect(await sbx.commands.kill(handle.pid)).toBe(false);
  });

  it('kills a process whose Connect-Timeout-Ms deadline passes, like the real envd', async () => {
    const sbx = await Sandbox.create('rclaude-sandbox', opts);
    await expect(sbx.commands.run('sleep 600', { timeoutMs: 300 })).rejects.toThrow();
    const sandbox = emulator.sandbox(sbx.sandboxId);
    await waitUntil('process gone', () => (sandbox?.processes.size === 0 ? true : undefined));
    expect(emulator.requestsOf('process.Start')[0]?.headers['connect-timeout-ms']).toBe('300');
  });

  it('streams Connect envelopes: start, data, keepalive, end and the closing 0x02 envelope', async () => {
    await emulator.close();
    emulator = await startE2bEmulator({ commandFor: () => null, keepaliveIntervalMs: 30 });
    const sbx = await Sandbox.create('base', {
      apiKey: emulator.apiKey,
      apiUrl: emulator.apiUrl,
      sandboxUrl: emulator.sandboxUrl,
    });
    const request = JSON.stringify({
      process: { cmd: '/bin/bash', args: ['-l', '-c', 'sleep 0.3; echo hi'], envs: {} },
      stdin: false,
    });
    const body = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), Buffer.from(request)]);
    body.writeUInt32BE(Buffer.byteLength(request), 1);
    const res = await fetch(`${emulator.sandboxUrl}/process.Process/Start`, {
      method: 'POST',
      headers: {
        'content-type': 'application/connect+json',
        'e2b-sandbox-id': sbx.sandboxId,
        'x-access-token': envdToken(sbx),
      },
      body,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/connect+json');
    const messages = await readEnvelopes(res, () => false);
    type ProcessEvent = { start?: unknown; data?: { stdout?: string }; keepalive?: unknown; end?: unknown };
    const events = messages.filter((m) => m.flags === 0).map((m) => (m.json as { event: ProcessEvent }).event);
    expect(Object.keys(events[0] ?? {})).toEqual(['start']);
    expect(events.some((e) => e.keepalive !== undefined)).toBe(true);
    const stdout = events.flatMap((e) => (e.data?.stdout ? [Buffer.from(e.data.stdout, 'base64').toString()] : []));
    expect(stdout.join('')).toBe('hi\n');
    expect(events.at(-1)?.end).toEqual({ exitCode: 0, exited: true, status: 'exit status 0' });
    expect(messages.at(-1)).toEqual({ flags: 2, json: {} });
  });

  it('writes and reads files under the sandbox root (multipart and octet-stream)', async () => {
    const sbx = await Sandbox.create('rclaude-sandbox', opts);
    await sbx.files.write('/workspace/notes/a.txt', 'hello');
    await sbx.files.write('/home/rclaude/b.txt', 'streamed', { useOctetStream: true });
    expect(await sbx.files.read('/workspace/notes/a.txt')).toBe('hello');
    const fs = emulator.sandbox(sbx.sandboxId)?.fs;
    expect(await readFile(`${fs?.home}/b.txt`, 'utf8')).toBe('streamed');
    expect(emulator.requestsOf('files.write').map((r) => String(r.headers['content-type']).split(';')[0])).toEqual([
      'multipart/form-data',
      'application/octet-stream',
    ]);
    await expect(sbx.files.read('/workspace/missing.txt')).rejects.toThrow(/does not exist/);
  });

  it('lists sandboxes by metadata, page by page', async () => {
    const mine = await Promise.all(
      [1, 2, 3].map(() => Sandbox.create('rclaude-sandbox', { ...opts, metadata: { owner: 'me' } })),
    );
    await Sandbox.create('rclaude-sandbox', { ...opts, metadata: { owner: 'someone else' } });
    const paginator = Sandbox.list({ ...opts, query: { metadata: { owner: 'me' }, state: ['running'] }, limit: 2 });
    const ids: string[] = [];
    while (paginator.hasNext) ids.push(...(await paginator.nextItems()).map((s) => s.sandboxId));
    expect(ids.sort()).toEqual(mine.map((s) => s.sandboxId).sort());
    expect(emulator.requestsOf('listSandboxes')).toHaveLength(2);
  });

  it('kills, reports not found, and kills again with false', async () => {
    const sbx = await Sandbox.create('rclaude-sandbox', opts);
    const info = await Sandbox.getInfo(sbx.sandboxId, opts);
    expect(info.state).toBe('running');
    expect(info.templateId).toBe('rclaude-sandbox');
    expect(await Sandbox.kill(sbx.sandboxId, opts)).toBe(true);
    expect(await Sandbox.kill(sbx.sandboxId, opts)).toBe(false);
    await expect(Sandbox.getInfo(sbx.sandboxId, opts)).rejects.toBeInstanceOf(SandboxNotFoundError);
    expect(emulator.sandbox(sbx.sandboxId)?.killed).toBe('api');
  });

  it('extends the timeout with setTimeout and kills the sandbox when it expires', async () => {
    const sbx = await Sandbox.create('rclaude-sandbox', { ...opts, timeoutMs: 1000 });
    const before = emulator.sandbox(sbx.sandboxId)?.endAt ?? 0;
    await Sandbox.setTimeout(sbx.sandboxId, 60_000, opts);
    expect(emulator.sandbox(sbx.sandboxId)?.endAt ?? 0).toBeGreaterThan(before);
    await Sandbox.setTimeout(sbx.sandboxId, 1000, opts);
    await waitUntil('timeout kill', () => (emulator.sandbox(sbx.sandboxId)?.killed === 'timeout' ? true : undefined));
    await expect(Sandbox.setTimeout(sbx.sandboxId, 1000, opts)).rejects.toBeInstanceOf(SandboxNotFoundError);
    await expect(Sandbox.create('rclaude-sandbox', { ...opts, timeoutMs: 7_200_000 })).rejects.toThrow(
      /cannot be greater/,
    );
  });

  it('maps injected API errors to the SDK error classes', async () => {
    emulator.fail({ kind: 'apiError', operation: 'createSandbox', status: 401 });
    await expect(Sandbox.create('rclaude-sandbox', opts)).rejects.toBeInstanceOf(AuthenticationError);
    emulator.fail({ kind: 'apiError', operation: 'createSandbox', status: 429 });
    await expect(Sandbox.create('rclaude-sandbox', opts)).rejects.toBeInstanceOf(RateLimitError);
    emulator.fail({ kind: 'apiError', operation: 'createSandbox', status: 503 });
    await expect(Sandbox.create('rclaude-sandbox', opts)).rejects.toBeInstanceOf(ServiceBusyError);
    emulator.fail({ kind: 'apiError', operation: 'createSandbox', status: 500, message: 'boom' });
    const error = await Sandbox.create('rclaude-sandbox', opts).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SandboxError);
    expect((error as SandboxError).statusCode).toBe(500);
    const missing = await Sandbox.create('no-such-template', opts).catch((e: unknown) => e);
    expect((missing as SandboxError).statusCode).toBe(404);
    await expect(Sandbox.create('rclaude-sandbox', { ...opts, apiKey: '' })).rejects.toBeInstanceOf(
      AuthenticationError,
    );
  });

  it('retries a 429 that carries Retry-After (the SDK does), then succeeds', async () => {
    emulator.fail({ kind: 'apiError', operation: 'createSandbox', status: 429, retryAfterSeconds: 0 });
    const sbx = await Sandbox.create('rclaude-sandbox', opts);
    expect(sbx.sandboxId).toBeTruthy();
    expect(emulator.requestsOf('createSandbox').map((r) => r.status)).toEqual([429, 201]);
  });

  it('a sandbox killed from outside drops its streams and refuses envd calls', async () => {
    const sbx = await Sandbox.create('rclaude-sandbox', opts);
    const handle = await sbx.commands.run('sleep 600', { background: true, timeoutMs: 0 });
    const pid = handle.pid;
    await emulator.kill(sbx.sandboxId);
    await expect(handle.wait()).rejects.toThrow();
    expect(() => process.kill(pid, 0)).toThrow();
    await expect(sbx.commands.list()).rejects.toThrow();
    await expect(Sandbox.getInfo(sbx.sandboxId, opts)).rejects.toBeInstanceOf(SandboxNotFoundError);
    expect(emulator.sandbox(sbx.sandboxId)?.killed).toBe('external');
  });

  it('injects a daemon that never starts the process, and daemon errors', async () => {
    const sbx = await Sandbox.create('rclaude-sandbox', opts);
    emulator.fail({ kind: 'neverStart' });
    await expect(
      sbx.commands.run('rclaude-agent', { background: true, timeoutMs: 0, requestTimeoutMs: 300 }),
    ).rejects.toThrow();
    expect(seen).toHaveLength(0);
    // A Connect `unavailable` on a stream is what the SDK reads as "sandbox gone".
    emulator.fail({ kind: 'envdError', operation: 'process.Start', status: 503, message: 'daemon busy' });
    await expect(sbx.commands.run('true')).rejects.toBeInstanceOf(SandboxNotFoundError);
    emulator.fail({ kind: 'envdError', operation: 'process.Start', status: 500, message: 'daemon broke' });
    await expect(sbx.commands.run('true')).rejects.toThrow(/daemon broke/);
    emulator.fail({ kind: 'envdError', operation: 'process.List', status: 500, message: 'list broke' });
    await expect(sbx.commands.list()).rejects.toThrow(/list broke/);
    const ok = await sbx.commands.run('true');
    expect(ok.exitCode).toBe(0);
  });
});

/** The envd access token the SDK holds for a sandbox (not part of its public types). */
function envdToken(sbx: Sandbox): string {
  return (sbx as unknown as { envdAccessToken: string }).envdAccessToken;
}
