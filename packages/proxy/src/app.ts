import fs from 'node:fs';
import path from 'node:path';
import { AppError, type ErrorCode } from '@rclaude/protocol';
import express, { type ErrorRequestHandler, type Express, type RequestHandler, type Router } from 'express';
import type { Logger } from 'pino';
import type { Auth } from './auth/create-auth.js';
import { errorMiddleware } from './auth/error-middleware.js';
import { createSessionsRouter } from './http/sessions-routes.js';
import { createTasksRouter } from './http/tasks-routes.js';
import { createUsageRouter } from './http/usage-routes.js';
import type { Metrics } from './metrics.js';
import type { TaskService } from './services/task-service.js';

export interface AppDeps {
  tasks: TaskService;
  auth: Auth;
  metrics: Metrics;
  log: Logger;
  /** Router for `/api/tasks/:id/files` (mounted before the JSON body parser: it takes raw bodies). */
  files: Router | null;
  /** Extra public routes (the OpenAPI document). */
  openapi: () => unknown;
  /** Resolves when Postgres and Redis answer; rejects with what is down. */
  ready: () => Promise<Record<string, { ok: boolean; error?: string }>>;
  /** Built web app to serve at `/`, or null. */
  webDir: string | null;
}

/** The Express app: health, metrics, the REST API, and the web app. No listen here. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');

  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/readyz', async (_req, res) => {
    const checks = await deps.ready();
    const ok = Object.values(checks).every((c) => c.ok);
    res.status(ok ? 200 : 503).json({ ok, checks });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  app.get('/api/openapi.json', (_req, res) => {
    res.json(deps.openapi());
  });

  app.use('/api', requestLog(deps.log));
  app.use('/api', deps.auth.middleware);
  if (deps.files) app.use('/api/tasks/:id/files', deps.files);
  app.use('/api', express.json({ limit: '1mb' }));
  app.use('/api', deps.auth.router);
  app.use('/api/tasks', createTasksRouter(deps.tasks));
  app.use('/api/sessions', createSessionsRouter(deps.tasks));
  app.use('/api/usage', createUsageRouter(deps.tasks));
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

  app.use(countErrors(deps.metrics));
  app.use(errorMiddleware(deps.log));
  return app;
}

/** Counts every error a request ends with, by the code its answer carries, then hands it to the error middleware. */
function countErrors(metrics: Metrics): ErrorRequestHandler {
  return (err, _req, _res, next) => {
    metrics.errors.inc({ code: errorCodeOf(err) });
    next(err);
  };
}

function errorCodeOf(err: unknown): ErrorCode {
  if (err instanceof AppError) return err.code;
  // body-parser's errors carry a 4xx status; the error middleware answers them with these codes.
  const status = typeof err === 'object' && err !== null ? (err as { status?: unknown }).status : undefined;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return status === 413 ? 'PAYLOAD_TOO_LARGE' : 'BAD_REQUEST';
  }
  return 'INTERNAL';
}

function requestLog(log: Logger): RequestHandler {
  return (req, res, next) => {
    const started = performance.now();
    const id = req.get('x-request-id')?.slice(0, 64) ?? crypto.randomUUID();
    res.setHeader('x-request-id', id);
    res.on('finish', () => {
      log.info(
        {
          reqId: id,
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
