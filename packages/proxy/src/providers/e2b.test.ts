import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AppError } from '@rclaude/protocol';
import { type E2bEmulator, readStandInMarker, standInCommand, startE2bEmulator, waitUntil } from '@rclaude/testkit';
import { ConnectionConfig, type ConnectionOpts } from 'e2b';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeProviderContract } from '../../test/provider-contract.js';
import { createE2bProvider, type E2bProviderOptions } from './e2b.js';
import type { Provider, SandboxSpec } from './types.js';

function startEmulator(maxTimeoutSeconds = 3600) {
  return startE2bEmulator({
    // The agent command becomes the stand-in; anything else runs as given.
    commandFor: (ctx) => (ctx.command?.includes('rclaude-agent') ? standInCommand() : null),
    templates: { 'rclaude-sandbox': { cpuCount: 2, memoryMB: 4096 } },
    maxTimeoutSeconds,
  });
}

function providerOptions(emulator: E2bEmulator, extra: Partial<E2bProviderOptions> = {}): E2bProviderOptions {
  return {
    apiKey: emulator.apiKey,
    apiUrl: emulator.apiUrl,
    sandboxUrl: emulator.sandboxUrl,
    template: 'rclaude-sandbox',
    installation: 'test',
    retryDelayMs: 10,
    requestTimeoutMs: 10_000,
    ...extra,
  };
}

function specFactory(dir: string) {
  return (extraEnv: Record<string, string> = {}, maxLifetimeMs = 3_600_000): SandboxSpec => {
    const sandboxId = `sbx${randomBytes(6).toString('hex')}`;
    return {
      sandboxId,
      taskId: 'task1',
      owner: 'alice',
      env: {
        RCLAUDE_PROXY_URL: 'http://127.0.0.1:9/agent',
        RCLAUDE_SANDBOX_ID: sandboxId,
        RCLAUDE_AGENT_TOKEN: randomBytes(24).toString('hex'),
        RCLAUDE_TEST_MARKER: path.join(dir, `${sandboxId}.json`),
        ...extraEnv,
      },
      maxLifetimeMs,
    };
  };
}

