/**
 * An AWS ECS (Fargate) control-plane emulator for tests: the real `@aws-sdk/client-ecs` talks to it
 * (`endpoint: emulator.url`, any static credentials), and every task it runs is a real local child
 * process, so the real agent started by a provider dials the real proxy.
 *
 * Wire: awsJson1_1 (`POST /`, `x-amz-target: AmazonEC2ContainerServiceV20141113.<Operation>`), timestamps
 * as epoch seconds, errors as `{__type, message}`. Supported: RunTask, DescribeTasks, StopTask, ListTasks.
 */
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import {
  type EmulatorRequest,
  FailureQueue,
  listenLoopback,
  parseLogged,
  readBody,
  sendJson,
} from './emulator-http.js';
import {
  baseSandboxEnv,
  type CommandMapping,
  createSandboxFs,
  EmulatedProcess,
  type SandboxFs,
  toEmulatedCommand,
} from './emulator-process.js';

export type { EmulatorRequest } from './emulator-http.js';
export type { CommandMapping, EmulatedCommand, EmulatedProcess, ProcessExit, SandboxFs } from './emulator-process.js';
export { readStandInMarker, type StandInMarker, standInCommand, waitUntil } from './emulator-standin.js';

export type EcsOperation = 'RunTask' | 'DescribeTasks' | 'StopTask' | 'ListTasks';

/** ECS task lifecycle, in order. A task may skip states on the way down (e.g. stopped before RUNNING). */
export const ecsTaskStatuses = [
  'PROVISIONING',
  'PENDING',
  'ACTIVATING',
  'RUNNING',
  'DEACTIVATING',
  'STOPPING',
  'DEPROVISIONING',
  'STOPPED',
] as const;
export type EcsTaskStatus = (typeof ecsTaskStatuses)[number];

/** What `commandFor` is told about the task being started. */
export interface EcsCommandContext {
  taskArn: string;
  cluster: string;
  taskDefinition: string;
  containerName: string;
  /** The override command, else the task definition's command, else null (the image entrypoint). */
  command: string[] | null;
  /** `containerOverrides[].environment` as the provider sent it. */
  env: Record<string, string>;
  startedBy: string | null;
  tags: Record<string, string>;
  /** The task's filesystem (`/workspace`, `/home/rclaude` mapped to a temp dir). */
  fs: SandboxFs;
}

/** A task definition the emulator knows. */
export interface EcsTaskDefinitionInfo {
  containerName: string;
  command?: string[];
  cpu?: string;
  memory?: string;
}

export interface EcsEmulatorOptions {
  /** Maps the task to the local command that plays its essential container. Throwing = the container fails to start. */
  commandFor(ctx: EcsCommandContext): CommandMapping;
  region?: string;
  accountId?: string;
  /** Known cluster names; others get ClusterNotFoundException. Default: any name exists. */
  clusters?: string[];
  /** Known task definitions by family, `family:revision` or ARN. Default: any, with one container `sandbox`. */
  taskDefinitions?: Record<string, EcsTaskDefinitionInfo>;
  /** Known subnet ids; others get InvalidParameterException like real ECS. Default: any. */
  subnets?: string[];
  /** Known security group ids. Default: any. */
  securityGroups?: string[];
  /** Time spent in each intermediate lifecycle status, ms. Default 25. */
  statusDelayMs?: number;
  /** Grace between SIGTERM and SIGKILL on StopTask, ms (Fargate's stopTimeout is 30 s). Default 2000. */
  stopTimeoutMs?: number;
}

/**
 * Faults to inject. Each is consumed by the first matching call(s); `times` defaults to 1. `delayMs` holds the
 * faulty answer that long (real RunTask answers take about a second).
 */
