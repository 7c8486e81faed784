import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { AppError, type LoadedRoutes, routeNames, routes } from '@rclaude/protocol';
import express, { type ErrorRequestHandler, type Express, type RequestHandler } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Auth } from './auth/create-auth.js';
import { errorMiddleware, toAppError } from './auth/error-middleware.js';
import type { TrustProxy } from './config.js';
import type { ApprovalHandlers } from './http/approval-handlers.js';
import type { FileHandlers } from './http/files-routes.js';
import { type Handlers, mountRoutes, type TaggedRouteName } from './http/mount-routes.js';
import type { PortHandlers } from './http/port-handlers.js';
import { securityHeaders } from './http/security-headers.js';
import { noShares, type ShareHandlers } from './http/share-handlers.js';
import { createTaskHandlers } from './http/task-handlers.js';
import type { Metrics } from './metrics.js';
import type { PullRequestService } from './services/pull-requests.js';
import type { TaskService } from './services/task-service.js';

export interface AppDeps {
  /** The protocol's route table with every schema loaded (`loadRouteSchemas`): what requests are validated with. */
  routes: LoadedRoutes;
  tasks: TaskService;
  /** Pushes and pull requests of tasks; none: those routes answer INTERNAL. */
  pullRequests?: PullRequestService;
  auth: Auth;
  metrics: Metrics;
  log: Logger;
  /** Handlers of the approval routes (`createApprovalHandlers`); absent: they answer 404. */
  approvals?: ApprovalHandlers;
  /** Handlers of the file routes (`createFileHandlers`), or null for a server that serves no files. */
  files: FileHandlers | null;
  /** The OpenAPI document. */
  openapi: () => unknown;
  /** Each dependency's check (Postgres, Redis); `error` is logged, never sent. */
  ready: () => Promise<Record<string, { ok: boolean; error?: string }>>;
  /** Built web app to serve at `/`, or null. */
  webDir: string | null;
  /** Handlers of the port routes (`createPortHandlers`); absent: the routes answer TASK_NOT_RUNNING. */
  ports?: PortHandlers;
  /** Exchanges an agent's one-time bootstrap reference for its token (AgentSessions.exchangeBootstrap). */
  agentBootstrap?: (sandboxId: string, bootstrap: string) => Promise<{ token: string }>;
  /** Send Strict-Transport-Security: the server is reached over https (RCLAUDE_COOKIE_SECURE). Default false. */
  hsts?: boolean;
  /**
   * Peers trusted to name the client in X-Forwarded-For (RCLAUDE_TRUST_PROXY). Default false: `req.ip` is the
   * peer's own address, whatever headers it sends.
   */
  trustProxy?: TrustProxy;
  /** The bearer token `/metrics` asks for (RCLAUDE_METRICS_TOKEN); null or absent: `/metrics` answers 404. */
  metricsToken?: string | null;
  /** Handlers of the share-link routes (`createShareHandlers`); absent: they answer NOT_FOUND. */
  shares?: ShareHandlers;
  /** Handlers of the Web Push routes (`createPushHandlers`); absent: those routes answer NOT_FOUND. */
  push?: Handlers<TaggedRouteName<'notifications'>>;
}

/** This server's version, from its package.json (one level above both `src/` and `dist/`). */
const serverVersion = z
  .object({ version: z.string() })
  .parse(createRequire(import.meta.url)('../package.json')).version;

/**
 * `/metrics` is for a scraper holding RCLAUDE_METRICS_TOKEN (as `Authorization: Bearer <token>`). Without a
 * token configured the route answers 404 like an unknown one: metrics name tasks' providers, counts and timings,
 * nothing a stranger (or a sandbox, which reaches this port) needs to see.
 */
function metricsTokenCheck(token: string | null): (authorization: string | undefined) => void {
  const expected = token === null ? null : createHash('sha256').update(token).digest();
  return (authorization) => {
    if (expected === null) throw new AppError('NOT_FOUND', 'no route GET /metrics');
    const presented = /^Bearer (\S+)$/i.exec(authorization ?? '')?.[1] ?? '';
    // Compared as digests: equal lengths, and the time taken says nothing about the token.
    if (!timingSafeEqual(createHash('sha256').update(presented).digest(), expected)) {
      throw new AppError('UNAUTHENTICATED', 'GET /metrics needs Authorization: Bearer <RCLAUDE_METRICS_TOKEN>');
    }
  };
}

