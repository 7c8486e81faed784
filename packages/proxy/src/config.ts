import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promptPermissionModes, providerNameSchema } from '@rclaude/protocol';
import { z } from 'zod';
import { parseAllowList } from './egress/allow-list.js';
import { DEFAULT_SANDBOX_LIMITS, parseSize } from './providers/limits.js';
import { defaultAgentLimits } from './realtime/agent-limits.js';
import { priceTableSchema } from './services/cost.js';

const bool = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', ''])
  .transform((v) => v === '1' || v === 'true' || v === 'yes');
const ms = z.coerce.number().int().nonnegative();
/** A size such as `4GiB`, `512m` or a number of bytes (units are binary); `0` means no limit. */
const size = z.string().transform((text, ctx) => {
  const bytes = parseSize(text);
  if (bytes === null) {
    ctx.addIssue({ code: 'custom', message: 'not a size (e.g. 4GiB, 512MiB, or a number of bytes)' });
    return z.NEVER;
  }
  return bytes;
});
const list = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

/**
 * Which peers may say who the client is (X-Forwarded-For), as Express's `trust proxy` takes it: nobody
 * (`false`), the nearest `n` hops, or peers at these addresses, CIDRs or named ranges (`loopback`, `linklocal`,
 * `uniquelocal`).
 */
export type TrustProxy = false | number | string[];

