import {
  DescribeTasksCommand,
  ECSClient,
  type Failure,
  ListTasksCommand,
  RunTaskCommand,
  type RunTaskCommandInput,
  StopTaskCommand,
  type Task,
} from '@aws-sdk/client-ecs';
import { AppError, type ErrorCode } from '@rclaude/protocol';
import { ecsNotConfigured } from './settings.js';
import type { Provider, SandboxHandle, SandboxSize, SandboxSpec, SandboxStatus } from './types.js';

/** Time as the provider sees it; tests inject a fast one. */
export interface ProviderClock {
  now(): number;
  /** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: ProviderClock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** Progress of a sandbox start, for logs and start-up progress shown to people. */
export interface EcsStartProgress {
  sandboxId: string;
  taskArn: string;
  /** ECS `lastStatus`: PROVISIONING, PENDING, ACTIVATING, RUNNING... */
  status: string;
  capacity: 'FARGATE_SPOT' | 'FARGATE';
}

export interface EcsProviderOptions {
  /** Cluster name or ARN (RCLAUDE_ECS_CLUSTER). */
  cluster: string;
  /** Sandbox task definition: family, `family:revision` or ARN (RCLAUDE_ECS_TASK_DEFINITION). */
  taskDefinition: string;
  /** Name of the agent container in the task definition (RCLAUDE_ECS_CONTAINER). */
  containerName: string;
  /** Subnet ids for the task's ENI (RCLAUDE_ECS_SUBNETS); private subnets with a NAT route in production. */
  subnets: string[];
  /** Security group ids (RCLAUDE_ECS_SECURITY_GROUPS); egress only, nothing needs to reach the sandbox. */
  securityGroups: string[];
  /** Give the task a public IP (only for public subnets without NAT). Default false. */
  assignPublicIp?: boolean;
  /** `spot` runs on FARGATE_SPOT and falls back to FARGATE when Spot has no capacity. Default `ondemand`. */
  capacity?: 'spot' | 'ondemand';
  /** Container command override; default none (the image's entrypoint is the agent). */
  command?: string[];
  /**
   * Marks this installation's tasks (`startedBy: rclaude-<installation>` and a tag) so `list()` finds only
   * ours. Letters, digits, `_` and `-`. Default `default`.
   */
  installation?: string;
  /** The task definition's size, for pricing. Default 2 vCPU, 4096 MiB (what infra/ deploys). */
  size?: SandboxSize;
  /** AWS region (AWS_REGION). Required unless `client` is given. */
  region?: string;
  /** Endpoint override (AWS_ENDPOINT_URL_ECS), e.g. the testkit emulator. */
  endpoint?: string;
  /** Static credentials; default the SDK's chain (the proxy's ECS task role in production). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** SDK attempts per call, retries included (5xx and throttling are retried). Default 3. */
  maxAttempts?: number;
  /** First DescribeTasks poll interval while starting, ms; grows 1.5x per poll. Default 1000. */
  pollIntervalMs?: number;
  /** Longest poll interval, ms. Default 5000. */
  maxPollIntervalMs?: number;
  /** How long a task may take to reach RUNNING, ms (image pull included). Default 300000. */
  startTimeoutMs?: number;
  clock?: ProviderClock;
  /** A ready client (then region, endpoint, credentials and maxAttempts are ignored). Not closed by close(). */
  client?: ECSClient;
  onProgress?: (progress: EcsStartProgress) => void;
}

/** ECS's limit on the JSON size of RunTask `overrides`. */
const MAX_OVERRIDES_CHARS = 8192;
/** DescribeTasks takes at most 100 tasks per call. */
const DESCRIBE_BATCH = 100;
/** Consecutive MISSING answers tolerated while starting: DescribeTasks is eventually consistent after RunTask. */
const MISSING_TOLERANCE = 3;

const TAG_SANDBOX = 'rclaude:sandbox-id';
const TAG_TASK = 'rclaude:task-id';
const TAG_OWNER = 'rclaude:owner';
const TAG_INSTALLATION = 'rclaude:installation';

const STOPPING_STATUSES = new Set(['DEACTIVATING', 'STOPPING', 'DEPROVISIONING', 'STOPPED']);
const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
]);
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
]);
const CAPACITY = /capacity|RESOURCE:|insufficient/i;