/** Every route of the protocol's table has its handler here; a missing one does not compile. */
function handlersOf(deps: AppDeps): Handlers {
  const checkMetricsToken = metricsTokenCheck(deps.metricsToken ?? null);
  return {
    health: async () => ({ ok: true }) as const,
    ready: async (_input, ctx) => {
      const checks = await deps.ready();
      const failed = Object.entries(checks).filter(([, c]) => !c.ok);
      if (failed.length > 0) {
        // What failed and why goes to the log; the unauthenticated answer says only which part is not ready.
        deps.log.warn(
          { checks: Object.fromEntries(failed.map(([name, c]) => [name, c.error ?? 'not ready'])) },
          'not ready',
        );
        ctx.status(503);
      }
      return {
        ok: failed.length === 0,
        checks: Object.fromEntries(Object.entries(checks).map(([name, c]) => [name, { ok: c.ok }])),
      };
    },
    metrics: async (_input, { req, res }) => {
      checkMetricsToken(req.get('authorization'));
      res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
    },
    openapi: async () => deps.openapi(),
    version: async () => ({ version: serverVersion }),
    agentBootstrap: async ({ body }) => {
      if (!deps.agentBootstrap) throw new AppError('UNAUTHENTICATED', 'this server takes no agent bootstraps');
      return deps.agentBootstrap(body.sandboxId, body.bootstrap);
    },
    ...deps.auth.handlers,
    ...createTaskHandlers(deps.tasks, deps.pullRequests ?? null),
    ...(deps.approvals ?? noApprovals),
    ...(deps.files ?? noFiles),
    ...(deps.shares ?? noShares),
    ...(deps.ports ?? noPorts),
    ...(deps.push ?? noPush),
  };
}

const noApprovals: ApprovalHandlers = (() => {
  const refuse = async (): Promise<never> => {
    throw new AppError('NOT_FOUND', 'this server keeps no approvals');
  };
  return { listApprovals: refuse, answerApproval: refuse, listMyApprovals: refuse, getApproval: refuse };
})();

const noFiles: FileHandlers = (() => {
  const refuse = async (): Promise<never> => {
    throw new AppError('AGENT_UNAVAILABLE', 'this server does not serve workspace files');
  };
  return {
    listFiles: refuse,
    readFile: refuse,
    writeFile: refuse,
    deleteFile: refuse,
    uploadFiles: refuse,
    downloadFile: refuse,
    renameFile: refuse,
    syncManifest: refuse,
    syncChanges: refuse,
    syncApply: refuse,
  };
})();

const noPorts: PortHandlers = {
  createPortPreview: async () => {
    throw new AppError('TASK_NOT_RUNNING', 'this server does not serve ports');
  },
};
const noPush: Handlers<TaggedRouteName<'notifications'>> = (() => {
  const refuse = async (): Promise<never> => {
    throw new AppError('NOT_FOUND', 'this server sends no push notifications');
  };
  return {
    getPushConfig: refuse,
    listPushSubscriptions: refuse,
    createPushSubscription: refuse,
    updatePushSubscription: refuse,
    deletePushSubscription: refuse,
    testPush: refuse,
  };
})();