const trustProxyNames = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** An address or CIDR Express's `trust proxy` accepts (the named ranges aside). */
function isAddressOrCidr(entry: string): boolean {
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = net.isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/** RCLAUDE_TRUST_PROXY: `off` (the default), a hop count, or the proxies' addresses and CIDRs, comma-separated. */
const trustProxySchema = z.string().transform((value, ctx): TrustProxy => {
  const v = value.trim().toLowerCase();
  if (['off', 'false', 'no', '0', 'none'].includes(v)) return false;
  if (['on', 'true', 'yes', 'all'].includes(v)) {
    ctx.addIssue({
      code: 'custom',
      message:
        "trusting every peer lets any client forge its address; give the load balancer's CIDR (e.g. 10.0.0.0/16) or a hop count",
    });
    return z.NEVER;
  }
  if (/^\d+$/.test(v)) {
    const hops = Number(v);
    if (hops > 32) {
      ctx.addIssue({ code: 'custom', message: 'a hop count is at most 32' });
      return z.NEVER;
    }
    return hops;
  }
  const entries = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = entries.filter((e) => !trustProxyNames.has(e) && !isAddressOrCidr(e));
  if (bad.length > 0 || entries.length === 0) {
    ctx.addIssue({
      code: 'custom',
      message: `not an address, CIDR, loopback, linklocal or uniquelocal: ${bad.join(', ') || '(empty)'}`,
    });
    return z.NEVER;
  }
  return entries;
});

/** Every environment variable the server reads, in one place. docs/configuration.md documents each one. */
const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(7878),
  HOST: z.string().default('127.0.0.1'),
  /** The URL agents and browsers use to reach this server; defaults to http://HOST:PORT. */
  RCLAUDE_PUBLIC_URL: z.url().optional(),
  DATABASE_URL: z.string().optional(),
  REDIS_URL: z.string().optional(),
  RCLAUDE_DATA_DIR: z.string().optional(),
  /** Postgres schema for rclaude's tables (default: the connection's search_path). */
  RCLAUDE_DATABASE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/)
    .optional(),
  /** Prefix of every Redis key and channel, so several installations can share one Redis. */
  RCLAUDE_REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_:-]{1,64}$/)
    .default('rclaude'),
  RCLAUDE_PROVIDER: providerNameSchema.default('local'),
  /** `bwrap` (default) confines local sandboxes; `none` runs them unconfined (explicit opt-in, warned about). */
  RCLAUDE_LOCAL_SANDBOX: z.enum(['bwrap', 'none']).default('bwrap'),
  /** Marks this installation's cloud sandboxes, so two installations sharing an account never reap each other's. */
  RCLAUDE_INSTALLATION: z
    .string()
    .regex(/^[a-z0-9-]{1,32}$/)
    .default('default'),
  RCLAUDE_WARM_POOL_SIZE: z.coerce.number().int().min(0).max(100).default(0),
  /** Host user of local sandboxes when the server runs as root (default rclaude-sandbox, created if missing). */
  RCLAUDE_SANDBOX_USER: z.string().optional(),
  /** Memory per sandbox (local, docker), e.g. 4GiB; 0: no limit. */
  RCLAUDE_SANDBOX_MEMORY: size.default(DEFAULT_SANDBOX_LIMITS.memoryBytes),
  /** CPU cores per sandbox (local, docker), fractions allowed; 0: no limit. */
  RCLAUDE_SANDBOX_CPUS: z.coerce.number().min(0).max(1024).default(DEFAULT_SANDBOX_LIMITS.cpus),
  /** Processes and threads per sandbox (local, docker); 0: no limit. */
  RCLAUDE_SANDBOX_PIDS: z.coerce
    .number()
    .int()
    .refine((n) => n === 0 || n >= 16, 'at least 16 (or 0 for no limit)')
    .default(DEFAULT_SANDBOX_LIMITS.pids),
  /** Workspace and home on disk per local sandbox, e.g. 10GiB; 0: no limit. */
  RCLAUDE_SANDBOX_DISK: size.default(DEFAULT_SANDBOX_LIMITS.diskBytes),
  /** How often a local sandbox's workspace size is checked. */
  RCLAUDE_SANDBOX_DISK_CHECK_MS: z.coerce.number().int().min(100).default(30_000),
  /** Live tasks (not yet ended) one user may have at once; 0: no limit. */
  RCLAUDE_MAX_TASKS_PER_USER: z.coerce.number().int().min(0).default(10),
  /** Open ssh and port tunnels one task may have at once (adr/0017). */
  RCLAUDE_MAX_TUNNELS_PER_TASK: z.coerce.number().int().min(1).default(32),
  /** Open ssh and port tunnels one user may have at once, over all their tasks. */
  RCLAUDE_MAX_TUNNELS_PER_USER: z.coerce.number().int().min(1).default(64),
  /** How long a port preview link works. */
  RCLAUDE_PREVIEW_LINK_TTL_MS: z.coerce.number().int().min(1000).default(3_600_000),
  RCLAUDE_SECRET_KEY: z.string().optional(),
  RCLAUDE_ALLOWED_ORIGINS: list.default([]),
  RCLAUDE_COOKIE_SECURE: bool.default(false),
  /** Peers trusted to name the client in X-Forwarded-For (docs/configuration.md); default: none. */
  RCLAUDE_TRUST_PROXY: trustProxySchema.default(false),
  /** Bearer token of `/metrics`; unset: `/metrics` answers 404. */
  RCLAUDE_METRICS_TOKEN: z.string().min(16, 'at least 16 characters (e.g. openssl rand -hex 32)').optional(),
  OUTPUT_LOG_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(64 * 1024)
    .default(32 * 1024 * 1024),
  AGENT_CONNECT_TIMEOUT_MS: ms.default(60_000),
  AGENT_RECONNECT_GRACE_MS: ms.default(30_000),
  /** A sandbox's start-up token dies this long after it was issued if no agent used it. */
  AGENT_TOKEN_TTL_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .default(5 * 60_000),
  /** A task with no input and no output this long (and Claude not working) hibernates; 0: never. */
  IDLE_TIMEOUT_MS: ms.default(30 * 60_000),
  /** How long before an idle task hibernates its terminals and web tabs are warned. */
  RCLAUDE_HIBERNATE_WARNING_MS: ms.default(60_000),
  /** A running task is checkpointed this often while it works (a crash loses at most this); 0: never. */
  RCLAUDE_CHECKPOINT_INTERVAL_MS: ms.default(5 * 60_000),
  /** How long one checkpoint or restore may take. */
  RCLAUDE_CHECKPOINT_TIMEOUT_MS: ms.default(10 * 60_000),
  /** How long a stop or a hibernation waits for the agent to record the task's diff and push its branch. */
  RCLAUDE_FINISH_TIMEOUT_MS: ms.default(30_000),
  /** Checkpoints kept per task; older ones are deleted (and blobs only they named). */
  RCLAUDE_CHECKPOINT_KEEP: z.coerce.number().int().min(1).max(1000).default(10),
  /**
   * Checkpoints older than this many days are deleted, except the newest of each task (so every task that has
   * not been removed can be resumed); 0: kept forever. Applied to a user's checkpoints each time one is taken,
   * and to everyone's by the sweeper (RCLAUDE_CHECKPOINT_SWEEP_MS).
   */
  RCLAUDE_CHECKPOINT_MAX_AGE_DAYS: z.coerce.number().min(0).max(36_500).default(30),
  /**
   * Most bytes one user's checkpoints may total (each checkpoint's files counted in full: an upper bound, shared
   * blobs are stored once); the oldest go first, never a task's newest. 0: unlimited.
   */
  RCLAUDE_CHECKPOINT_QUOTA_BYTES: z.coerce.number().int().min(0).default(0),
  /**
   * How often the checkpoint sweeper runs (one proxy at a time, through a lease in the database): it expires
   * every user's checkpoints older than RCLAUDE_CHECKPOINT_MAX_AGE_DAYS and frees blobs no checkpoint names. While
   * it runs, a new checkpoint leaves blob collection to it. 0: off (each checkpoint collects after a prune).
   */
  RCLAUDE_CHECKPOINT_SWEEP_MS: ms.default(60 * 60_000),
  /** Largest upload that starts a task from a local directory (`rclaude run --here`), in bytes. */
  RCLAUDE_IMPORT_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(2 * 1024 ** 3),
  /** How long an ended (or hibernated) task's terminal output is kept; 0: as long as the task. */
  RCLAUDE_OUTPUT_RETENTION_MS: ms.default(7 * 24 * 60 * 60_000),
  /**
   * The GitHub REST API pushes and pull requests use (GitHub Enterprise: https://HOST/api/v3). Repository URLs on
   * its web host (the API host without `api.`) count as GitHub repositories.
   */
  RCLAUDE_GITHUB_API_URL: z.url().default('https://api.github.com'),
  /**
   * URL rewrites for the proxy's own git (clones and pushes with a user's token): comma-separated `FROM=TO`, each
   * a `url.TO.insteadOf FROM` (a mirror, or a test's git server on loopback). The token goes to the rewritten URL.
   */
  RCLAUDE_GIT_INSTEAD_OF: z
    .string()
    .default('')
    .transform((text, ctx) => {
      const out: { from: string; to: string }[] = [];
      for (const item of text
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)) {
        const m = /^(https:\/\/[^=\s]+)=(https?:\/\/[^=\s]+)$/.exec(item);
        if (!m?.[1] || !m[2]) {
          ctx.addIssue({ code: 'custom', message: `"${item}" is not FROM=TO (https://host/=https://mirror/)` });
          return z.NEVER;
        }
        out.push({ from: m[1], to: m[2] });
      }
      return out;
    }),
  /** Every task is stopped this long after it was created; 0: no limit. */
  TASK_MAX_LIFETIME_MS: ms.default(24 * 3600_000),
  /** Web Push (docs/notifications.md): the VAPID key pair, base64url; unset: generated once and kept in the database. */
  RCLAUDE_VAPID_PUBLIC_KEY: z
    .string()
    .regex(/^[A-Za-z0-9_-]{80,100}$/, 'a base64url P-256 public key')
    .optional(),
  RCLAUDE_VAPID_PRIVATE_KEY: z
    .string()
    .regex(/^[A-Za-z0-9_-]{40,50}$/, 'a base64url P-256 private key')
    .optional(),
  /** The contact push services may use about this server: a `mailto:` address or an https URL. */
  RCLAUDE_VAPID_SUBJECT: z
    .string()
    .regex(/^(mailto:|https:\/\/)\S+$/, 'a mailto: address or an https:// URL')
    .default('mailto:rclaude@localhost.invalid'),
  /** Accept push endpoints on loopback (http or https): for tests and development only, never in production. */
  RCLAUDE_PUSH_ALLOW_LOOPBACK: bool.default(false),
  /** JSON prices per provider, e.g. {"ecs":{"usdPerVcpuHour":0.04,"usdPerGbHour":0.0044}} (docs/tasks.md). */
  RCLAUDE_PRICE_TABLE: z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'not JSON' });
        return z.NEVER;
      }
    })
    .pipe(priceTableSchema)
    .optional(),
  /** Per-user spending (compute + model) per calendar month after which new tasks are refused; unset: none. */
  RCLAUDE_MONTHLY_BUDGET_USD: z.coerce.number().nonnegative().optional(),
  /** Claude Code permission mode of prompt tasks (docs/tasks.md explains the default). */
  RCLAUDE_PROMPT_PERMISSION_MODE: z.enum(promptPermissionModes).default('bypassPermissions'),
  /** How long a Claude Code permission request waits for an answer before it is denied (docs/approvals.md). */
  RCLAUDE_APPROVAL_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .max(24 * 60 * 60 * 1000)
    .default(10 * 60 * 1000),
  INPUT_MAX_BYTES_PER_SEC: z.coerce
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  // What one sandbox's agent connection may send (docs/configuration.md); over a limit it is disconnected.
  AGENT_MAX_MESSAGES_PER_SEC: z.coerce.number().int().positive().default(defaultAgentLimits.messagesPerSec),
  AGENT_MAX_BYTES_PER_SEC: z.coerce
    .number()
    .int()
    .min(1024 * 1024)
    .default(defaultAgentLimits.bytesPerSec),
  AGENT_MAX_EVENT_BYTES: z.coerce.number().int().min(1024).default(defaultAgentLimits.eventMaxBytes),
  AGENT_MAX_PENDING_BYTES: z.coerce
    .number()
    .int()
    .min(1024 * 1024)
    .default(defaultAgentLimits.pendingMaxBytes),
  AGENT_MAX_QUEUED_EVENTS: z.coerce.number().int().positive().default(defaultAgentLimits.queuedEventsMax),
  // After repeated drops over those limits, the agent's reconnections are refused for a growing interval.
  AGENT_RECONNECT_COOLDOWN_MS: z.coerce.number().int().min(100).default(defaultAgentLimits.cooldownBaseMs),
  AGENT_RECONNECT_COOLDOWN_MAX_MS: z.coerce.number().int().min(100).default(defaultAgentLimits.cooldownMaxMs),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // Model credentials the egress gateway adds to a sandbox's model requests when the user has none stored.
  ANTHROPIC_API_KEY: z.string().optional(),
  /** Where the egress gateway forwards model requests; default https://api.anthropic.com. */
  ANTHROPIC_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  CLAUDE_CODE_OAUTH_TOKEN: z.string().optional(),
  /**
   * Hosts sandboxes may reach through the egress gateway's HTTP proxy, added to the default list: names,
   * `*.domain`, IP addresses or CIDR ranges (only these open non-public addresses), each with an optional
   * `:port`, or `*` (every public host). See docs/configuration.md.
   */
  RCLAUDE_EGRESS_ALLOW: list
    .superRefine((items, ctx) => {
      for (const error of parseAllowList(items).errors) ctx.addIssue({ code: 'custom', message: error });
    })
    .default([]),
  /** Whether the default list (source hosting, package registries) is allowed; false keeps only RCLAUDE_EGRESS_ALLOW. */
  RCLAUDE_EGRESS_DEFAULT_ALLOW: bool.default(true),
  // ECS provider.
  RCLAUDE_ECS_CLUSTER: z.string().optional(),
  RCLAUDE_ECS_TASK_DEFINITION: z.string().optional(),
  RCLAUDE_ECS_CONTAINER: z.string().default('agent'),
  RCLAUDE_ECS_SUBNETS: list.default([]),
  RCLAUDE_ECS_SECURITY_GROUPS: list.default([]),
  RCLAUDE_ECS_ASSIGN_PUBLIC_IP: bool.default(false),
  RCLAUDE_ECS_CAPACITY: z.enum(['spot', 'ondemand']).default('ondemand'),
  AWS_REGION: z.string().optional(),
  AWS_ENDPOINT_URL_ECS: z.string().optional(),
  // E2B provider.
  E2B_API_KEY: z.string().optional(),
  E2B_TEMPLATE: z.string().default('rclaude-sandbox'),
  E2B_API_URL: z.string().optional(),
  E2B_SANDBOX_URL: z.string().optional(),
  // Docker provider (docs/docker.md). The engine comes from DOCKER_HOST, else /var/run/docker.sock.
  RCLAUDE_DOCKER_IMAGE: z.string().default('rclaude-sandbox:0.1.0'),
  /** Host path of the Unix socket agents dial; default `<data dir>/run/agent.sock`. */
  RCLAUDE_DOCKER_AGENT_SOCKET: z.string().optional(),
  /** Docker's own limits, over RCLAUDE_SANDBOX_CPUS, _MEMORY and _PIDS (which apply when these are unset). */
  RCLAUDE_DOCKER_CPUS: z.coerce.number().positive().max(256).optional(),
  RCLAUDE_DOCKER_MEMORY_MIB: z.coerce.number().int().min(256).optional(),
  RCLAUDE_DOCKER_MAX_PROCESSES: z.coerce.number().int().min(32).optional(),
  RCLAUDE_DOCKER_TMP_MIB: z.coerce.number().int().min(16).default(512),
  // Checkpoint store (docs/configuration.md): blobs and manifests on local disk, or in S3. Region: AWS_REGION.
  RCLAUDE_CHECKPOINT_STORE: z.enum(['local', 's3']).default('local'),
  RCLAUDE_CHECKPOINT_S3_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'not an S3 bucket name')
    .optional(),
  /** Key prefix of everything the store writes: empty, or `/`-terminated segments (e.g. `rclaude/`). */
  RCLAUDE_CHECKPOINT_S3_PREFIX: z
    .string()
    .regex(/^([A-Za-z0-9._-]+\/)*$/, 'empty, or segments of letters, digits, . _ - each ending in / (e.g. rclaude/)')
    .default('rclaude/'),
  /** Another S3 endpoint (an S3-compatible store, or an emulator in tests); requests then use path-style URLs. */
  RCLAUDE_CHECKPOINT_S3_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
});

