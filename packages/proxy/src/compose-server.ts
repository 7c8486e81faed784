import fs from 'node:fs';
import {
  createServer,
  type Server as HttpServer,
  type IncomingMessage,
  type RequestListener,
  type ServerResponse,
} from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import {
  AppError,
  isProxyOnlySecret,
  loadRouteSchemas,
  loginLinkUrl,
  type ProviderName,
  type Task,
} from '@rclaude/protocol';
import { createAdapter } from '@socket.io/redis-adapter';
import type { Express } from 'express';
import { type Logger, pino } from 'pino';
import { Server } from 'socket.io';
import { createApp } from './app.js';
import { type Auth, createAuth } from './auth/create-auth.js';
import { createLoginLimiter, type LoginLimits } from './auth/login-limiter.js';
import { redactPaths } from './auth/redact.js';
import { loadOrCreateSecretKey } from './auth/secret-key.js';
import { createBlobStore } from './checkpoints/blob-store.js';
import type { Config } from './config.js';
import type { HealthCheck } from './db/health.js';
import { DEFAULT_EGRESS_ALLOW, parseAllowList } from './egress/allow-list.js';
import { createEgressGateway, type EgressGateway } from './egress/egress-gateway.js';
import { deriveEgressSecret, egressKeyFor } from './egress/egress-key.js';
import { DEFAULT_MODEL_UPSTREAM, pickModelCredential } from './egress/model-endpoint.js';
import { ModelMeter } from './egress/model-meter.js';
import { OutboundProxy } from './egress/outbound-proxy.js';
import { createAgentCheckpointRoutes } from './http/agent-checkpoints.js';
import { createApprovalHandlers } from './http/approval-handlers.js';
import { requireAuth } from './http/context.js';
import { createFileHandlers } from './http/files-routes.js';
import { buildOpenApi } from './http/openapi.js';
import { createPortHandlers } from './http/port-handlers.js';
import { createPushHandlers } from './http/push-handlers.js';
import { createShareHandlers, shareViewLimits } from './http/share-handlers.js';
import { readLocalState, writeLocalState } from './local-state.js';
import { createMetrics, type Metrics } from './metrics.js';
import { Notifier, teePublisher } from './notify/notifier.js';
import { PushSender } from './notify/push-sender.js';
import { PushStore } from './notify/push-store.js';
import { loadOrCreateVapidKeys } from './notify/vapid.js';
import { createProviderFactories, sandboxLimits } from './providers/factories.js';
import { createLocalProvider } from './providers/local.js';
import { ProviderRegistry } from './providers/registry.js';
import type { Provider } from './providers/types.js';
import { registerAgentGateway } from './realtime/agent-gateway.js';
import { defaultAgentLimits } from './realtime/agent-limits.js';
import { createAgentRpc } from './realtime/agent-rpc.js';
import { listenAgentSocket } from './realtime/agent-socket-listener.js';
import { registerClientGateway } from './realtime/client-gateway.js';
import { createPresence } from './realtime/presence.js';
import { RoomPublisher } from './realtime/room-publisher.js';
import { rooms } from './realtime/rooms.js';
import { createShareAwareSocketMiddleware, createShareViewers, serveShareViewer } from './realtime/share-gateway.js';
import { ApprovalService } from './services/approvals.js';
import { CheckpointSweeper } from './services/checkpoint-sweeper.js';
import type { CheckpointService } from './services/checkpoints.js';
import { composeTasks, type TaskParts } from './services/compose-tasks.js';
import { CostService } from './services/cost.js';
import { newId } from './services/ids.js';
import { LifecycleService } from './services/lifecycle.js';
import { githubHost } from './services/pull-requests.js';
import { type AgentNamespace, type ClientNamespace, SessionHub } from './services/session-hub.js';
import { ShareService } from './services/shares.js';
import type { TaskService } from './services/task-service.js';
import { WarmPool } from './services/warm-pool.js';
import { createStores, type Stores } from './stores/index.js';
import type { SandboxRecord } from './stores/types.js';
import { createPortPreviews, type PortPreviews } from './tunnels/port-preview.js';
import { createTunnelGateway, type TunnelGateway } from './tunnels/tunnel-gateway.js';

/**
 * What a caller may swap in {@link composeServer}; everything else is built from the config, the same for
 * `rclaude server` and for tests. Each field is optional and defaults to what a user's server uses.
 */