/** The Express app: health, metrics, the REST API of the protocol's route table, and the web app. No listen. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // Who the client is (`req.ip`, which the sign-in limiter counts by) comes from X-Forwarded-For only when the
  // peer is a trusted proxy. Never by default: a local sandbox reaches this server over loopback, so trusting
  // loopback would let it pose as any address.
  const trustProxy = deps.trustProxy ?? false;
  app.set('trust proxy', trustProxy);
  const handlers = handlersOf(deps);

  app.use(securityHeaders({ hsts: deps.hsts ?? false }));
  if (trustProxy === false) app.use(warnForwardedOnce(deps.log));

  app.use(requestId());
  app.use('/api', requestLog(deps.log));
  // Health, readiness, metrics and the OpenAPI document answer before (and without) authentication; the
  // auth middleware lets the public sign-in routes through itself. The public share-link view comes first too:
  // its credential is the link's secret, and its handler checks the Origin itself.
  const beforeAuth = routeNames.filter(
    (name) => routes[name].auth === 'public' && (routes[name].tag === 'operations' || routes[name].tag === 'shares'),
  );
  mountRoutes(app, beforeAuth, handlers, deps.routes);
  app.use('/api', deps.auth.middleware);
  mountRoutes(
    app,
    routeNames.filter((name) => !beforeAuth.includes(name)),
    handlers,
    deps.routes,
  );
  app.use('/api', (req, _res, next) => {
    next(new AppError('NOT_FOUND', `no route ${req.method} ${req.originalUrl.split('?')[0]}`));
  });

  if (deps.webDir && fs.existsSync(path.join(deps.webDir, 'index.html'))) {
    const webDir = deps.webDir;
    app.use(express.static(webDir, { index: false, maxAge: '1h' }));
    // Client-side routes all render the app shell.
    app.get(/^\/(?!api\/|socket\.io\/).*/, (_req, res) => {
      res.setHeader('Cache-Control', 'no-store');
      res.sendFile(path.join(webDir, 'index.html'));
    });
  }

  app.use(clientErrors());
  app.use(countErrors(deps.metrics));
  app.use(errorMiddleware(deps.log));
  return app;
}

/**
 * Express's own 4xx failures (a path parameter that is not valid percent-encoding, a file the static middleware
 * refuses) are the client's: they become BAD_REQUEST or NOT_FOUND in the error shape, not internal errors
 * logged as failures. Body-parser's are already mapped by toAppError.
 */
function clientErrors(): ErrorRequestHandler {
  return (err, _req, _res, next) => {
    if (typeof err !== 'object' || err === null || err instanceof AppError || toAppError(err)) return next(err);
    const { status, expose } = err as { status?: unknown; expose?: unknown };
    // Only the router's (a URIError with a status) and http-errors' (with `expose`): a provider SDK's error
    // carrying its upstream's 4xx is still ours to answer as internal.
    if (!(err instanceof URIError) && typeof expose !== 'boolean') return next(err);
    if (typeof status !== 'number' || status < 400 || status >= 500) return next(err);
    next(
      status === 404
        ? new AppError('NOT_FOUND', 'not found')
        : new AppError('BAD_REQUEST', 'the request could not be read (a malformed path or header)'),
    );
  };
}

/** Counts every error a request ends with, by the code its answer carries, then hands it to the error middleware. */
function countErrors(metrics: Metrics): ErrorRequestHandler {
  return (err, _req, _res, next) => {
    metrics.errors.inc({ code: toAppError(err)?.code ?? 'INTERNAL' });
    next(err);
  };
}

/**
 * Says once that requests arrive through a proxy this server does not trust: behind a load balancer every
 * client then has the balancer's address, and sign-in throttling by address counts them all as one.
 */
function warnForwardedOnce(log: Logger): RequestHandler {
  let warned = false;
  return (req, _res, next) => {
    if (!warned && req.headers['x-forwarded-for'] !== undefined) {
      warned = true;
      log.warn(
        { peer: req.socket.remoteAddress },
        "a request carries X-Forwarded-For but RCLAUDE_TRUST_PROXY is off: client addresses are the peer's own " +
          '(behind a load balancer, set RCLAUDE_TRUST_PROXY to its CIDR)',
      );
    }
    next();
  };
}

/**
 * Gives every request an id (`res.locals.requestId`, answered as `X-Request-Id`): the caller's own when it is a
 * plain token, else a new one. Logs carry it, and an internal error's answer names it, so a report can be matched
 * with the log.
 */
function requestId(): RequestHandler {
  return (req, res, next) => {
    const given = req.get('x-request-id');
    const id = given && /^[A-Za-z0-9._:-]{1,64}$/.test(given) ? given : randomUUID();
    res.locals.requestId = id;
    res.setHeader('x-request-id', id);
    next();
  };
}

function requestLog(log: Logger): RequestHandler {
  return (req, res, next) => {
    const started = performance.now();
    res.on('finish', () => {
      log.info(
        {
          reqId: res.locals.requestId,
          method: req.method,
          path: req.path,
          status: res.statusCode,
          ms: Math.round(performance.now() - started),
        },
        'request',
      );
    });
    next();
  };
}
