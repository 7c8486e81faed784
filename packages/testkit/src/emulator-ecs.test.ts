import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  ClientException,
  ClusterNotFoundException,
  DescribeTasksCommand,
  ECSClient,
  InvalidParameterException,
  ListTasksCommand,
  RunTaskCommand,
  type RunTaskCommandInput,
  StopTaskCommand,
  type Task,
} from '@aws-sdk/client-ecs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type EcsCommandContext, type EcsEmulator, startEcsEmulator } from './ecs-emulator.js';
import { readStandInMarker, standInCommand, waitUntil } from './emulator-standin.js';

let emulator: EcsEmulator;
let client: ECSClient;
let dir: string;
const seen: EcsCommandContext[] = [];

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ecs-emu-test-'));
  seen.length = 0;
  emulator = await startEcsEmulator({
    commandFor: (ctx) => {
      seen.push(ctx);
      return standInCommand();
    },
    clusters: ['rclaude'],
    subnets: ['subnet-aaa', 'subnet-bbb'],
    securityGroups: ['sg-111'],
    taskDefinitions: { 'rclaude-sandbox': { containerName: 'agent', cpu: '1024', memory: '4096' } },
    statusDelayMs: 10,
  });
  client = new ECSClient({
    endpoint: emulator.url,
    region: emulator.region,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 3,
  });
});

afterEach(async () => {
  client.destroy();
  await emulator.close();
  await rm(dir, { recursive: true, force: true });
});

function runInput(env: Record<string, string>, extra: Partial<RunTaskCommandInput> = {}): RunTaskCommandInput {
  return {
    cluster: 'rclaude',
    taskDefinition: 'rclaude-sandbox',
    launchType: 'FARGATE',
    networkConfiguration: {
      awsvpcConfiguration: { subnets: ['subnet-aaa'], securityGroups: ['sg-111'], assignPublicIp: 'DISABLED' },
    },
    overrides: {
      containerOverrides: [
        { name: 'agent', environment: Object.entries(env).map(([name, value]) => ({ name, value })) },
      ],
    },
    startedBy: 'rclaude-test',
    tags: [{ key: 'rclaude:sandbox-id', value: 'sbx1' }],
    ...extra,
  };
}

async function describeOne(taskArn: string): Promise<Task> {
  const out = await client.send(new DescribeTasksCommand({ cluster: 'rclaude', tasks: [taskArn], include: ['TAGS'] }));
  const task = out.tasks?.[0];
  if (!task) throw new Error(`no task in ${JSON.stringify(out)}`);
  return task;
}