export interface ServerDeps {
  /** The root logger; default pino at LOG_LEVEL with redaction, to stderr (stdout is for the person). */
  log?: Logger;
  /** Clock in ms since the epoch for accounts (token use, session expiry, login delays); default Date.now. */
  now?: () => number;
  /**
   * Provider factories by name, replacing the configured ones (a fake whose sandboxes are in-process agents,
   * or the local provider with other settings). Each is called on first use, like the built-in ones.
   */
  providers?: Partial<Record<ProviderName, () => Provider>>;
  /** Login rate-limit settings over the defaults (free attempts, delays). */
  loginLimits?: Partial<LoginLimits>;
  /** Keep the embedded database in memory instead of `<dataDir>/pgdata` (only when DATABASE_URL is unset). */
  inMemoryDatabase?: boolean;
  /**
   * Puts handlers in front of the app: receives the composed app, returns what answers every non-Socket.io
   * request (a test's probe routes, then the app). Default: the app itself.
   */
  wrapApp?: (app: Express) => RequestListener;
}

/**
 * A composed, listening proxy. The fields beyond {@link RunningServer} are its parts, for white-box tests
 * and for the process that embeds it; nobody else constructs them.
 */
export interface ComposedServer {
  /** Where the server listens, e.g. http://127.0.0.1:7878 (RCLAUDE_PUBLIC_URL when set). */
  url: string;
  /**
   * A fresh one-time link that opens the web app signed in as the admin (works once, for 10 minutes).
   * `rclaude server` prints one only when its stdout is a terminal: logs must not carry sign-ins.
   */
  createLoginUrl(): Promise<{ url: string; expiresAt: string }>;
  /** The admin's API token for CLIs on this machine: written to the 0600 local state file, never printed. */
  token: string;
  proxyId: string;
  config: Config;
  log: Logger;
  stores: Stores;
  auth: Auth;
  metrics: Metrics;
  providers: ProviderRegistry;
  hub: SessionHub;
  tasks: TaskService;
  lifecycle: LifecycleService;
  /** Checkpoints of tasks (retention, restore); null when checkpoints are off. */
  checkpoints: CheckpointService | null;
  /** Expires old checkpoints and frees unreferenced blobs on a timer; null without checkpoints. */
  checkpointSweeper: CheckpointSweeper | null;
  /** Claude Code permission requests: subscribe to hear new and settled approvals (Web Push, for one). */
  approvals: ApprovalService;
  /** Web Push: subscriptions and the notifications of task events. */
  notifier: Notifier;
  /** Null unless RCLAUDE_WARM_POOL_SIZE > 0 with the local provider. */
  warmPool: WarmPool | null;
  io: Server;
  /** The HTTP server; Socket.io answers `/socket.io/`, every other request goes to `app`. */
  httpServer: HttpServer;
  app: Express;
  /** Stops everything this server started, in the reverse order of starting; never throws. */
  close(): Promise<void>;
}

/**
 * The composition root: config -> database/redis -> stores -> auth -> providers -> services -> Socket.io
 * gateways -> app -> listen. `rclaude server` (through `startServer`) and every proxy test build the server
 * here; nothing else constructs clients or services.
 */