export type EcsFailure =
  /** The next call (of `operation`, or any) answers HTTP `status` with error `type` (e.g. ServerException, ThrottlingException). */
  | {
      kind: 'error';
      operation?: EcsOperation;
      status: number;
      type: string;
      message?: string;
      times?: number;
      delayMs?: number;
    }
  /** The next RunTask (using `capacityProvider`, if given) places nothing and answers `failures: [{reason}]`. */
  | {
      kind: 'runTaskFailure';
      reason: string;
      detail?: string;
      capacityProvider?: string;
      times?: number;
      delayMs?: number;
    }
  /** The next RunTask's task never leaves PROVISIONING (e.g. no capacity, image never pulled). */
  | { kind: 'stuck'; times?: number }
  /**
   * From now on DescribeTasks reports this task as MISSING (ECS lost track of it; its process runs on).
   * Without `taskArn`: the task of the next RunTask that places one.
   */
  | { kind: 'missing'; taskArn?: string; times?: number };

/** A task as the emulator holds it. */
export interface EmulatedEcsTask {
  taskArn: string;
  cluster: string;
  lastStatus: EcsTaskStatus;
  desiredStatus: 'RUNNING' | 'STOPPED';
  capacityProviderName: string;
  env: Record<string, string>;
  tags: Record<string, string>;
  startedBy: string | null;
  stopCode: string | null;
  stoppedReason: string | null;
  exitCode: number | null;
  process: EmulatedProcess | null;
  fs: SandboxFs;
}

export interface EcsEmulator {
  /** The endpoint to give the SDK (`endpoint`) or `AWS_ENDPOINT_URL_ECS`. */
  url: string;
  region: string;
  /** Every request received, in order. */
  requests: EmulatorRequest[];
  /** Requests of one operation. */
  requestsOf(operation: EcsOperation): EmulatorRequest[];
  tasks(): EmulatedEcsTask[];
  task(taskArn: string): EmulatedEcsTask | undefined;
  fail(failure: EcsFailure): void;
  /**
   * ECS no longer knows the task at all (stopped long ago, or lost with its host): its process is killed
   * and every call treats its ARN as unknown (DescribeTasks MISSING, StopTask refused, not listed).
   */
  forget(taskArn: string): Promise<void>;
  /** Stops a task the way ECS does on its own (Spot interruption by default): the provider did not ask. */
  interrupt(taskArn: string, stopCode?: string, reason?: string): void;
  /** Resolves when the task is STOPPED. */
  waitStopped(taskArn: string): Promise<EmulatedEcsTask>;
  /** Kills every task's process group, removes their directories, closes the server. */
  close(): Promise<void>;
}

interface TaskRecord extends EmulatedEcsTask {
  id: string;
  clusterArn: string;
  taskDefinitionArn: string;
  containerName: string;
  containerArn: string;
  containerReason: string | null;
  cpu: string;
  memory: string;
  launchType: string | null;
  subnet: string | null;
  overrides: unknown;
  createdAt: number;
  pullStartedAt: number | null;
  pullStoppedAt: number | null;
  startedAt: number | null;
  stoppingAt: number | null;
  executionStoppedAt: number | null;
  stoppedAt: number | null;
  forgotten: boolean;
  stuck: boolean;
  stopped: Promise<void>;
  markStopped: () => void;
}

class EcsApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

const TARGET_PREFIX = 'AmazonEC2ContainerServiceV20141113.';
const MAX_OVERRIDE_CHARS = 8192;