/**
 * Sandboxes as AWS ECS Fargate tasks: RunTask (FARGATE, or FARGATE_SPOT with fallback), DescribeTasks
 * polling until RUNNING, StopTask. The task definition's essential container is the agent; the sandbox
 * env goes in as `containerOverrides.environment`, with the start-up token as `RCLAUDE_AGENT_BOOTSTRAP`, a
 * one-time reference the agent exchanges for its token (never the token itself).
 */
export function createEcsProvider(options: EcsProviderOptions): Provider {
  const installation = options.installation ?? 'default';
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(installation)) {
    throw new AppError(
      'PROVIDER_UNAVAILABLE',
      'the ECS installation name may only hold letters, digits, _ and - (at most 64)',
    );
  }
  // Name every missing setting at once: a server with none of them set is simply not configured for ECS.
  const missing = ecsNotConfigured({ ...options, hasClient: options.client !== undefined });
  if (missing) throw missing;
  const startedBy = `rclaude-${installation}`;
  const clock = options.clock ?? systemClock;
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const maxPollIntervalMs = options.maxPollIntervalMs ?? 5000;
  const startTimeoutMs = options.startTimeoutMs ?? 300_000;
  const region = options.region ?? 'the configured region';
  const client =
    options.client ??
    new ECSClient({
      region: options.region,
      maxAttempts: options.maxAttempts ?? 3,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
    });

  const fail = (code: ErrorCode, message: string, cause?: unknown): AppError => new AppError(code, message, { cause });

  /** Turns an SDK error into an AppError that says what to fix. `starting` picks the code of permanent errors. */
  const mapError = (error: unknown, action: string, starting: boolean): AppError => {
    if (error instanceof AppError) return error;
    const info = describeSdkError(error);
    const permanent: ErrorCode = starting ? 'SANDBOX_START_FAILED' : 'PROVIDER_UNAVAILABLE';
    if (info.transient) {
      const what = info.throttled
        ? 'ECS is throttling requests'
        : info.network
          ? `cannot reach ECS${options.endpoint ? ` at ${options.endpoint}` : ` in ${region}`} (${info.code})`
          : `ECS is unavailable (${info.status ? `HTTP ${info.status}` : info.name})`;
      return fail('PROVIDER_UNAVAILABLE', `could not ${action}: ${what}; try again shortly`, error);
    }
    switch (info.name) {
      case 'ClusterNotFoundException':
        return fail(
          permanent,
          `ECS cluster "${options.cluster}" was not found in ${region}: check RCLAUDE_ECS_CLUSTER and AWS_REGION`,
          error,
        );
      case 'AccessDeniedException':
        return fail(
          permanent,
          `the proxy's AWS identity may not ${action}: allow ecs:RunTask, ecs:StopTask, ecs:DescribeTasks, ecs:ListTasks and ecs:TagResource on the cluster and iam:PassRole on the sandbox task roles (see docs/deploy-aws.md)`,
          error,
        );
      case 'CredentialsProviderError':
        return fail(
          permanent,
          'no AWS credentials: give the proxy an IAM task role, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
          error,
        );
      case 'InvalidParameterException':
        return fail(
          permanent,
          `ECS refused to ${action}: ${info.message}. ${invalidParameterHint(info.message)}`,
          error,
        );
      case 'PlatformTaskDefinitionIncompatibilityException':
      case 'PlatformUnknownException':
        return fail(
          permanent,
          `ECS refused to ${action}: ${info.message}. The task definition must be Fargate-compatible (awsvpc, ARM64 or X86_64, cpu/memory set): check RCLAUDE_ECS_TASK_DEFINITION`,
          error,
        );
      case 'LimitExceededException':
        return fail(
          'PROVIDER_UNAVAILABLE',
          `could not ${action}: an ECS quota is reached (${info.message}); stop some tasks or raise the quota`,
          error,
        );
      case 'ClientException':
        return fail(
          permanent,
          /task ?definition/i.test(info.message)
            ? `ECS refused to ${action}: ${info.message}. Check RCLAUDE_ECS_TASK_DEFINITION (family, family:revision or ARN, in ${region})`
            : `ECS refused to ${action}: ${info.message}`,
          error,
        );
      default:
        return fail(permanent, `could not ${action}: ${info.name}: ${info.message}`, error);
    }
  };

  const runInput = (spec: SandboxSpec, capacity: 'FARGATE_SPOT' | 'FARGATE'): RunTaskCommandInput => {
    // The start-up token goes in as a one-time bootstrap reference the agent exchanges over HTTPS for its token
    // (POST /api/agent/bootstrap): task overrides stay readable through DescribeTasks and in CloudTrail, and what
    // they hold is dead once the agent started (or AGENT_TOKEN_TTL_MS after RunTask).
    const { RCLAUDE_AGENT_TOKEN: bootstrap, ...rest } = spec.env;
    const env = bootstrap ? { ...rest, RCLAUDE_AGENT_BOOTSTRAP: bootstrap } : rest;
    const environment = Object.entries(env).map(([name, value]) => ({ name, value }));
    const overrides = {
      containerOverrides: [
        { name: options.containerName, environment, ...(options.command ? { command: options.command } : {}) },
      ],
    };
    const size = JSON.stringify(overrides).length;
    if (size > MAX_OVERRIDES_CHARS) {
      throw fail(
        'SANDBOX_START_FAILED',
        `the sandbox environment is too large for ECS (${size} of ${MAX_OVERRIDES_CHARS} characters allowed in task overrides): store fewer or shorter secrets`,
      );
    }
    const tags = [
      { key: TAG_SANDBOX, value: tagValue(spec.sandboxId) },
      { key: TAG_INSTALLATION, value: installation },
      ...(spec.taskId ? [{ key: TAG_TASK, value: tagValue(spec.taskId) }] : []),
      ...(spec.owner ? [{ key: TAG_OWNER, value: tagValue(spec.owner) }] : []),
    ];
    return {
      cluster: options.cluster,
      taskDefinition: options.taskDefinition,
      count: 1,
      startedBy,
      tags,
      enableECSManagedTags: true,
      networkConfiguration: {
        awsvpcConfiguration: {
          subnets: options.subnets,
          securityGroups: options.securityGroups,
          assignPublicIp: options.assignPublicIp ? 'ENABLED' : 'DISABLED',
        },
      },
      overrides,
      ...(capacity === 'FARGATE_SPOT'
        ? { capacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }] }
        : { launchType: 'FARGATE' }),
    };
  };

  /** One RunTask. Returns the task ARN, or `capacity` when ECS could not place it for lack of capacity. */
  const runOnce = async (
    spec: SandboxSpec,
    capacity: 'FARGATE_SPOT' | 'FARGATE',
    signal: AbortSignal | undefined,
  ): Promise<{ taskArn: string } | { capacity: string }> => {
    let out: { tasks?: Task[]; failures?: Failure[] };
    try {
      out = await client.send(new RunTaskCommand(runInput(spec, capacity)), { abortSignal: signal });
    } catch (error) {
      const info = describeSdkError(error);
      if (!(error instanceof AppError) && !info.transient && CAPACITY.test(info.message))
        return { capacity: info.message };
      throw mapError(error, 'start a sandbox task', true);
    }
    const taskArn = out.tasks?.[0]?.taskArn;
    if (taskArn) return { taskArn };
    const failure = out.failures?.[0];
    const reason = [failure?.reason, failure?.detail].filter(Boolean).join(': ') || 'no task and no failure reported';
    if (CAPACITY.test(reason)) return { capacity: reason };
    throw fail('SANDBOX_START_FAILED', `ECS could not place the sandbox task: ${reason}`);
  };

  /** Best effort: a start that gives up must not leave a task behind. */
  const abandon = async (taskArn: string, reason: string) => {
    await client
      .send(new StopTaskCommand({ cluster: options.cluster, task: taskArn, reason: reason.slice(0, 255) }))
      .catch(() => undefined);
  };

  /** Polls until RUNNING. `spot-lost` means Spot reclaimed the task before it ran (worth retrying on FARGATE). */
  const waitRunning = async (
    spec: SandboxSpec,
    taskArn: string,
    capacity: 'FARGATE_SPOT' | 'FARGATE',
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<'running' | 'spot-lost'> => {
    let delay = pollIntervalMs;
    let missing = 0;
    let last = 'PROVISIONING';
    options.onProgress?.({ sandboxId: spec.sandboxId, taskArn, status: last, capacity });
    for (;;) {
      const left = deadline - clock.now();
      if (left <= 0) {
        await abandon(taskArn, 'rclaude: start timed out');
        throw fail(
          'SANDBOX_START_FAILED',
          `the ECS task did not reach RUNNING within ${Math.round(startTimeoutMs / 1000)}s (last status ${last}): check that the subnets can reach ECR and CloudWatch (NAT gateway or VPC endpoints) and the task's logs`,
        );
      }
      await clock.sleep(Math.min(delay, left), signal);
      delay = Math.min(delay * 1.5, maxPollIntervalMs);
      let task: Task | undefined;
      try {
        const out = await client.send(new DescribeTasksCommand({ cluster: options.cluster, tasks: [taskArn] }), {
          abortSignal: signal,
        });
        task = out.tasks?.[0];
      } catch (error) {
        if (signal?.aborted) throw error;
        // Transient trouble (throttling, 5xx after the SDK's own retries) must not fail a start that is going well.
        if (describeSdkError(error).transient) continue;
        await abandon(taskArn, 'rclaude: start failed');
        throw mapError(error, 'follow the sandbox task', true);
      }
      if (!task) {
        missing += 1;
        if (missing >= MISSING_TOLERANCE) {
          // ECS may only have lost track of it: a task left behind would run on, unseen and billed.
          await abandon(taskArn, 'rclaude: lost track of the task while starting');
          throw fail(
            'SANDBOX_START_FAILED',
            `ECS lost track of the sandbox task ${taskArn} while it was starting (MISSING)`,
          );
        }
        continue;
      }
      missing = 0;
      const status = task.lastStatus ?? 'UNKNOWN';
      if (status !== last) {
        last = status;
        options.onProgress?.({ sandboxId: spec.sandboxId, taskArn, status, capacity });
      }
      if (status === 'RUNNING' && task.desiredStatus !== 'STOPPED') return 'running';
      if (STOPPING_STATUSES.has(status) || task.desiredStatus === 'STOPPED') {
        // A task that ran (between two polls) has started its agent, which has spent the single-use token:
        // a second task with the same environment could never connect, so only a task that never ran is retried.
        const ran = task.startedAt !== undefined;
        if (
          !ran &&
          capacity === 'FARGATE_SPOT' &&
          (task.stopCode === 'SpotInterruption' || CAPACITY.test(task.stoppedReason ?? ''))
        ) {
          return 'spot-lost';
        }
        throw fail(
          'SANDBOX_START_FAILED',
          `the ECS task stopped ${ran ? 'right after it started' : 'before it was running'}: ${stopDescription(task, options.containerName)}`,
        );
      }
    }
  };

  async function start(spec: SandboxSpec, signal?: AbortSignal): Promise<SandboxHandle> {
    const deadline = clock.now() + startTimeoutMs;
    const capacities: ('FARGATE_SPOT' | 'FARGATE')[] =
      options.capacity === 'spot' ? ['FARGATE_SPOT', 'FARGATE'] : ['FARGATE'];
    let lastCapacityReason = '';
    for (const capacity of capacities) {
      if (signal?.aborted) throw cancelled(signal);
      const placed = await runOnce(spec, capacity, signal).catch((error: unknown) => {
        throw signal?.aborted ? cancelled(signal) : error;
      });
      if ('capacity' in placed) {
        lastCapacityReason = placed.capacity;
        continue;
      }
      let outcome: 'running' | 'spot-lost';
      try {
        outcome = await waitRunning(spec, placed.taskArn, capacity, deadline, signal);
      } catch (error) {
        if (signal?.aborted) {
          await abandon(placed.taskArn, 'rclaude: start cancelled');
          throw cancelled(signal);
        }
        throw error;
      }
      if (outcome === 'running') return { sandboxId: spec.sandboxId, provider: 'ecs', ref: placed.taskArn };
      lastCapacityReason = 'the Spot task was reclaimed before it started';
    }
    throw fail(
      'PROVIDER_UNAVAILABLE',
      `ECS has no Fargate capacity for the sandbox right now (${lastCapacityReason}); try again shortly${options.capacity === 'spot' ? '' : ' or use more subnets in other availability zones'}`,
    );
  }

  async function inspect(handle: SandboxHandle): Promise<SandboxStatus> {
    let out: { tasks?: Task[]; failures?: Failure[] };
    try {
      out = await client.send(new DescribeTasksCommand({ cluster: options.cluster, tasks: [handle.ref] }));
    } catch (error) {
      throw mapError(error, 'inspect a sandbox task', false);
    }
    const task = out.tasks?.[0];
    if (!task) {
      const reason = out.failures?.[0]?.reason ?? 'MISSING';
      return { state: 'missing', exitCode: null, reason: `ECS does not know the task (${reason})` };
    }
    const status = task.lastStatus ?? '';
    if (STOPPING_STATUSES.has(status) || (task.desiredStatus === 'STOPPED' && status !== 'RUNNING')) {
      // A task on its way down never runs work again: it is stopped for us, with whatever ECS knows so far.
      return {
        state: 'stopped',
        exitCode: containerExitCode(task, options.containerName),
        reason: stopDescription(task, options.containerName),
      };
    }
    if (status === 'RUNNING') return { state: 'running', exitCode: null, reason: null };
    return { state: 'starting', exitCode: null, reason: status || null };
  }

  async function stop(handle: SandboxHandle, reason: string): Promise<void> {
    try {
      await client.send(
        new StopTaskCommand({ cluster: options.cluster, task: handle.ref, reason: `rclaude: ${reason}`.slice(0, 255) }),
      );
    } catch (error) {
      const info = describeSdkError(error);
      // Stopping what ECS no longer knows is done already.
      if (info.name === 'InvalidParameterException' && /not found/i.test(info.message)) return;
      throw mapError(error, 'stop a sandbox task', false);
    }
  }

  async function list(): Promise<SandboxHandle[]> {
    try {
      const arns: string[] = [];
      let nextToken: string | undefined;
      do {
        const page = await client.send(
          new ListTasksCommand({ cluster: options.cluster, startedBy, desiredStatus: 'RUNNING', nextToken }),
        );
        arns.push(...(page.taskArns ?? []));
        nextToken = page.nextToken;
      } while (nextToken);
      const handles: SandboxHandle[] = [];
      for (let i = 0; i < arns.length; i += DESCRIBE_BATCH) {
        const batch = arns.slice(i, i + DESCRIBE_BATCH);
        const out = await client.send(
          new DescribeTasksCommand({ cluster: options.cluster, tasks: batch, include: ['TAGS'] }),
        );
        for (const task of out.tasks ?? []) {
          const tags = new Map((task.tags ?? []).map((t) => [t.key, t.value]));
          const sandboxId = tags.get(TAG_SANDBOX);
          if (task.taskArn && sandboxId && tags.get(TAG_INSTALLATION) === installation) {
            handles.push({ sandboxId, provider: 'ecs', ref: task.taskArn });
          }
        }
      }
      return handles;
    } catch (error) {
      throw mapError(error, 'list sandbox tasks', false);
    }
  }

  return {
    name: 'ecs',
    size: options.size ?? { vcpu: 2, memoryMiB: 4096 },
    start,
    inspect,
    stop,
    list,
    close: async () => {
      if (!options.client) client.destroy();
    },
  };
}

