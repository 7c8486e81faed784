import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AppError } from '@rclaude/protocol';
import { type EcsEmulator, readStandInMarker, standInCommand, startEcsEmulator, waitUntil } from '@rclaude/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeProviderContract } from '../../test/provider-contract.js';
import { createEcsProvider, type EcsProviderOptions, type EcsStartProgress, type ProviderClock } from './ecs.js';
import type { Provider, SandboxSpec } from './types.js';

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

function emulatorOptions(commandFor: () => string[] = standInCommand) {
  return {
    commandFor,
    clusters: ['rclaude'],
    subnets: ['subnet-a', 'subnet-b'],
    securityGroups: ['sg-a'],
    taskDefinitions: { 'rclaude-sandbox': { containerName: 'agent', cpu: '2048', memory: '4096' } },
    statusDelayMs: 10,
    stopTimeoutMs: 1000,
  };
}

function providerOptions(emulator: EcsEmulator, extra: Partial<EcsProviderOptions> = {}): EcsProviderOptions {
  return {
    cluster: 'rclaude',
    taskDefinition: 'rclaude-sandbox',
    containerName: 'agent',
    subnets: ['subnet-a'],
    securityGroups: ['sg-a'],
    region: emulator.region,
    endpoint: emulator.url,
    credentials,
    maxAttempts: 3,
    pollIntervalMs: 10,
    maxPollIntervalMs: 40,
    installation: 'test',
    ...extra,
  };
}

function specFactory(dir: string) {
  return (extraEnv: Record<string, string> = {}): SandboxSpec => {
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
      maxLifetimeMs: 3_600_000,
    };
  };
}