// A function, not an inline comparison: TypeScript would keep the narrowing across awaits.
const stopRequested = (task: EmulatedEcsTask): boolean => task.desiredStatus === 'STOPPED';
const epochSeconds = (ms: number): number => Math.round(ms) / 1000;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}
function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
function asStringArray(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

export async function startEcsEmulator(options: EcsEmulatorOptions): Promise<EcsEmulator> {
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? '000000000000';
  const statusDelayMs = options.statusDelayMs ?? 25;
  const stopTimeoutMs = options.stopTimeoutMs ?? 2000;
  const requests: EmulatorRequest[] = [];
  const failures = new FailureQueue<EcsFailure>();
  const tasks = new Map<string, TaskRecord>();
  const idempotency = new Map<string, unknown>();
  const missing = new Set<string>();
  let closed = false;

  const clusterName = (value: unknown): string => {
    const given = asString(value) ?? 'default';
    const name = given.startsWith('arn:') ? (given.split('/').pop() ?? given) : given;
    if (options.clusters && !options.clusters.includes(name)) {
      throw new EcsApiError(400, 'ClusterNotFoundException', 'Cluster not found.');
    }
    return name;
  };
  const clusterArn = (name: string) => `arn:aws:ecs:${region}:${accountId}:cluster/${name}`;

  const resolveTaskDefinition = (given: string): { arn: string; info: EcsTaskDefinitionInfo } => {
    let info: EcsTaskDefinitionInfo | undefined;
    if (options.taskDefinitions) {
      info = options.taskDefinitions[given];
      if (!info) {
        const family = given.startsWith('arn:') ? given.split('/').pop()?.split(':')[0] : given.split(':')[0];
        info = family ? options.taskDefinitions[family] : undefined;
      }
      if (!info) throw new EcsApiError(400, 'ClientException', 'TaskDefinition not found.');
    }
    const arn = given.startsWith('arn:')
      ? given
      : `arn:aws:ecs:${region}:${accountId}:task-definition/${given.includes(':') ? given : `${given}:1`}`;
    return { arn, info: info ?? { containerName: 'sandbox' } };
  };

  const findTask = (cluster: string, ref: string): TaskRecord | undefined => {
    const id = ref.startsWith('arn:') ? ref.split('/').pop() : ref;
    const task = id ? tasks.get(id) : undefined;
    return task && task.cluster === cluster ? task : undefined;
  };

  const describe = (task: TaskRecord, includeTags: boolean): Record<string, unknown> => {
    const out: Record<string, unknown> = {
      taskArn: task.taskArn,
      clusterArn: task.clusterArn,
      taskDefinitionArn: task.taskDefinitionArn,
      lastStatus: task.lastStatus,
      desiredStatus: task.desiredStatus,
      cpu: task.cpu,
      memory: task.memory,
      capacityProviderName: task.capacityProviderName,
      platformVersion: '1.4.0',
      platformFamily: 'Linux',
      group: `family:${task.taskDefinitionArn.split('/').pop()?.split(':')[0] ?? ''}`,
      createdAt: epochSeconds(task.createdAt),
      overrides: task.overrides,
      attachments: [
        {
          id: task.id.slice(0, 8),
          type: 'ElasticNetworkInterface',
          status: task.lastStatus === 'STOPPED' ? 'DELETED' : 'ATTACHED',
          details: task.subnet ? [{ name: 'subnetId', value: task.subnet }] : [],
        },
      ],
      containers: [
        {
          containerArn: task.containerArn,
          taskArn: task.taskArn,
          name: task.containerName,
          lastStatus: task.lastStatus === 'RUNNING' ? 'RUNNING' : task.exitCode !== null ? 'STOPPED' : 'PENDING',
          ...(task.exitCode !== null ? { exitCode: task.exitCode } : {}),
          ...(task.containerReason ? { reason: task.containerReason } : {}),
          networkBindings: [],
        },
      ],
    };
    if (task.launchType) out.launchType = task.launchType;
    if (task.startedBy) out.startedBy = task.startedBy;
    if (task.stopCode) out.stopCode = task.stopCode;
    if (task.stoppedReason) out.stoppedReason = task.stoppedReason;
    for (const key of [
      'pullStartedAt',
      'pullStoppedAt',
      'startedAt',
      'stoppingAt',
      'executionStoppedAt',
      'stoppedAt',
    ] as const) {
      const value = task[key];
      if (value !== null) out[key] = epochSeconds(value);
    }
    if (includeTags) out.tags = Object.entries(task.tags).map(([key, value]) => ({ key, value }));
    return out;
  };

  /** Brings a task down through the remaining statuses; the process (if any) is stopped first. */
  const bringDown = async (task: TaskRecord, stopCode: string, reason: string, signalProcess: boolean) => {
    if (task.desiredStatus === 'STOPPED' && task.stopCode) return;
    task.desiredStatus = 'STOPPED';
    task.stopCode = stopCode;
    task.stoppedReason = reason;
    task.stoppingAt = Date.now();
    if (task.process?.running) {
      task.lastStatus = 'DEACTIVATING';
      await sleep(statusDelayMs);
      task.lastStatus = 'STOPPING';
      const exit = signalProcess ? await task.process.stop(stopTimeoutMs) : await task.process.exited;
      task.exitCode = exit.exitCode;
    } else if (task.process?.exit) {
      task.exitCode = task.process.exit.exitCode;
    }
    task.executionStoppedAt = Date.now();
    task.lastStatus = 'DEPROVISIONING';
    await sleep(statusDelayMs);
    task.lastStatus = 'STOPPED';
    task.stoppedAt = Date.now();
    task.markStopped();
  };

  /** Drives a new task up to RUNNING, unless it is stuck or stopped on the way. */
  const bringUp = async (task: TaskRecord, ctx: Omit<EcsCommandContext, 'fs'>) => {
    for (const status of ['PENDING', 'ACTIVATING'] as const) {
      await sleep(statusDelayMs);
      if (closed || stopRequested(task)) return;
      if (task.stuck) return;
      task.lastStatus = status;
      if (status === 'PENDING') task.pullStartedAt = Date.now();
    }
    task.pullStoppedAt = Date.now();
    let mapping: CommandMapping;
    try {
      mapping = options.commandFor({ ...ctx, fs: task.fs });
      task.process = new EmulatedProcess(
        toEmulatedCommand(mapping),
        { ...baseSandboxEnv(task.fs), ...task.env },
        task.fs.workspace,
      );
    } catch (error) {
      task.containerReason = `CannotStartContainerError: ${error instanceof Error ? error.message : String(error)}`;
      await bringDown(task, 'TaskFailedToStart', 'Task failed to start', false);
      return;
    }
    await sleep(statusDelayMs);
    if (stopRequested(task)) return;
    if (task.process.running) {
      task.lastStatus = 'RUNNING';
      task.startedAt = Date.now();
    }
    const exit = await task.process.exited;
    if (!stopRequested(task)) {
      if (exit.exitCode === 127 && task.process.pid < 0)
        task.containerReason = 'CannotStartContainerError: executable not found';
      await bringDown(task, 'EssentialContainerExited', 'Essential container in task exited', false);
    }
  };

  const runTask = (body: Record<string, unknown>): unknown => {
    const cluster = clusterName(body.cluster);
    const clientToken = asString(body.clientToken);
    if (clientToken && idempotency.has(clientToken)) return idempotency.get(clientToken);
    const taskDefinition = asString(body.taskDefinition);
    if (!taskDefinition) throw new EcsApiError(400, 'InvalidParameterException', 'TaskDefinition cannot be empty.');
    const { arn: taskDefinitionArn, info } = resolveTaskDefinition(taskDefinition);
    const strategy = Array.isArray(body.capacityProviderStrategy) ? body.capacityProviderStrategy.map(asRecord) : [];
    const launchType = asString(body.launchType) ?? null;
    if (launchType && strategy.length > 0) {
      throw new EcsApiError(
        400,
        'InvalidParameterException',
        'Specifying both a launch type and capacity provider strategy is not supported.',
      );
    }
    const capacityProviderName = asString(strategy[0]?.capacityProvider) ?? 'FARGATE';
    const awsvpc = asRecord(asRecord(body.networkConfiguration).awsvpcConfiguration);
    const subnets = asStringArray(awsvpc.subnets);
    const securityGroups = asStringArray(awsvpc.securityGroups);
    if (subnets.length === 0) {
      throw new EcsApiError(
        400,
        'InvalidParameterException',
        "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
      );
    }
    for (const subnet of subnets) {
      if (options.subnets && !options.subnets.includes(subnet)) {
        throw new EcsApiError(
          400,
          'InvalidParameterException',
          `Error retrieving subnet information for [${subnet}]: The subnet ID '${subnet}' does not exist (ECS Error)`,
        );
      }
    }
    for (const group of securityGroups) {
      if (options.securityGroups && !options.securityGroups.includes(group)) {
        throw new EcsApiError(
          400,
          'InvalidParameterException',
          `Error retrieving security group information for [${group}]: The security group '${group}' does not exist (ECS Error)`,
        );
      }
    }
    const count = typeof body.count === 'number' ? body.count : 1;
    if (count < 1 || count > 10)
      throw new EcsApiError(400, 'InvalidParameterException', 'count must be between 1 and 10.');
    const overrides = asRecord(body.overrides);
    if (JSON.stringify(overrides).length > MAX_OVERRIDE_CHARS) {
      throw new EcsApiError(
        400,
        'InvalidParameterException',
        `Container Overrides length must be at most ${MAX_OVERRIDE_CHARS}`,
      );
    }
    const containerOverrides = Array.isArray(overrides.containerOverrides)
      ? overrides.containerOverrides.map(asRecord)
      : [];
    for (const o of containerOverrides) {
      if (asString(o.name) !== info.containerName) {
        throw new EcsApiError(
          400,
          'InvalidParameterException',
          `Override for container named ${String(o.name)} is not a container in the TaskDefinition.`,
        );
      }
    }
    const override = containerOverrides[0] ?? {};
    const env: Record<string, string> = {};
    for (const pair of Array.isArray(override.environment) ? override.environment.map(asRecord) : []) {
      const name = asString(pair.name);
      if (name) env[name] = asString(pair.value) ?? '';
    }
    const overrideCommand = asStringArray(override.command);
    const command = overrideCommand.length > 0 ? overrideCommand : (info.command ?? null);
    const tags: Record<string, string> = {};
    for (const tag of Array.isArray(body.tags) ? body.tags.map(asRecord) : []) {
      const key = asString(tag.key);
      if (key) tags[key] = asString(tag.value) ?? '';
    }
    const startedBy = asString(body.startedBy) ?? null;

    const injected = failures.take(
      (f) =>
        f.kind === 'runTaskFailure' &&
        (f.capacityProvider === undefined || f.capacityProvider === capacityProviderName),
    );
    if (injected && injected.kind === 'runTaskFailure') {
      const response = {
        tasks: [],
        failures: [{ reason: injected.reason, ...(injected.detail ? { detail: injected.detail } : {}) }],
      };
      if (clientToken) idempotency.set(clientToken, response);
      return injected.delayMs ? sleep(injected.delayMs).then(() => response) : response;
    }
    const stuck = failures.take((f) => f.kind === 'stuck') !== null;
    const lost = failures.take((f) => f.kind === 'missing') !== null;

    return createTasks(count, {
      cluster,
      taskDefinition,
      taskDefinitionArn,
      info,
      capacityProviderName,
      launchType,
      subnet: subnets[0] ?? null,
      overrides,
      env,
      command,
      tags,
      startedBy,
      stuck,
      lost,
      clientToken,
    });
  };

  const createTasks = (
    count: number,
    spec: {
      cluster: string;
      taskDefinition: string;
      taskDefinitionArn: string;
      info: EcsTaskDefinitionInfo;
      capacityProviderName: string;
      launchType: string | null;
      subnet: string | null;
      overrides: unknown;
      env: Record<string, string>;
      command: string[] | null;
      tags: Record<string, string>;
      startedBy: string | null;
      stuck: boolean;
      lost: boolean;
      clientToken: string | undefined;
    },
  ): Promise<unknown> => {
    return (async () => {
      const created: TaskRecord[] = [];
      for (let i = 0; i < count; i++) {
        const id = randomBytes(16).toString('hex');
        const taskArn = `arn:aws:ecs:${region}:${accountId}:task/${spec.cluster}/${id}`;
        const fs = await createSandboxFs('rclaude-ecs-task');
        let markStopped: () => void = () => {};
        const stopped = new Promise<void>((resolve) => {
          markStopped = resolve;
        });
        const task: TaskRecord = {
          id,
          taskArn,
          cluster: spec.cluster,
          clusterArn: clusterArn(spec.cluster),
          taskDefinitionArn: spec.taskDefinitionArn,
          containerName: spec.info.containerName,
          containerArn: `arn:aws:ecs:${region}:${accountId}:container/${spec.cluster}/${id}/${randomBytes(16).toString('hex')}`,
          containerReason: null,
          cpu: spec.info.cpu ?? '1024',
          memory: spec.info.memory ?? '2048',
          launchType: spec.launchType,
          capacityProviderName: spec.capacityProviderName,
          subnet: spec.subnet,
          overrides: spec.overrides,
          env: spec.env,
          tags: spec.tags,
          startedBy: spec.startedBy,
          lastStatus: 'PROVISIONING',
          desiredStatus: 'RUNNING',
          stopCode: null,
          stoppedReason: null,
          exitCode: null,
          process: null,
          fs,
          createdAt: Date.now(),
          pullStartedAt: null,
          pullStoppedAt: null,
          startedAt: null,
          stoppingAt: null,
          executionStoppedAt: null,
          stoppedAt: null,
          forgotten: false,
          stuck: spec.stuck,
          stopped,
          markStopped,
        };
        tasks.set(id, task);
        created.push(task);
        if (spec.lost) missing.add(taskArn);
        void bringUp(task, {
          taskArn,
          cluster: spec.cluster,
          taskDefinition: spec.taskDefinition,
          containerName: spec.info.containerName,
          command: spec.command,
          env: spec.env,
          startedBy: spec.startedBy,
          tags: spec.tags,
        });
      }
      const response = { tasks: created.map((t) => describe(t, false)), failures: [] };
      if (spec.clientToken) idempotency.set(spec.clientToken, response);
      return response;
    })();
  };

  const describeTasks = (body: Record<string, unknown>): unknown => {
    const cluster = clusterName(body.cluster);
    const refs = asStringArray(body.tasks);
    if (refs.length === 0) throw new EcsApiError(400, 'InvalidParameterException', 'Tasks cannot be empty.');
    if (refs.length > 100) throw new EcsApiError(400, 'InvalidParameterException', 'Tasks can have at most 100 items.');
    const includeTags = asStringArray(body.include).includes('TAGS');
    const found: unknown[] = [];
    const failed: unknown[] = [];
    for (const ref of refs) {
      const task = findTask(cluster, ref);
      if (!task || task.forgotten || missing.has(task.taskArn)) {
        const arn = ref.startsWith('arn:') ? ref : `arn:aws:ecs:${region}:${accountId}:task/${cluster}/${ref}`;
        failed.push({ arn, reason: 'MISSING' });
      } else {
        found.push(describe(task, includeTags));
      }
    }
    return { tasks: found, failures: failed };
  };

  const stopTask = (body: Record<string, unknown>): unknown => {
    const cluster = clusterName(body.cluster);
    const ref = asString(body.task);
    const task = ref ? findTask(cluster, ref) : undefined;
    if (!task || task.forgotten)
      throw new EcsApiError(400, 'InvalidParameterException', 'The referenced task was not found.');
    const reason = (asString(body.reason) ?? 'Task stopped by user').slice(0, 255);
    if (task.desiredStatus !== 'STOPPED') void bringDown(task, 'UserInitiated', reason, true);
    return { task: describe(task, false) };
  };

  const listTasks = (body: Record<string, unknown>): unknown => {
    const cluster = clusterName(body.cluster);
    const startedBy = asString(body.startedBy);
    const family = asString(body.family);
    const desired = asString(body.desiredStatus) ?? 'RUNNING';
    const maxResults = typeof body.maxResults === 'number' ? Math.min(Math.max(body.maxResults, 1), 100) : 100;
    const offset = Number(
      asString(body.nextToken) ? Buffer.from(asString(body.nextToken) ?? '', 'base64').toString() : '0',
    );
    const arns = [...tasks.values()]
      .filter((t) => t.cluster === cluster && !t.forgotten)
      .filter((t) => t.desiredStatus === desired)
      .filter((t) => startedBy === undefined || t.startedBy === startedBy)
      .filter((t) => family === undefined || t.taskDefinitionArn.split('/').pop()?.split(':')[0] === family)
      .map((t) => t.taskArn);
    const page = arns.slice(offset, offset + maxResults);
    const next =
      offset + maxResults < arns.length ? Buffer.from(String(offset + maxResults)).toString('base64') : undefined;
    return next ? { taskArns: page, nextToken: next } : { taskArns: page };
  };

  const handlers: Record<EcsOperation, (body: Record<string, unknown>) => unknown> = {
    RunTask: runTask,
    DescribeTasks: describeTasks,
    StopTask: stopTask,
    ListTasks: listTasks,
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const raw = await readBody(req);
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : target;
    const entry: EmulatorRequest = {
      service: 'ecs',
      operation,
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      body: parseLogged(raw, req.headers['content-type']),
      status: 0,
    };
    requests.push(entry);
    const reply = (status: number, body: unknown) => {
      entry.status = status;
      sendJson(res, status, body, { 'x-amzn-requestid': randomBytes(16).toString('hex') });
    };
    const fail = (error: EcsApiError) =>
      reply(error.status, { __type: `com.amazonaws.ecs#${error.type}`, message: error.message });
    if (req.method !== 'POST' || !(operation in handlers)) {
      fail(new EcsApiError(400, 'UnknownOperationException', `operation ${operation || '(none)'} is not emulated`));
      return;
    }
    const op = operation as EcsOperation;
    const injected = failures.take((f) => f.kind === 'error' && (f.operation === undefined || f.operation === op));
    if (injected && injected.kind === 'error') {
      if (injected.delayMs) await sleep(injected.delayMs);
      fail(new EcsApiError(injected.status, injected.type, injected.message ?? `injected ${injected.type}`));
      return;
    }
    try {
      const body = asRecord(raw.length > 0 ? JSON.parse(raw.toString('utf8')) : {});
      reply(200, await handlers[op](body));
    } catch (error) {
      if (error instanceof EcsApiError) fail(error);
      else if (error instanceof SyntaxError) fail(new EcsApiError(400, 'SerializationException', error.message));
      else throw error;
    }
  };

  const server = await listenLoopback(handle);

  return {
    url: server.url,
    region,
    requests,
    requestsOf: (operation) => requests.filter((r) => r.operation === operation),
    tasks: () => [...tasks.values()],
    task: (taskArn) => [...tasks.values()].find((t) => t.taskArn === taskArn),
    fail: (failure) => {
      if (failure.kind === 'missing' && failure.taskArn) missing.add(failure.taskArn);
      else failures.push(failure);
    },
    forget: async (taskArn) => {
      const task = [...tasks.values()].find((t) => t.taskArn === taskArn);
      if (!task) throw new Error(`no emulated task ${taskArn}`);
      task.forgotten = true;
      task.desiredStatus = 'STOPPED';
      if (task.process?.running) {
        task.process.signal('SIGKILL');
        task.exitCode = (await task.process.exited).exitCode;
      }
      task.lastStatus = 'STOPPED';
      task.markStopped();
    },
    interrupt: (taskArn, stopCode = 'SpotInterruption', reason = 'Your Spot Task was interrupted.') => {
      const task = [...tasks.values()].find((t) => t.taskArn === taskArn);
      if (!task) throw new Error(`no emulated task ${taskArn}`);
      void bringDown(task, stopCode, reason, true);
    },
    waitStopped: async (taskArn) => {
      const task = [...tasks.values()].find((t) => t.taskArn === taskArn);
      if (!task) throw new Error(`no emulated task ${taskArn}`);
      await task.stopped;
      return task;
    },
    close: async () => {
      closed = true;
      await server.close();
      await Promise.all(
        [...tasks.values()].map(async (task) => {
          task.desiredStatus = 'STOPPED';
          if (task.process?.running) await task.process.stop(500);
          await task.fs.remove();
        }),
      );
    },
  };
}