interface SdkErrorInfo {
  name: string;
  message: string;
  status: number | undefined;
  code: string | undefined;
  throttled: boolean;
  network: boolean;
  transient: boolean;
}

function describeSdkError(error: unknown): SdkErrorInfo {
  const e = (error ?? {}) as {
    name?: string;
    message?: string;
    code?: string;
    $metadata?: { httpStatusCode?: number };
    $retryable?: unknown;
  };
  const name = e.name ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const code = e.code;
  const throttled = THROTTLING.has(name) || status === 429;
  const network = code !== undefined && NETWORK_CODES.has(code);
  const transient =
    throttled ||
    network ||
    name === 'ServerException' ||
    name === 'TimeoutError' ||
    (status !== undefined && status >= 500) ||
    e.$retryable !== undefined;
  return { name, message: e.message ?? String(error), status, code, throttled, network, transient };
}

function invalidParameterHint(message: string): string {
  if (/subnet/i.test(message))
    return 'Check RCLAUDE_ECS_SUBNETS: the subnets must exist in the region, in the VPC of the security groups';
  if (/security ?group/i.test(message))
    return 'Check RCLAUDE_ECS_SECURITY_GROUPS: the groups must exist in the VPC of the subnets';
  if (/override|container/i.test(message))
    return 'Check RCLAUDE_ECS_CONTAINER: it must name the agent container of the task definition';
  if (/capacity provider/i.test(message)) {
    return 'For RCLAUDE_ECS_CAPACITY=spot the cluster must have the FARGATE_SPOT capacity provider';
  }
  return 'Check the RCLAUDE_ECS_* settings against the deployed infrastructure';
}