describeProviderContract('ecs (testkit emulator)', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ecs-contract-'));
  const emulator = await startEcsEmulator(emulatorOptions());
  const provider = createEcsProvider(providerOptions(emulator));
  return {
    provider,
    makeSpec: specFactory(dir),
    started: async (spec) => (await readStandInMarker(spec.env.RCLAUDE_TEST_MARKER ?? '')).env,
    exitWith: (code) => ({ RCLAUDE_TEST_EXIT_CODE: String(code), RCLAUDE_TEST_EXIT_AFTER_MS: '300' }),
    killExternally: async (handle) => {
      emulator.interrupt(handle.ref);
      await emulator.waitStopped(handle.ref);
    },
    unknownHandle: () => ({
      sandboxId: 'nobody',
      provider: 'ecs',
      ref: 'arn:aws:ecs:us-east-1:000000000000:task/rclaude/00000000000000000000000000000000',
    }),
    close: async () => {
      await emulator.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('ECS provider against the emulator', () => {
  let emulator: EcsEmulator;
  let dir: string;
  let makeSpec: ReturnType<typeof specFactory>;
  let failContainer = false;
  const providers: Provider[] = [];
  const make = (extra: Partial<EcsProviderOptions> = {}) => {
    const provider = createEcsProvider(providerOptions(emulator, extra));
    providers.push(provider);
    return provider;
  };
  const startError = async (provider: Provider, spec: SandboxSpec, signal?: AbortSignal): Promise<AppError> => {
    const error = await provider.start(spec, signal).then(
      () => new Error('start succeeded'),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  };

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ecs-provider-'));
    makeSpec = specFactory(dir);
    failContainer = false;
    emulator = await startEcsEmulator(
      emulatorOptions(() => {
        if (failContainer) throw new Error('exec format error');
        return standInCommand();
      }),
    );
  });

  afterEach(async () => {
    await Promise.all(providers.splice(0).map((p) => p.close()));
    await emulator.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs the task with the agent env as overrides, tags and startedBy, through every status to RUNNING', async () => {
    const progress: EcsStartProgress[] = [];
    const provider = make({ onProgress: (p) => progress.push(p), assignPublicIp: false });
    const spec = makeSpec();
    const handle = await provider.start(spec);
    expect(handle).toEqual({
      sandboxId: spec.sandboxId,
      provider: 'ecs',
      ref: expect.stringMatching(/^arn:aws:ecs:.*:task\/rclaude\//),
    });

    const run = emulator.requestsOf('RunTask')[0]?.body as Record<string, unknown>;
    expect(run).toMatchObject({
      cluster: 'rclaude',
      taskDefinition: 'rclaude-sandbox',
      count: 1,
      launchType: 'FARGATE',
      startedBy: 'rclaude-test',
      networkConfiguration: {
        awsvpcConfiguration: { subnets: ['subnet-a'], securityGroups: ['sg-a'], assignPublicIp: 'DISABLED' },
      },
    });
    expect(run.tags).toEqual(
      expect.arrayContaining([
        { key: 'rclaude:sandbox-id', value: spec.sandboxId },
        { key: 'rclaude:task-id', value: 'task1' },
        { key: 'rclaude:owner', value: 'alice' },
        { key: 'rclaude:installation', value: 'test' },
      ]),
    );
    const override = (run.overrides as { containerOverrides: { name: string; environment: unknown[] }[] })
      .containerOverrides[0];
    expect(override?.name).toBe('agent');
    // The start-up token is only a one-time bootstrap reference in the overrides; never an agent token.
    expect(override?.environment).toContainEqual({
      name: 'RCLAUDE_AGENT_BOOTSTRAP',
      value: spec.env.RCLAUDE_AGENT_TOKEN,
    });
    expect(override?.environment).not.toContainEqual(expect.objectContaining({ name: 'RCLAUDE_AGENT_TOKEN' }));

    const statuses = progress.map((p) => p.status);
    expect(statuses[0]).toBe('PROVISIONING');
    expect(statuses.at(-1)).toBe('RUNNING');
    expect(progress.every((p) => p.capacity === 'FARGATE' && p.taskArn === handle.ref)).toBe(true);
    const marker = await readStandInMarker(spec.env.RCLAUDE_TEST_MARKER ?? '');
    expect(marker.env.RCLAUDE_SANDBOX_ID).toBe(spec.sandboxId);
  });

  it('records UserInitiated and exit code 143 after stop, and is idempotent', async () => {
    const provider = make();
    const handle = await provider.start(makeSpec());
    await provider.stop(handle, 'task finished');
    const stopped = await emulator.waitStopped(handle.ref);
    expect(stopped.stoppedReason).toBe('rclaude: task finished');
    const status = await provider.inspect(handle);
    expect(status.state).toBe('stopped');
    expect(status.exitCode).toBe(143);
    expect(status.reason).toContain('UserInitiated: rclaude: task finished');
    await provider.stop(handle, 'again');
  });

  it('falls back from FARGATE_SPOT to FARGATE when Spot has no capacity', async () => {
    emulator.fail({
      kind: 'runTaskFailure',
      reason: 'Capacity is unavailable at this time.',
      capacityProvider: 'FARGATE_SPOT',
    });
    const provider = make({ capacity: 'spot' });
    const handle = await provider.start(makeSpec());
    const runs = emulator.requestsOf('RunTask').map((r) => r.body as Record<string, unknown>);
    expect(runs).toHaveLength(2);
    expect(runs[0]?.capacityProviderStrategy).toEqual([{ capacityProvider: 'FARGATE_SPOT', weight: 1 }]);
    expect(runs[0]?.launchType).toBeUndefined();
    expect(runs[1]?.launchType).toBe('FARGATE');
    expect(emulator.task(handle.ref)?.capacityProviderName).toBe('FARGATE');
  });

  it('uses Spot when it has capacity', async () => {
    const provider = make({ capacity: 'spot' });
    const handle = await provider.start(makeSpec());
    expect(emulator.task(handle.ref)?.capacityProviderName).toBe('FARGATE_SPOT');
    expect(emulator.requestsOf('RunTask')).toHaveLength(1);
  });

  it('retries on FARGATE when the Spot task is reclaimed before it runs', async () => {
    emulator.fail({ kind: 'stuck' });
    const provider = make({
      capacity: 'spot',
      onProgress: (p) => {
        if (p.capacity === 'FARGATE_SPOT' && p.status === 'PROVISIONING') emulator.interrupt(p.taskArn);
      },
    });
    const handle = await provider.start(makeSpec());
    expect(emulator.task(handle.ref)?.capacityProviderName).toBe('FARGATE');
    expect(emulator.tasks().filter((t) => t.stopCode === 'SpotInterruption')).toHaveLength(1);
  });

  // Regression: a Spot task interrupted after it ran but before a poll saw RUNNING was retried on FARGATE;
  // the second task's agent presented a token the first one had already spent, and was refused.
  it('does not retry a Spot task that ran before it was interrupted', async () => {
    let spotArn = '';
    let interrupted = false;
    const provider = make({
      capacity: 'spot',
      onProgress: (p) => {
        if (p.capacity === 'FARGATE_SPOT') spotArn = p.taskArn;
      },
      clock: {
        now: () => Date.now(),
        // The first poll comes only after the Spot task has run and been interrupted.
        sleep: async () => {
          if (interrupted) return;
          interrupted = true;
          await waitUntil('the Spot task to run', () =>
            emulator.task(spotArn)?.lastStatus === 'RUNNING' ? true : undefined,
          );
          emulator.interrupt(spotArn);
          await emulator.waitStopped(spotArn);
        },
      },
    });
    const error = await startError(provider, makeSpec());
    expect(error.code).toBe('SANDBOX_START_FAILED');
    expect(error.message).toMatch(/^the ECS task stopped right after it started: SpotInterruption/);
    expect(emulator.requestsOf('RunTask')).toHaveLength(1);
  });

  it('says PROVIDER_UNAVAILABLE when neither Spot nor on-demand has capacity', async () => {
    emulator.fail({ kind: 'runTaskFailure', reason: 'RESOURCE:FARGATE', times: 2 });
    const error = await startError(make({ capacity: 'spot' }), makeSpec());
    expect(error.code).toBe('PROVIDER_UNAVAILABLE');
    expect(error.message).toContain('no Fargate capacity');
    expect(emulator.tasks()).toHaveLength(0);
  });

  it('rides out 5xx answers through the SDK retries, and gives up after maxAttempts', async () => {
    emulator.fail({ kind: 'error', operation: 'RunTask', status: 503, type: 'ServiceUnavailableException', times: 2 });
    await make().start(makeSpec());
    expect(emulator.requestsOf('RunTask').map((r) => r.status)).toEqual([503, 503, 200]);

    emulator.fail({ kind: 'error', operation: 'RunTask', status: 500, type: 'ServerException', times: 3 });
    const error = await startError(make(), makeSpec());
    expect(error.code).toBe('PROVIDER_UNAVAILABLE');
    expect(error.message).toContain('ECS is unavailable');
    expect(
      emulator
        .requestsOf('RunTask')
        .slice(3)
        .map((r) => r.status),
    ).toEqual([500, 500, 500]);
  });

  it('does not retry a 4xx and says what was refused', async () => {
    emulator.fail({
      kind: 'error',
      operation: 'RunTask',
      status: 400,
      type: 'ClientException',
      message: 'TaskDefinition is inactive',
    });
    const error = await startError(make(), makeSpec());
    expect(error.code).toBe('SANDBOX_START_FAILED');
    expect(error.message).toContain('TaskDefinition is inactive');
    expect(error.message).toContain('RCLAUDE_ECS_TASK_DEFINITION');
    expect(emulator.requestsOf('RunTask')).toHaveLength(1);
  });

  it('names the setting to fix for an unknown subnet, cluster or denied access', async () => {
    const subnet = await startError(make({ subnets: ['subnet-nope'] }), makeSpec());
    expect(subnet.code).toBe('SANDBOX_START_FAILED');
    expect(subnet.message).toContain("The subnet ID 'subnet-nope' does not exist");
    expect(subnet.message).toContain('RCLAUDE_ECS_SUBNETS');

    const cluster = await startError(make({ cluster: 'elsewhere' }), makeSpec());
    expect(cluster.message).toContain('ECS cluster "elsewhere" was not found');
    expect(cluster.message).toContain('RCLAUDE_ECS_CLUSTER');

    emulator.fail({
      kind: 'error',
      operation: 'RunTask',
      status: 400,
      type: 'AccessDeniedException',
      message: 'not authorized',
    });
    const denied = await startError(make(), makeSpec());
    expect(denied.message).toContain('iam:PassRole');
  });

  it('tolerates throttling while polling, beyond the SDK retries', async () => {
    emulator.fail({ kind: 'error', operation: 'DescribeTasks', status: 400, type: 'ThrottlingException', times: 4 });
    const handle = await make().start(makeSpec());
    expect((await make().inspect(handle)).state).toBe('running');
    expect(emulator.requestsOf('DescribeTasks').filter((r) => r.status === 400).length).toBe(4);
  });

  it('fails the start when ECS loses the task (MISSING), and stops it in case it runs on', async () => {
    const provider = make({
      onProgress: (p) => {
        if (p.status === 'PROVISIONING') emulator.fail({ kind: 'missing', taskArn: p.taskArn });
      },
    });
    const error = await startError(provider, makeSpec());
    expect(error.code).toBe('SANDBOX_START_FAILED');
    expect(error.message).toContain('lost track');
    const task = emulator.tasks()[0];
    const stopped = await emulator.waitStopped(task?.taskArn ?? '');
    expect(stopped.stoppedReason).toBe('rclaude: lost track of the task while starting');
  });

  it('fails the start with the container reason when the container cannot start', async () => {
    failContainer = true;
    const error = await startError(make(), makeSpec());
    expect(error.code).toBe('SANDBOX_START_FAILED');
    expect(error.message).toContain('TaskFailedToStart');
    expect(error.message).toContain('exec format error');
  });

  it('times out a task stuck in PROVISIONING with back-off polls, and stops it', async () => {
    emulator.fail({ kind: 'stuck' });
    const slept: number[] = [];
    let virtual = 0;
    const clock: ProviderClock = {
      now: () => virtual,
      sleep: async (ms) => {
        slept.push(ms);
        virtual += ms;
        await new Promise((resolve) => setImmediate(resolve));
      },
    };
    const provider = make({ clock, pollIntervalMs: 1000, maxPollIntervalMs: 5000, startTimeoutMs: 120_000 });
    const error = await startError(provider, makeSpec());
    expect(error.code).toBe('SANDBOX_START_FAILED');
    expect(error.message).toContain('did not reach RUNNING within 120s (last status PROVISIONING)');
    // 1 s, growing 1.5x per poll up to 5 s; the last sleep is cut to the deadline.
    const schedule = slept.slice(0, -1).map((_, i) => Math.min(1000 * 1.5 ** i, 5000));
    expect(slept.slice(0, -1)).toEqual(schedule);
    expect(slept.reduce((a, b) => a + b, 0)).toBe(120_000);
    const task = emulator.tasks()[0];
    expect(emulator.requestsOf('StopTask')).toHaveLength(1);
    await emulator.waitStopped(task?.taskArn ?? '');
  });

  it('stops the task when the caller aborts while it starts', async () => {
    emulator.fail({ kind: 'stuck' });
    const controller = new AbortController();
    const provider = make({
      onProgress: (p) => {
        if (p.status === 'PROVISIONING') setTimeout(() => controller.abort(new Error('user pressed ^C')), 30);
      },
    });
    const error = await startError(provider, makeSpec(), controller.signal);
    expect(error.message).toContain('cancelled');
    const task = emulator.tasks()[0];
    await emulator.waitStopped(task?.taskArn ?? '');
    expect(task?.stoppedReason).toBe('rclaude: start cancelled');
  });

  it('refuses an environment too large for ECS overrides before calling ECS', async () => {
    const error = await startError(make(), makeSpec({ HUGE: 'x'.repeat(9000) }));
    expect(error.code).toBe('SANDBOX_START_FAILED');
    expect(error.message).toContain('too large for ECS');
    expect(emulator.requestsOf('RunTask')).toHaveLength(0);
  });

  it('lists only the tasks of its own installation', async () => {
    const mine = make({ installation: 'mine' });
    const theirs = make({ installation: 'theirs' });
    const a = await mine.start(makeSpec());
    const b = await theirs.start(makeSpec());
    expect(await mine.list()).toEqual([a]);
    expect(await theirs.list()).toEqual([b]);
  });

  it('checks its configuration up front', () => {
    expect(() => make({ subnets: [] })).toThrow(/RCLAUDE_ECS_SUBNETS/);
    expect(() => make({ installation: 'has space' })).toThrow(AppError);
    expect(() => createEcsProvider({ ...providerOptions(emulator), region: undefined })).toThrow(/AWS_REGION/);
  });

  it('names every missing setting at once when it is not configured', () => {
    const error = (() => {
      try {
        createEcsProvider({ cluster: '', taskDefinition: '', containerName: 'agent', subnets: [], securityGroups: [] });
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('PROVIDER_UNAVAILABLE');
    expect((error as AppError).message).toBe(
      'the ECS provider is not configured: set RCLAUDE_ECS_CLUSTER, RCLAUDE_ECS_TASK_DEFINITION, RCLAUDE_ECS_SUBNETS, AWS_REGION (see docs/deploy-aws.md)',
    );
  });
});