describe('ECS emulator with the real SDK', () => {
  it('runs a task as a local process with the override env, through every status to RUNNING, and stops it', async () => {
    const marker = path.join(dir, 'marker.json');
    const run = await client.send(
      new RunTaskCommand(runInput({ RCLAUDE_TEST_MARKER: marker, RCLAUDE_SANDBOX_ID: 'sbx1' })),
    );
    expect(run.failures).toEqual([]);
    const taskArn = run.tasks?.[0]?.taskArn ?? '';
    expect(taskArn).toMatch(/^arn:aws:ecs:us-east-1:000000000000:task\/rclaude\/[0-9a-f]{32}$/);
    expect(run.tasks?.[0]?.lastStatus).toBe('PROVISIONING');

    const statuses = new Set<string>();
    const running = await waitUntil('RUNNING', async () => {
      const task = await describeOne(taskArn);
      statuses.add(task.lastStatus ?? '');
      return task.lastStatus === 'RUNNING' ? task : undefined;
    });
    expect(running.startedAt).toBeInstanceOf(Date);
    expect(running.createdAt).toBeInstanceOf(Date);
    expect(running.tags).toEqual([{ key: 'rclaude:sandbox-id', value: 'sbx1' }]);
    expect(running.capacityProviderName).toBe('FARGATE');

    const info = await readStandInMarker(marker);
    expect(info.env.RCLAUDE_SANDBOX_ID).toBe('sbx1');
    expect(info.cwd).toBe(seen[0]?.fs.workspace);
    expect(info.env.HOME).toBe(seen[0]?.fs.home);
    expect(seen[0]?.containerName).toBe('agent');
    expect(seen[0]?.command).toBeNull();

    await client.send(new StopTaskCommand({ cluster: 'rclaude', task: taskArn, reason: 'done here' }));
    const stopped = await waitUntil('STOPPED', async () => {
      const task = await describeOne(taskArn);
      statuses.add(task.lastStatus ?? '');
      return task.lastStatus === 'STOPPED' ? task : undefined;
    });
    expect(stopped.stopCode).toBe('UserInitiated');
    expect(stopped.stoppedReason).toBe('done here');
    expect(stopped.desiredStatus).toBe('STOPPED');
    expect(stopped.containers?.[0]?.exitCode).toBe(143);
    expect(stopped.stoppedAt).toBeInstanceOf(Date);
    expect(statuses.has('RUNNING')).toBe(true);
    expect(() => process.kill(info.pid, 0)).toThrow();
  });

  it('a container that exits by itself stops the task with EssentialContainerExited and its exit code', async () => {
    const marker = path.join(dir, 'exit.json');
    const run = await client.send(
      new RunTaskCommand(runInput({ RCLAUDE_TEST_MARKER: marker, RCLAUDE_TEST_EXIT_CODE: '3' })),
    );
    const task = await emulator.waitStopped(run.tasks?.[0]?.taskArn ?? '');
    expect(task.stopCode).toBe('EssentialContainerExited');
    const described = await describeOne(task.taskArn);
    expect(described.containers?.[0]?.exitCode).toBe(3);
    expect(described.stoppedReason).toBe('Essential container in task exited');
  });

  it('uses the override command and hands it to commandFor', async () => {
    await client.send(
      new RunTaskCommand(
        runInput({}, { overrides: { containerOverrides: [{ name: 'agent', command: ['rclaude-agent', '--x'] }] } }),
      ),
    );
    await waitUntil('commandFor', () => seen[0]);
    expect(seen[0]?.command).toEqual(['rclaude-agent', '--x']);
  });

  it('reports an unknown task as a MISSING failure, not an error', async () => {
    const arn = 'arn:aws:ecs:us-east-1:000000000000:task/rclaude/0123456789abcdef0123456789abcdef';
    const out = await client.send(new DescribeTasksCommand({ cluster: 'rclaude', tasks: [arn] }));
    expect(out.tasks).toEqual([]);
    expect(out.failures).toEqual([{ arn, reason: 'MISSING' }]);
  });

  it('forgets a task on request (MISSING) and refuses to stop an unknown one', async () => {
    const run = await client.send(new RunTaskCommand(runInput({})));
    const taskArn = run.tasks?.[0]?.taskArn ?? '';
    emulator.fail({ kind: 'missing', taskArn });
    const out = await client.send(new DescribeTasksCommand({ cluster: 'rclaude', tasks: [taskArn] }));
    expect(out.failures?.[0]?.reason).toBe('MISSING');
    await expect(
      client.send(
        new StopTaskCommand({ cluster: 'rclaude', task: 'arn:aws:ecs:us-east-1:000000000000:task/rclaude/ffff' }),
      ),
    ).rejects.toBeInstanceOf(InvalidParameterException);
  });

  it('loses the task of the next RunTask when asked without an ARN, and only that one', async () => {
    emulator.fail({ kind: 'missing' });
    const lost = (await client.send(new RunTaskCommand(runInput({})))).tasks?.[0]?.taskArn ?? '';
    const kept = (await client.send(new RunTaskCommand(runInput({})))).tasks?.[0]?.taskArn ?? '';
    const out = await client.send(new DescribeTasksCommand({ cluster: 'rclaude', tasks: [lost, kept] }));
    expect(out.failures).toEqual([{ arn: lost, reason: 'MISSING' }]);
    expect(out.tasks?.map((t) => t.taskArn)).toEqual([kept]);
    // Lost track of is not gone: StopTask still reaches it.
    await client.send(new StopTaskCommand({ cluster: 'rclaude', task: lost }));
    expect((await emulator.waitStopped(lost)).stopCode).toBe('UserInitiated');
  });

  it('forgets a task entirely: its process dies and no call knows its ARN', async () => {
    const marker = path.join(dir, 'forget.json');
    const run = await client.send(new RunTaskCommand(runInput({ RCLAUDE_TEST_MARKER: marker })));
    const taskArn = run.tasks?.[0]?.taskArn ?? '';
    const { pid } = await readStandInMarker(marker);
    await emulator.forget(taskArn);
    expect(() => process.kill(pid, 0)).toThrow();
    const out = await client.send(new DescribeTasksCommand({ cluster: 'rclaude', tasks: [taskArn] }));
    expect(out.failures).toEqual([{ arn: taskArn, reason: 'MISSING' }]);
    const listed = await client.send(new ListTasksCommand({ cluster: 'rclaude', startedBy: 'rclaude-test' }));
    expect(listed.taskArns).toEqual([]);
    await expect(client.send(new StopTaskCommand({ cluster: 'rclaude', task: taskArn }))).rejects.toBeInstanceOf(
      InvalidParameterException,
    );
  });

  it('holds an injected failure for delayMs before answering it', async () => {
    emulator.fail({ kind: 'runTaskFailure', reason: 'RESOURCE:CPU', delayMs: 300 });
    emulator.fail({ kind: 'error', operation: 'DescribeTasks', status: 400, type: 'ClientException', delayMs: 300 });
    let t0 = performance.now();
    const run = await client.send(new RunTaskCommand(runInput({})));
    expect(run.failures).toEqual([{ reason: 'RESOURCE:CPU' }]);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    t0 = performance.now();
    await expect(client.send(new DescribeTasksCommand({ cluster: 'rclaude', tasks: ['x'] }))).rejects.toBeInstanceOf(
      ClientException,
    );
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
  });

  it('injected 503s are retried by the SDK until success', async () => {
    emulator.fail({ kind: 'error', operation: 'RunTask', status: 503, type: 'ServerException', times: 2 });
    const run = await client.send(new RunTaskCommand(runInput({})));
    expect(run.tasks).toHaveLength(1);
    expect(emulator.requestsOf('RunTask').map((r) => r.status)).toEqual([503, 503, 200]);
  });

  it('an injected ClientException is a typed 4xx the SDK does not retry', async () => {
    emulator.fail({ kind: 'error', operation: 'RunTask', status: 400, type: 'ClientException', message: 'nope' });
    const error = await client.send(new RunTaskCommand(runInput({}))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClientException);
    expect((error as ClientException).message).toBe('nope');
    expect(emulator.requestsOf('RunTask')).toHaveLength(1);
  });

  it('answers a capacity failure for FARGATE_SPOT and places the task on FARGATE', async () => {
    emulator.fail({
      kind: 'runTaskFailure',
      reason: 'Capacity is unavailable at this time.',
      capacityProvider: 'FARGATE_SPOT',
    });
    const spot = await client.send(
      new RunTaskCommand(
        runInput(
          {},
          { launchType: undefined, capacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }] },
        ),
      ),
    );
    expect(spot.tasks).toEqual([]);
    expect(spot.failures).toEqual([{ reason: 'Capacity is unavailable at this time.' }]);
    const onDemand = await client.send(new RunTaskCommand(runInput({})));
    expect(onDemand.tasks?.[0]?.capacityProviderName).toBe('FARGATE');
  });

  it('validates cluster, subnets and security groups like ECS', async () => {
    await expect(client.send(new RunTaskCommand(runInput({}, { cluster: 'other' })))).rejects.toBeInstanceOf(
      ClusterNotFoundException,
    );
    const badSubnet = await client
      .send(
        new RunTaskCommand(
          runInput(
            {},
            { networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-zzz'], securityGroups: ['sg-111'] } } },
          ),
        ),
      )
      .catch((e: unknown) => e);
    expect(badSubnet).toBeInstanceOf(InvalidParameterException);
    expect((badSubnet as Error).message).toContain("The subnet ID 'subnet-zzz' does not exist");
    const big = { BIG: 'x'.repeat(9000) };
    await expect(client.send(new RunTaskCommand(runInput(big)))).rejects.toBeInstanceOf(InvalidParameterException);
  });

  it('lists running tasks by startedBy, paged, and stops listing them once stopped', async () => {
    const arns: string[] = [];
    for (let i = 0; i < 3; i++) {
      const run = await client.send(new RunTaskCommand(runInput({})));
      arns.push(run.tasks?.[0]?.taskArn ?? '');
    }
    await client.send(new RunTaskCommand(runInput({}, { startedBy: 'someone-else' })));
    const listed: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await client.send(
        new ListTasksCommand({ cluster: 'rclaude', startedBy: 'rclaude-test', maxResults: 2, nextToken }),
      );
      listed.push(...(page.taskArns ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
    expect(listed.sort()).toEqual([...arns].sort());
    await client.send(new StopTaskCommand({ cluster: 'rclaude', task: arns[0] }));
    const after = await client.send(new ListTasksCommand({ cluster: 'rclaude', startedBy: 'rclaude-test' }));
    expect(after.taskArns).toHaveLength(2);
  });

  it('interrupts a running task on its own (Spot interruption)', async () => {
    const marker = path.join(dir, 'spot.json');
    const run = await client.send(new RunTaskCommand(runInput({ RCLAUDE_TEST_MARKER: marker })));
    const taskArn = run.tasks?.[0]?.taskArn ?? '';
    await readStandInMarker(marker);
    emulator.interrupt(taskArn);
    await emulator.waitStopped(taskArn);
    const task = await describeOne(taskArn);
    expect(task.stopCode).toBe('SpotInterruption');
    expect(task.containers?.[0]?.exitCode).toBe(143);
  });

  it('keeps a stuck task in PROVISIONING until stopped', async () => {
    emulator.fail({ kind: 'stuck' });
    const run = await client.send(new RunTaskCommand(runInput({})));
    const taskArn = run.tasks?.[0]?.taskArn ?? '';
    // Several poll rounds, each a full status delay apart: still provisioning, nothing spawned.
    for (let i = 0; i < 5; i++) {
      expect((await describeOne(taskArn)).lastStatus).toBe('PROVISIONING');
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(seen).toHaveLength(0);
    await client.send(new StopTaskCommand({ cluster: 'rclaude', task: taskArn }));
    await emulator.waitStopped(taskArn);
    expect((await describeOne(taskArn)).containers?.[0]?.exitCode).toBeUndefined();
  });
});