function containerExitCode(task: Task, containerName: string): number | null {
  const containers = task.containers ?? [];
  const container =
    containers.find((c) => c.name === containerName) ?? containers.find((c) => c.exitCode !== undefined);
  return container?.exitCode ?? null;
}

/** "UserInitiated: rclaude: task finished (exit code 143)", with a hint for the common launch failures. */
function stopDescription(task: Task, containerName: string): string {
  const containers = task.containers ?? [];
  const container = containers.find((c) => c.name === containerName) ?? containers[0];
  const parts =
    [task.stopCode, task.stoppedReason].filter(Boolean).join(': ') || `task is ${task.lastStatus ?? 'stopping'}`;
  const detail = [container?.reason, container?.exitCode !== undefined ? `exit code ${container.exitCode}` : undefined]
    .filter(Boolean)
    .join(', ');
  const text = `${parts}${detail ? ` (${detail})` : ''}`;
  const all = `${task.stoppedReason ?? ''} ${container?.reason ?? ''}`;
  if (/CannotPullContainer/i.test(all)) {
    return `${text}. The image could not be pulled: check the image URI in the task definition, the execution role's ECR permissions and the subnets' route to ECR`;
  }
  if (/ResourceInitializationError/i.test(all)) {
    return `${text}. Check the execution role's access to Secrets Manager and CloudWatch Logs and the subnets' route to them`;
  }
  return text;
}

function tagValue(value: string): string {
  // ECS tag values allow letters, digits, spaces and + - = . _ : / @ (max 256).
  return value.replace(/[^A-Za-z0-9 +\-=._:/@]/g, '_').slice(0, 256);
}

function cancelled(signal: AbortSignal): AppError {
  return new AppError('SANDBOX_START_FAILED', 'the sandbox start was cancelled', { cause: signal.reason });
}