export async function composeServer(config: Config, deps: ServerDeps = {}): Promise<ComposedServer> {
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const proxyId = newId(8);
  const redisRedact = (url: string | undefined) => (url ? url.replace(/\/\/[^@/]*@/, '//***@') : 'none');
  const log =
    deps.log ??
    pino(
      {
        name: 'rclaude',
        level: config.LOG_LEVEL,
        base: { proxy: proxyId },
        redact: { paths: [...redactPaths], censor: '[redacted]' },
      },
      pino.destination(2),
    );
  let hubRef: SessionHub | null = null;
  let sandboxStore: { listActive(): Promise<{ provider: string; state: string }[]> } | null = null;
  const metrics = createMetrics({
    viewers: () => hubRef?.viewerCount() ?? 0,
    sandboxes: async () => (sandboxStore ? sandboxStore.listActive() : []),
  });
  const closers: { name: string; fn: () => Promise<unknown> }[] = [];
  const onClose = (name: string, fn: () => Promise<unknown>) => closers.push({ name, fn });
  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      for (const { name, fn } of closers.reverse()) {
        log.debug({ step: name }, 'shutting down');
        await fn().catch((err: unknown) => log.warn({ err, step: name }, 'shutdown step failed'));
      }
    })();
    return closing;
  };

  try {
    const stores = await createStores(
      {
        databaseUrl: config.DATABASE_URL ?? null,
        redisUrl: config.REDIS_URL ?? null,
        dataDir: deps.inMemoryDatabase ? null : path.join(config.dataDir, 'pgdata'),
        databaseSchema: config.RCLAUDE_DATABASE_SCHEMA ?? null,
        redisPrefix: config.RCLAUDE_REDIS_PREFIX,
        outputLogMaxBytes: config.OUTPUT_LOG_MAX_BYTES,
      },
      { logger: log },
    );
    onClose('stores', () => stores.close());
    const secretKey = loadOrCreateSecretKey(config.RCLAUDE_SECRET_KEY, config.dataDir);
    const auth = createAuth({
      db: stores.db.pool,
      redis: stores.redis,
      logger: log,
      secretKey,
      publicOrigins: [
        ...config.RCLAUDE_ALLOWED_ORIGINS,
        ...(config.RCLAUDE_PUBLIC_URL ? [config.RCLAUDE_PUBLIC_URL] : []),
      ],
      cookieSecure: config.RCLAUDE_COOKIE_SECURE,
      ...(stores.redis ? { redisKeyPrefix: `${config.RCLAUDE_REDIS_PREFIX}:` } : {}),
      ...(deps.now ? { now: deps.now } : {}),
      ...(deps.loginLimits ? { loginLimits: deps.loginLimits } : {}),
    });

    // Web Push: one VAPID key pair for every proxy on this database; the notifier sees every task event recorded here.
    const pushPolicy = { allowLoopback: config.RCLAUDE_PUSH_ALLOW_LOOPBACK };
    const notifier = new Notifier({
      store: new PushStore(stores.db.pool),
      sender: new PushSender({
        vapid: await loadOrCreateVapidKeys({
          db: stores.db.pool,
          configured:
            config.RCLAUDE_VAPID_PUBLIC_KEY && config.RCLAUDE_VAPID_PRIVATE_KEY
              ? { publicKey: config.RCLAUDE_VAPID_PUBLIC_KEY, privateKey: config.RCLAUDE_VAPID_PRIVATE_KEY }
              : null,
          subject: config.RCLAUDE_VAPID_SUBJECT,
        }),
        policy: pushPolicy,
      }),
      tasks: stores.tasks,
      policy: pushPolicy,
      log: log.child({ component: 'push' }),
    });
    onClose('push', () => notifier.close());

    let parts: TaskParts | null = null;
    let providersRef: ProviderRegistry | null = null;
    const cost = new CostService({
      tasks: stores.tasks,
      prices: config.RCLAUDE_PRICE_TABLE ?? {},
      sizeOf: (name) => {
        try {
          return providersRef?.get(name).size ?? null;
        } catch {
          return null;
        }
      },
      monthlyBudgetUsd: config.RCLAUDE_MONTHLY_BUDGET_USD ?? null,
    });
    // The sandboxes' one way out besides their agent's channel (on the HTTP port and on every agent socket).
    const egressSecret = deriveEgressSecret(secretKey);
    // One allow-list for every way out on a task's behalf: its sandbox's, and the proxy's git (clones, pushes).
    const outbound = new OutboundProxy({
      allow: parseAllowList([
        ...(config.RCLAUDE_EGRESS_DEFAULT_ALLOW ? DEFAULT_EGRESS_ALLOW : []),
        ...config.RCLAUDE_EGRESS_ALLOW,
      ]).list,
      log: log.child({ component: 'egress' }),
    });
    const egress: EgressGateway = createEgressGateway({
      secret: egressSecret,
      sandboxes: stores.sandboxes,
      tasks: stores.tasks,
      userAllowHosts: (owner) => auth.allowHosts.forUser(owner),
      modelCredential: async (owner) => pickModelCredential(await auth.secrets.forSandbox(owner), config),
      modelUpstream: new URL(config.ANTHROPIC_BASE_URL ?? DEFAULT_MODEL_UPSTREAM),
      outbound,
      report: (ctx, message) => {
        parts?.transitions
          .event(ctx.taskId, 'error', { message })
          .catch((err: unknown) => log.warn({ err, taskId: ctx.taskId }, 'recording an egress refusal failed'));
      },
      meter: new ModelMeter({
        tasks: stores.tasks,
        overBudget: async (owner) => {
          try {
            await cost.assertWithinBudget(owner);
            return null;
          } catch (err) {
            if (err instanceof AppError && err.code === 'BUDGET_EXCEEDED') return err.message;
            throw err;
          }
        },
        timeline: {
          event: async (taskId, type, data) => parts?.transitions.event(taskId, type, data),
          publish: (task) => parts?.transitions.publish(task),
        },
        log,
      }),
      log,
    });
    onClose('egress', () => egress.close());
    // Checkpoints: blobs and manifests in the configured store; agents move them through their own routes.
    const checkpointBlobs = createBlobStore(config, config.dataDir);
    onClose('checkpoint-store', () => checkpointBlobs.close());
    const agentCheckpoints = createAgentCheckpointRoutes({
      secret: egressSecret,
      sandboxes: stores.sandboxes,
      records: stores.checkpoints,
      blobs: checkpointBlobs,
      log,
    });
    const agentRequest = (req: IncomingMessage, res: ServerResponse): boolean => {
      if (!agentCheckpoints.handles(req)) return false;
      agentCheckpoints.handle(req, res);
      return true;
    };
    const egressUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): boolean => {
      if (tunnels?.handles(req)) {
        tunnels.handleUpgrade(req, socket, head);
        return true;
      }
      if (!egress.handles(req)) return false;
      egress.handleUpgrade(req, socket, head);
      return true;
    };

    // Tunnels (ssh, ports) and port previews; built once the task service exists (below).
    let tunnels: TunnelGateway | null = null;
    let previews: PortPreviews | null = null;

    // The app is handed to the server before Socket.io attaches, so Socket.io keeps `/socket.io/` to itself
    // (a request listener added after it would also see, and answer, its polling requests).
    let handler: RequestListener | null = null;
    const httpServer = createServer((req: IncomingMessage, res: ServerResponse) => {
      if (agentRequest(req, res)) return;
      if (previews?.handles(req)) {
        previews.handle(req, res);
        return;
      }
      if (handler) handler(req, res);
      else res.writeHead(503).end();
    });
    const io = new Server(httpServer, {
      // Output frames are at most 256 KiB; anything far larger is not ours.
      maxHttpBufferSize: 2 * 1024 * 1024,
      pingInterval: 10_000,
      pingTimeout: 10_000,
      serveClient: false,
      // Upgrades on other paths are the egress gateway's (below), which may take a moment to authenticate.
      destroyUpgrade: false,
    });
    httpServer.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (!egressUpgrade(req, socket, head) && !req.url?.startsWith(`${io.path()}/`)) socket.destroy();
    });
    if (stores.redis) {
      const pub = stores.redis.duplicate();
      const sub = stores.redis.duplicate();
      io.adapter(createAdapter(pub, sub, { key: `${config.RCLAUDE_REDIS_PREFIX}:io` }));
      onClose('redis-adapter', async () => {
        pub.disconnect();
        sub.disconnect();
      });
    }
    onClose('socket.io', () => new Promise((r) => io.close(() => r(undefined))));
    const clients = io.of('/client') as ClientNamespace;
    const agents = io.of('/agent') as AgentNamespace;
    // Share links (docs/sharing.md): a `/client` handshake with `{ share }` is a viewer without an account.
    const presence = createPresence({
      ns: () => clients,
      ownerOf: async (sessionId) => {
        const session = await stores.sessions.get(sessionId);
        return session ? ((await stores.tasks.get(session.taskId))?.owner ?? null) : null;
      },
      log,
    });
    const shares = new ShareService({
      db: stores.db.pool,
      tasks: stores.tasks,
      viewers: createShareViewers(
        () => clients,
        () => presence,
      ),
      publicUrl: () => publicUrl,
      logger: log.child({ component: 'shares' }),
      now: deps.now ?? Date.now,
      timeline: (taskId, type, data) => transitions.event(taskId, type, data),
    });
    clients.use(
      createShareAwareSocketMiddleware({
        ns: () => clients,
        shares,
        originAllowed: auth.originAllowed,
        signedIn: auth.socketMiddleware,
        onError: (err) => log.error({ err }, 'share socket authentication failed'),
      }) as Parameters<typeof clients.use>[0],
    );

    const localAgentSocket = path.join(config.dataDir, 'run', 'agent.sock');
    const providers = new ProviderRegistry(config.RCLAUDE_PROVIDER, {
      local: () =>
        createLocalProvider({
          dataDir: config.dataDir,
          confinement: config.RCLAUDE_LOCAL_SANDBOX,
          agentSocket: localAgentSocket,
          log,
          sandboxUser: config.RCLAUDE_SANDBOX_USER,
          limits: sandboxLimits(config),
          diskCheckIntervalMs: config.RCLAUDE_SANDBOX_DISK_CHECK_MS,
          // A sandbox stopped for reaching a limit fails its task with the reason (parts exist by then).
          onFault: (sandboxId, reason) =>
            void parts?.launcher
              .sandboxFault(sandboxId, reason)
              .catch((err: unknown) => log.error({ err, sandboxId }, 'could not record a sandbox limit')),
        }),
      ...createProviderFactories(config, log),
      ...deps.providers,
    });
    providersRef = providers;
    onClose('providers', () => providers.close());
    // The cloud providers load their SDK here, and only when their settings are present.
    await providers.prepare();
    // Fail at start-up, not at the first task, when the default provider cannot work here.
    providers.get(config.RCLAUDE_PROVIDER);
    // Docker and confined local sandboxes have no network: their agents dial this server through a Unix socket
    // bound into them (one socket when both use the same path).
    const active = providers.active().map((p) => p.name);
    const agentSockets = new Set<string>();
    if (active.includes('local') && config.RCLAUDE_LOCAL_SANDBOX === 'bwrap') agentSockets.add(localAgentSocket);
    if (active.includes('docker')) agentSockets.add(path.resolve(config.RCLAUDE_DOCKER_AGENT_SOCKET));
    for (const socketPath of agentSockets) {
      const agentSocket = await listenAgentSocket(io, socketPath, { upgrade: egressUpgrade, request: agentRequest });
      onClose('agent-socket', () => agentSocket.close());
    }

    const rpc = createAgentRpc(agents);
    let publicUrl = config.RCLAUDE_PUBLIC_URL ?? '';
    const hub = new SessionHub({
      proxyId,
      sessions: stores.sessions,
      outputLog: stores.outputLog,
      bus: stores.bus,
      clients,
      agents,
      rpc,
      log,
      onSessionExit: (state, info) => (parts ? parts.agentSessions.onSessionExit(state, info) : Promise.resolve()),
      resolveState: (sessionId) =>
        parts ? parts.agentSessions.resolveSessionState(sessionId) : stores.sessions.get(sessionId),
      onBytesStored: (n) => metrics.bytesStored.inc(n),
      ...(deps.now ? { now: deps.now } : {}),
    });
    onClose('hub', () => hub.close());
    hubRef = hub;
    sandboxStore = stores.sandboxes;
    // Warm pool: local sandboxes started ahead of demand, each claimed by the next task (started after reconcile).
    const warmPool =
      config.RCLAUDE_WARM_POOL_SIZE > 0 && config.RCLAUDE_PROVIDER === 'local'
        ? new WarmPool({
            size: config.RCLAUDE_WARM_POOL_SIZE,
            provider: providers.get('local'),
            sandboxes: stores.sandboxes,
            proxyUrl: () => publicUrl,
            maxLifetimeMs: config.TASK_MAX_LIFETIME_MS,
            startupTokenTtlMs: config.AGENT_TOKEN_TTL_MS,
            log,
            registry: metrics.registry,
          })
        : null;
    if (warmPool) {
      agents.on('connection', (socket) => {
        const record = (socket.data as { record?: SandboxRecord }).record;
        if (record) warmPool.agentConnected(record, (done) => socket.once('disconnect', done));
      });
      onClose('warm-pool', () => warmPool.close());
    } else if (config.RCLAUDE_WARM_POOL_SIZE > 0) {
      log.warn(
        { provider: config.RCLAUDE_PROVIDER },
        'RCLAUDE_WARM_POOL_SIZE applies to the local provider only; no pool',
      );
    }
    parts = composeTasks({
      ...(warmPool ? { warmPool } : {}),
      proxyId,
      tasks: stores.tasks,
      sandboxes: stores.sandboxes,
      sessions: stores.sessions,
      outputLog: stores.outputLog,
      providers,
      hub,
      rpc,
      publisher: teePublisher(new RoomPublisher(clients), notifier),
      log,
      metrics,
      proxyUrl: () => publicUrl,
      // Model and git credentials never enter a sandbox: the egress gateway adds the model's to each model
      // request, and the proxy clones and pushes with the git ones (adr/0024).
      sessionEnv: async (userId) => sandboxSecrets(await auth.secrets.forSandbox(userId)),
      git: {
        secrets: (userId) => auth.secrets.forSandbox(userId),
        insteadOf: config.RCLAUDE_GIT_INSTEAD_OF,
        githubHost: githubHost(config.RCLAUDE_GITHUB_API_URL),
        decide: async (owner, host, port) => outbound.decide(host, port, await auth.allowHosts.forUser(owner)),
      },
      agentConnectTimeoutMs: config.AGENT_CONNECT_TIMEOUT_MS,
      agentReconnectGraceMs: config.AGENT_RECONNECT_GRACE_MS,
      maxLifetimeMs: config.TASK_MAX_LIFETIME_MS,
      finishTimeoutMs: config.RCLAUDE_FINISH_TIMEOUT_MS,
      startupTokenTtlMs: config.AGENT_TOKEN_TTL_MS,
      maxTasksPerUser: config.RCLAUDE_MAX_TASKS_PER_USER,
      cost,
      promptPermissionMode: config.RCLAUDE_PROMPT_PERMISSION_MODE,
      checkpoints: {
        records: stores.checkpoints,
        blobs: checkpointBlobs,
        timeoutMs: config.RCLAUDE_CHECKPOINT_TIMEOUT_MS,
        keepPerTask: config.RCLAUDE_CHECKPOINT_KEEP,
        maxAgeMs: config.RCLAUDE_CHECKPOINT_MAX_AGE_DAYS * 24 * 60 * 60_000,
        quotaBytes: config.RCLAUDE_CHECKPOINT_QUOTA_BYTES,
        collectOnPrune: config.RCLAUDE_CHECKPOINT_SWEEP_MS === 0,
        importMaxBytes: config.RCLAUDE_IMPORT_MAX_BYTES,
      },
      idleTimeoutMs: config.IDLE_TIMEOUT_MS,
      outputRetentionMs: config.RCLAUDE_OUTPUT_RETENTION_MS,
      pullRequests: {
        githubApiUrl: config.RCLAUDE_GITHUB_API_URL,
        publicUrl: () => publicUrl,
        secret: async (userId, name) => (await auth.secrets.forSandbox(userId))[name] ?? null,
      },
    });
    const {
      tasks: taskService,
      agentSessions,
      recorder,
      transitions,
      launcher,
      checkpoints,
      pullRequests,
      close: closeTasks,
    } = parts;
    onClose('tasks', async () => closeTasks());
    const lifecycle = new LifecycleService({
      tasks: stores.tasks,
      sessions: stores.sessions,
      outputLog: stores.outputLog,
      stop: (taskId, reason) => transitions.stopBySystem(taskId, reason),
      ...(checkpoints
        ? {
            hibernate: (taskId: string, reason: string) => transitions.hibernate(taskId, reason),
            checkpoint: (task: Task) => checkpoints.take(task, 'periodic'),
            checkpointIntervalMs: config.RCLAUDE_CHECKPOINT_INTERVAL_MS,
          }
        : {}),
      warn: (taskId, data) => transitions.event(taskId, 'info', data),
      warningMs: config.RCLAUDE_HIBERNATE_WARNING_MS,
      idleTimeoutMs: config.IDLE_TIMEOUT_MS,
      maxLifetimeMs: config.TASK_MAX_LIFETIME_MS,
      log,
    });
    onClose('lifecycle', async () => lifecycle.close());
    // One proxy at a time (a lease in the database) expires old checkpoints and frees unreferenced blobs.
    const checkpointSweeper = checkpoints
      ? new CheckpointSweeper({
          db: stores.db.pool,
          records: stores.checkpoints,
          checkpoints,
          log,
          intervalMs: config.RCLAUDE_CHECKPOINT_SWEEP_MS,
        })
      : null;
    checkpointSweeper?.start();
    if (checkpointSweeper) onClose('checkpoint-sweeper', () => checkpointSweeper.close());
    const approvals = new ApprovalService({
      approvals: stores.approvals,
      tasks: stores.tasks,
      timeline: (taskId, type, data) => transitions.event(taskId, type, data),
      toAgent: (sandboxId, answer) => agents.to(rooms.sandbox(sandboxId)).emit('approval:answer', answer),
      timeoutMs: config.RCLAUDE_APPROVAL_TIMEOUT_MS,
      sweepMs: Math.min(5000, config.RCLAUDE_APPROVAL_TIMEOUT_MS),
      log,
    });
    onClose('approvals', async () => approvals.close());
    registerAgentGateway({
      ns: agents,
      rpc,
      agentSessions,
      recorder,
      sessions: stores.sessions,
      hub,
      log,
      metrics,
      limits: {
        ...defaultAgentLimits,
        messagesPerSec: config.AGENT_MAX_MESSAGES_PER_SEC,
        bytesPerSec: config.AGENT_MAX_BYTES_PER_SEC,
        eventMaxBytes: config.AGENT_MAX_EVENT_BYTES,
        pendingMaxBytes: config.AGENT_MAX_PENDING_BYTES,
        queuedEventsMax: config.AGENT_MAX_QUEUED_EVENTS,
        cooldownBaseMs: config.AGENT_RECONNECT_COOLDOWN_MS,
        cooldownMaxMs: Math.max(config.AGENT_RECONNECT_COOLDOWN_MAX_MS, config.AGENT_RECONNECT_COOLDOWN_MS),
      },
      egressKey: (sandboxId) => egressKeyFor(egressSecret, sandboxId),
      approvals,
      approvalTimeoutMs: config.RCLAUDE_APPROVAL_TIMEOUT_MS,
    });
    registerClientGateway({
      ns: clients,
      tasks: taskService,
      hub,
      log,
      metrics,
      inputBytesPerSec: config.INPUT_MAX_BYTES_PER_SEC,
      presence,
      shareViewer: (socket, share) =>
        serveShareViewer(socket, share, {
          hub,
          resolveSession: (sessionId) => agentSessions.resolveSessionState(sessionId),
          log,
          metrics,
          now: deps.now ?? Date.now,
          isActive: (shareId) => shares.isActive(shareId),
          mayDrive: (shareId, userId) => shares.mayDrive(shareId, userId),
          requestDrive: (shareId, user) => shares.requestDrive(shareId, user),
          noteInput: (sessionId) => taskService.noteInput(sessionId),
          presence,
          inputBytesPerSec: config.INPUT_MAX_BYTES_PER_SEC,
        }),
    });

    const sessionEnv = async (userId: string) => sandboxSecrets(await auth.secrets.forSandbox(userId));
    tunnels = createTunnelGateway({
      secret: egressSecret,
      authenticate: (headers) => auth.authenticateUpgrade(headers),
      resolve: async (caller, taskId) => {
        const { sandboxId } = await taskService.runningSandbox(caller, taskId);
        return { sandboxId, owner: (await taskService.get(caller, taskId)).owner };
      },
      sessionEnv,
      rpc,
      maxPerTask: config.RCLAUDE_MAX_TUNNELS_PER_TASK,
      maxPerUser: config.RCLAUDE_MAX_TUNNELS_PER_USER,
      log,
    });
    const tunnelGateway = tunnels;
    onClose('tunnels', () => tunnelGateway.close());
    previews = createPortPreviews({
      serverSecretKey: secretKey,
      tunnels: tunnelGateway,
      publicUrl: () => publicUrl,
      ttlMs: config.RCLAUDE_PREVIEW_LINK_TTL_MS,
      ...(deps.now ? { now: deps.now } : {}),
      log,
    });
    const portPreviews = previews;

    const routeTable = await loadRouteSchemas();
    const openapi = buildOpenApi(routeTable);
    const app = createApp({
      routes: routeTable,
      tasks: taskService,
      ...(pullRequests ? { pullRequests } : {}),
      auth,
      metrics,
      log,
      approvals: createApprovalHandlers(approvals),
      files: createFileHandlers({
        resolveSandbox: (req, taskId) => taskService.runningSandbox(requireAuth(req), taskId),
        checkpointFiles: (req, taskId) => taskService.checkpointFiles(requireAuth(req), taskId),
        rpc,
      }),
      ports: createPortHandlers({
        running: (caller, taskId) => taskService.runningSandbox(caller, taskId),
        link: (caller, taskId, port) => portPreviews.link(caller, taskId, port),
      }),
      openapi: () => openapi,
      ready: async (): Promise<Record<string, HealthCheck>> => {
        const h = await stores.health();
        return h.redis ? { database: h.db, redis: h.redis } : { database: h.db };
      },
      webDir: findWebDir(),
      agentBootstrap: (sandboxId, bootstrap) => agentSessions.exchangeBootstrap(sandboxId, bootstrap),
      hsts: config.RCLAUDE_COOKIE_SECURE,
      trustProxy: config.RCLAUDE_TRUST_PROXY,
      metricsToken: config.RCLAUDE_METRICS_TOKEN ?? null,
      shares: createShareHandlers({
        shares,
        originAllowed: auth.originAllowed,
        limiter: createLoginLimiter({
          redis: stores.redis,
          keyPrefix: `${stores.redis ? `${config.RCLAUDE_REDIS_PREFIX}:` : 'rclaude:'}share-view:`,
          limits: shareViewLimits,
          now: deps.now ?? Date.now,
        }),
      }),
      push: createPushHandlers(notifier),
    });
    handler = deps.wrapApp ? deps.wrapApp(app) : app;
    await new Promise<void>((resolve, reject) => {
      httpServer.once('error', reject);
      httpServer.listen(config.PORT, config.HOST, () => resolve());
    });
    const connections = new Set<Socket>();
    httpServer.on('connection', (socket: Socket) => {
      connections.add(socket);
      socket.once('close', () => connections.delete(socket));
    });
    onClose(
      'http',
      () =>
        new Promise((r) => {
          httpServer.close(() => r(undefined));
          httpServer.closeAllConnections();
          // Upgraded connections (the WebSockets of agents, browsers and egress tunnels) are no longer HTTP
          // connections: closeAllConnections leaves them open, and close() would wait for them forever.
          for (const socket of connections) socket.destroy();
        }),
    );
    const { port } = httpServer.address() as AddressInfo;
    const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    publicUrl = config.RCLAUDE_PUBLIC_URL ?? url;

    const reconciled = await launcher.reconcile();
    if (reconciled.stopped || reconciled.failed) log.info(reconciled, 'reconciled sandboxes after start-up');
    warmPool?.start();
    lifecycle.start();
    approvals.start();
    notifier.start();

    const admin = await auth.ensureAdmin();
    const previous = readLocalState(config.dataDir);
    const token =
      previous?.token && (await auth.verifyToken(previous.token))?.userId === admin.id
        ? previous.token
        : await auth.issueToken(admin.id, 'local login (rclaude server)');
    // A CLI on this machine (or in this container) reaches the server where it listens: the public URL may be a
    // port mapped on another host (compose's RCLAUDE_PORT, a load balancer) that does not exist here.
    writeLocalState(config.dataDir, { url, token, pid: process.pid });
    onClose('local-state', async () => {
      if (readLocalState(config.dataDir)?.pid === process.pid) writeLocalState(config.dataDir, { url, token, pid: 0 });
    });
    log.info(
      {
        url: publicUrl,
        provider: config.RCLAUDE_PROVIDER,
        database: stores.db.kind,
        redis: redisRedact(config.REDIS_URL),
      },
      'rclaude server ready',
    );
    return {
      url: publicUrl,
      createLoginUrl: async () => {
        const link = await auth.issueLoginLink(admin.id);
        return { url: loginLinkUrl(publicUrl, link.token), expiresAt: link.expiresAt };
      },
      token,
      proxyId,
      config,
      log,
      stores,
      auth,
      metrics,
      providers,
      hub,
      tasks: taskService,
      approvals,
      lifecycle,
      checkpoints,
      checkpointSweeper,
      notifier,
      warmPool,
      io,
      httpServer,
      app,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** A user's secrets as a sandbox may see them: without the model and git credentials the server keeps. */
function sandboxSecrets(secrets: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(secrets).filter(([name]) => !isProxyOnlySecret(name)));
}

function findWebDir(): string | null {
  try {
    const require = createRequire(import.meta.url);
    return path.join(path.dirname(require.resolve('@rclaude/web/package.json')), 'dist');
  } catch {
    return null;
  }
}