describeProviderContract('e2b (testkit emulator)', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'e2b-contract-'));
  const emulator = await startEmulator();
  return {
    provider: createE2bProvider(providerOptions(emulator)),
    makeSpec: specFactory(dir),
    started: async (spec) => (await readStandInMarker(spec.env.RCLAUDE_TEST_MARKER ?? '')).env,
    exitWith: (code) => ({ RCLAUDE_TEST_EXIT_CODE: String(code), RCLAUDE_TEST_EXIT_AFTER_MS: '300' }),
    killExternally: (handle) => emulator.kill(handle.ref),
    unknownHandle: () => ({ sandboxId: 'nobody', provider: 'e2b', ref: 'i0doesnotexist00000' }),
    close: async () => {
      await emulator.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('e2b SDK options the provider relies on', () => {
  // apiUrl and sandboxUrl are marked @internal in the SDK's types: if a release drops or renames them, the
  // provider would silently talk to api.e2b.app. This test is the tripwire; pin e2b until it passes again.
  it('still honours apiUrl and sandboxUrl (internal in the SDK types)', () => {
    const opts: Required<Pick<ConnectionOpts, 'apiKey' | 'apiUrl' | 'sandboxUrl'>> = {
      apiKey: 'k',
      apiUrl: 'http://127.0.0.1:1',
      sandboxUrl: 'http://127.0.0.1:2',
    };
    const config = new ConnectionConfig(opts);
    expect(config.apiUrl).toBe('http://127.0.0.1:1');
    expect(config.sandboxUrl).toBe('http://127.0.0.1:2');
    expect(config.getSandboxUrl('abc', { sandboxDomain: 'e2b.app', envdPort: 49983 })).toBe('http://127.0.0.1:2');
  });
});

describe('E2B provider against the emulator', () => {
  let emulator: E2bEmulator;
  let dir: string;
  let makeSpec: ReturnType<typeof specFactory>;
  const providers: Provider[] = [];
  const make = (extra: Partial<E2bProviderOptions> = {}) => {
    const provider = createE2bProvider(providerOptions(emulator, extra));
    providers.push(provider);
    return provider;
  };
  const startError = async (provider: Provider, spec: SandboxSpec): Promise<AppError> => {
    const error = await provider.start(spec).then(
      () => new Error('start succeeded'),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  };

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'e2b-provider-'));
    makeSpec = specFactory(dir);
    emulator = await startEmulator();
  });

  afterEach(async () => {
    await Promise.all(providers.splice(0).map((p) => p.close()));
    await emulator.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('creates from the template with env, metadata and the lifetime as timeout, and starts the agent with no deadline', async () => {
    const spec = makeSpec({}, 30_000);
    const handle = await make().start(spec);
    expect(handle).toEqual({ sandboxId: spec.sandboxId, provider: 'e2b', ref: expect.any(String) });
    const create = emulator.requestsOf('createSandbox');
    expect(create).toHaveLength(1);
    expect(create[0]?.headers['x-api-key']).toBe(emulator.apiKey);
    const { RCLAUDE_AGENT_TOKEN: startup, ...rest } = spec.env;
    // The start-up token only as the one-time bootstrap reference (adr/0021), in no command's env or arguments.
    expect(create[0]?.body).toMatchObject({
      templateID: 'rclaude-sandbox',
      envVars: { ...rest, RCLAUDE_AGENT_BOOTSTRAP: startup },
      timeout: 30,
    });
    expect(JSON.stringify(create[0]?.body)).not.toContain('RCLAUDE_AGENT_TOKEN');
    const metadata = createBody(emulator).metadata;
    expect(metadata).toMatchObject({
      rclaudeSandboxId: spec.sandboxId,
      rclaudeTaskId: 'task1',
      rclaudeOwner: 'alice',
      rclaudeInstallation: 'test',
    });
    expect(Number(metadata.rclaudeDeadline)).toBeGreaterThan(Date.now());

    const start = emulator.requestsOf('process.Start')[0];
    expect(start?.headers['connect-timeout-ms']).toBeUndefined();
    expect(start?.headers.authorization).toBe(`Basic ${Buffer.from('rclaude:').toString('base64')}`);
    const proc = [...(emulator.sandbox(handle.ref)?.processes.values() ?? [])][0];
    expect(proc?.args).toEqual(['-l', '-c', 'exec rclaude-agent >>/tmp/rclaude-agent.log 2>&1']);
    expect(proc?.cwd).toBe('/workspace');
    expect(proc?.env.RCLAUDE_WORKSPACE).toBe('/workspace');
    const marker = await readStandInMarker(spec.env.RCLAUDE_TEST_MARKER ?? '');
    expect(marker.env.RCLAUDE_AGENT_BOOTSTRAP).toBe(spec.env.RCLAUDE_AGENT_TOKEN);
    expect(marker.env.RCLAUDE_AGENT_TOKEN).toBeUndefined();
    // What envd was asked to run: no agent token in any command's arguments or environment.
    for (const p of emulator.sandbox(handle.ref)?.processes.values() ?? []) {
      expect(Object.keys(p.env)).not.toContain('RCLAUDE_AGENT_TOKEN');
      expect(p.args.join(' ')).not.toContain(spec.env.RCLAUDE_AGENT_TOKEN);
    }
    for (const r of emulator.requestsOf('process.Start'))
      expect(JSON.stringify(r.body)).not.toContain('RCLAUDE_AGENT_TOKEN');
    expect(marker.cwd).toBe(emulator.sandbox(handle.ref)?.fs.workspace);
  });

  it('caps the timeout at the plan maximum and keeps the sandbox alive towards its lifetime, never beyond', async () => {
    const spec = makeSpec({}, 3_600_000);
    const provider = make({ maxSandboxTimeoutMs: 2000, keepAliveIntervalMs: 100 });
    const handle = await provider.start(spec);
    const deadline = Number(createBody(emulator).metadata.rclaudeDeadline);
    expect(createBody(emulator).timeout).toBe(2);
    await waitUntil('two keep-alive calls', () => (emulator.requestsOf('setTimeout').length >= 2 ? true : undefined));
    for (const call of emulator.requestsOf('setTimeout')) {
      expect(call.path).toBe(`/sandboxes/${handle.ref}/timeout`);
      expect((call.body as { timeout: number }).timeout).toBe(2);
    }
    expect(emulator.sandbox(handle.ref)?.endAt ?? Number.POSITIVE_INFINITY).toBeLessThanOrEqual(deadline);
    expect((await provider.inspect(handle)).state).toBe('running');
  });

  it('a restarted proxy adopts a running sandbox on inspect and keeps it alive', async () => {
    const first = make({ maxSandboxTimeoutMs: 2000, keepAliveIntervalMs: 60_000 });
    const handle = await first.start(makeSpec({}, 3_600_000));
    await first.close();
    const calls = emulator.requestsOf('setTimeout').length;
    const second = make({ maxSandboxTimeoutMs: 2000, keepAliveIntervalMs: 100 });
    expect((await second.inspect(handle)).state).toBe('running');
    await waitUntil('keep-alive by the new process', () =>
      emulator.requestsOf('setTimeout').length > calls ? true : undefined,
    );
    // close() only let go: the agent still runs.
    expect(emulator.sandbox(handle.ref)?.killed).toBeNull();
    expect(emulator.sandbox(handle.ref)?.processes.size).toBe(1);
  });

  it('kills the sandbox when the agent exits by itself and reports the exit code', async () => {
    const provider = make();
    const handle = await provider.start(makeSpec({ RCLAUDE_TEST_EXIT_CODE: '5', RCLAUDE_TEST_EXIT_AFTER_MS: '100' }));
    await waitUntil('sandbox killed', () => (emulator.sandbox(handle.ref)?.killed === 'api' ? true : undefined));
    expect(await provider.inspect(handle)).toEqual({
      state: 'stopped',
      exitCode: 5,
      reason: 'the agent exited with code 5',
    });
  });

  it('maps API errors to AppErrors that say what to fix', async () => {
    emulator.fail({ kind: 'apiError', operation: 'createSandbox', status: 401 });
    const auth = await startError(make(), makeSpec());
    expect(auth.code).toBe('SANDBOX_START_FAILED');
    expect(auth.message).toContain('E2B_API_KEY');

    emulator.fail({ kind: 'apiError', operation: 'createSandbox', status: 429 });
    const limited = await startError(make(), makeSpec());
    expect(limited.code).toBe('PROVIDER_UNAVAILABLE');
    expect(limited.message).toContain('rate limiting');

    const template = await startError(make({ template: 'nope' }), makeSpec());
    expect(template.code).toBe('SANDBOX_START_FAILED');
    expect(template.message).toContain('E2B_TEMPLATE');

    const tooLong = await startError(make({ maxSandboxTimeoutMs: 7_200_000 }), makeSpec({}, 7_200_000));
    expect(tooLong.code).toBe('SANDBOX_START_FAILED');
    expect(tooLong.message).toContain('cannot be greater');
  });

  it('retries a 503 on create (E2B made nothing) but not a 500 (it may have)', async () => {
    emulator.fail({ kind: 'apiError', operation: 'createSandbox', status: 503, times: 2 });
    await make().start(makeSpec());
    expect(emulator.requestsOf('createSandbox').map((r) => r.status)).toEqual([503, 503, 201]);

    emulator.fail({ kind: 'apiError', operation: 'createSandbox', status: 500, message: 'boom' });
    const error = await startError(make(), makeSpec());
    expect(error.code).toBe('PROVIDER_UNAVAILABLE');
    expect(
      emulator
        .requestsOf('createSandbox')
        .slice(3)
        .map((r) => r.status),
    ).toEqual([500]);
  });

  it('kills the sandbox when the agent never starts', async () => {
    emulator.fail({ kind: 'neverStart' });
    const error = await startError(make({ requestTimeoutMs: 500 }), makeSpec());
    expect(error.code).toBe('SANDBOX_START_FAILED');
    expect(error.message).toContain('E2B did not answer in time');
    expect(error.message).toContain('the agent never started');
    const sandboxId = String(emulator.requestsOf('process.Start')[0]?.headers['e2b-sandbox-id']);
    expect(emulator.sandbox(sandboxId)?.killed).toBe('api');

    emulator.fail({ kind: 'envdError', operation: 'process.Start', status: 500, message: 'exec failed' });
    const broken = await startError(make(), makeSpec());
    expect(broken.code).toBe('SANDBOX_START_FAILED');
    expect(broken.message).toContain('exec failed');
    expect(emulator.sandboxes()).toHaveLength(0);
  });

  it('retries inspect and stop through transient errors', async () => {
    const provider = make();
    const handle = await provider.start(makeSpec());
    emulator.fail({ kind: 'apiError', operation: 'getSandbox', status: 502, times: 2 });
    expect((await provider.inspect(handle)).state).toBe('running');
    emulator.fail({ kind: 'apiError', operation: 'killSandbox', status: 503 });
    await provider.stop(handle, 'done');
    expect(emulator.sandbox(handle.ref)?.killed).toBe('api');
    expect(await provider.inspect(handle)).toEqual({
      state: 'stopped',
      exitCode: null,
      reason: 'stopped by rclaude: done',
    });
  });

  it('pauses with memory (every process stopped) and resumes the same sandbox, following its agent again', async () => {
    const provider = make();
    // The stand-in agent exits 5 a little after it starts: after the resume, its exit must still end the sandbox.
    const handle = await provider.start(
      makeSpec({ RCLAUDE_TEST_EXIT_CODE: '5', RCLAUDE_TEST_EXIT_AFTER_MS: '2500' }, 600_000),
    );
    const sandbox = emulator.sandbox(handle.ref);
    const pids = [...(sandbox?.processes.keys() ?? [])];
    expect(pids.length).toBe(1);
    await provider.pause?.(handle);
    expect(emulator.requestsOf('pauseSandbox').map((r) => r.body)).toEqual([{ memory: true }]);
    expect(sandbox?.paused).toEqual(pids);
    expect(readFileSync(`/proc/${pids[0]}/status`, 'utf8')).toMatch(/^State:\s+T/m);
    expect(await provider.inspect(handle)).toMatchObject({ state: 'stopped', reason: 'the E2B sandbox is paused' });
    expect(await provider.list()).toEqual([]);
    // Paused already: the SDK's 409 is as good as a pause.
    await provider.pause?.(handle);

    await provider.resume?.(handle, { lifetimeMs: 120_000 });
    expect(emulator.requestsOf('connectSandbox').at(-1)?.body).toEqual({ timeout: 120 });
    expect(sandbox?.paused).toBeNull();
    expect(readFileSync(`/proc/${pids[0]}/status`, 'utf8')).not.toMatch(/^State:\s+T/m);
    await waitUntil('sandbox killed', () => (emulator.sandbox(handle.ref)?.killed === 'api' ? true : undefined));
    expect(await provider.inspect(handle)).toMatchObject({ state: 'stopped', exitCode: 5 });
  });

  it('a paused sandbox E2B dropped does not resume (NOT_FOUND); a paused one is killed by stop', async () => {
    const provider = make();
    const gone = await provider.start(makeSpec());
    await provider.pause?.(gone);
    await emulator.vanish(gone.ref);
    const error = await provider.resume?.(gone, { lifetimeMs: 60_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'NOT_FOUND', message: `E2B no longer has the paused sandbox ${gone.ref}` });
    await expect(provider.pause?.(gone)).rejects.toMatchObject({ code: 'NOT_FOUND' });

    const kept = await provider.start(makeSpec());
    await provider.pause?.(kept);
    await provider.stop(kept, 'deleted');
    expect(emulator.sandbox(kept.ref)?.killed).toBe('api');
  });

  it('lists only its own installation, across pages', async () => {
    const mine = make({ installation: 'mine' });
    const theirs = make({ installation: 'theirs' });
    const handles = [];
    for (let i = 0; i < 3; i++) handles.push(await mine.start(makeSpec()));
    await theirs.start(makeSpec());
    const listed = await mine.list();
    expect(listed.map((h) => h.ref).sort()).toEqual(handles.map((h) => h.ref).sort());
    expect(listed).toEqual(expect.arrayContaining(handles));
  });
});

interface CreateBody {
  templateID: string;
  timeout: number;
  envVars: Record<string, string>;
  metadata: Record<string, string>;
}

function createBody(emulator: E2bEmulator, index = 0): CreateBody {
  const body = emulator.requestsOf('createSandbox')[index]?.body;
  if (!body) throw new Error('no createSandbox request');
  return body as CreateBody;
}