export type Env = z.infer<typeof envSchema>;

export interface Config extends Env {
  dataDir: string;
  RCLAUDE_DOCKER_AGENT_SOCKET: string;
}

/**
 * Reads and validates the environment once. Reports every invalid variable at once, then throws.
 * `overrides` (from CLI flags) win over the environment.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Env> = {}): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema
    .refine((e) => e.RCLAUDE_CHECKPOINT_STORE !== 's3' || e.RCLAUDE_CHECKPOINT_S3_BUCKET !== undefined, {
      path: ['RCLAUDE_CHECKPOINT_S3_BUCKET'],
      message: 'RCLAUDE_CHECKPOINT_STORE=s3 needs a bucket: set RCLAUDE_CHECKPOINT_S3_BUCKET',
    })
    .refine((e) => (e.RCLAUDE_VAPID_PUBLIC_KEY === undefined) === (e.RCLAUDE_VAPID_PRIVATE_KEY === undefined), {
      path: ['RCLAUDE_VAPID_PRIVATE_KEY'],
      message: 'set both RCLAUDE_VAPID_PUBLIC_KEY and RCLAUDE_VAPID_PRIVATE_KEY, or neither',
    })
    .safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const merged = {
    ...parsed.data,
    ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)),
  } as Env;
  const dataDir =
    merged.RCLAUDE_DATA_DIR ?? path.join(env.XDG_DATA_HOME ?? path.join(os.homedir(), '.local', 'share'), 'rclaude');
  const resolved = path.resolve(dataDir);
  return {
    ...merged,
    dataDir: resolved,
    RCLAUDE_DOCKER_AGENT_SOCKET: merged.RCLAUDE_DOCKER_AGENT_SOCKET ?? path.join(resolved, 'run', 'agent.sock'),
  };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}
