import { AppError, type ErrorBody } from '@rclaude/protocol';
import type { ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';
import { withoutServerPaths } from '../services/start-failure.js';

/** body-parser's errors carry an HTTP status and a `type` such as `entity.parse.failed`. */
function bodyParserError(err: unknown): { status: number; type: string } | null {
  if (typeof err !== 'object' || err === null) return null;
  const { status, type } = err as { status?: unknown; type?: unknown };
  return typeof status === 'number' && typeof type === 'string' ? { status, type } : null;
}

/**
 * The one mapping of what a request can fail with to an AppError: an AppError as it is, a body-parser
 * failure (malformed JSON, an oversized or unreadable body) as BAD_REQUEST or PAYLOAD_TOO_LARGE, and
 * anything else as null (an internal error).
 */
export function toAppError(err: unknown): AppError | null {
  if (err instanceof AppError) return err;
  const parser = bodyParserError(err);
  if (!parser || parser.status < 400 || parser.status >= 500) return null;
  if (parser.type === 'entity.parse.failed') return new AppError('BAD_REQUEST', 'the body is not valid JSON');
  if (parser.type === 'entity.too.large') return new AppError('PAYLOAD_TOO_LARGE', 'the body is too large');
  return new AppError('BAD_REQUEST', `the body could not be read (${parser.type})`);
}

/**
 * The one place errors become responses: an AppError gets its status and `{error:{code,message,details}}`;
 * a body-parser failure (malformed JSON, oversized body) a 4xx in the same shape; anything else a 500
 * INTERNAL whose detail is logged and never sent (the answer carries only the request id, as
 * `details.requestId`). RATE_LIMITED answers carry `Retry-After` when the error's details have
 * `retryAfterSeconds`. Logs name the path, never the query string or body.
 */
export function errorMiddleware(logger: Logger): ErrorRequestHandler {
  return (err, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const appError = toAppError(err);
    // Set by the app for every request; answered with an internal error so a report can be found in the log.
    const requestId: unknown = res.locals.requestId;
    const where = {
      method: req.method,
      path: `${req.baseUrl}${req.path}`,
      ...(typeof requestId === 'string' ? { reqId: requestId } : {}),
    };
    if (!appError) {
      logger.error({ ...where, err }, 'request failed');
      const body: ErrorBody = {
        error: {
          code: 'INTERNAL',
          message: 'internal error',
          ...(typeof requestId === 'string' ? { details: { requestId } } : {}),
        },
      };
      res.status(500).json(body);
      return;
    }
    if (appError.status >= 500) logger.error({ ...where, code: appError.code, err: appError }, 'request failed');
    else logger.info({ ...where, code: appError.code, status: appError.status }, 'request refused');
    const details = appError.details as { retryAfterSeconds?: unknown } | undefined;
    if (appError.code === 'RATE_LIMITED' && typeof details?.retryAfterSeconds === 'number') {
      res.setHeader('Retry-After', String(details.retryAfterSeconds));
    }
    const info = appError.toInfo();
    // A sandbox start failure may quote a provider's or a tool's words with server paths in them: the answer
    // says the reason without them, and the request id of the log line above, which keeps the whole detail.
    const body: ErrorBody =
      appError.code === 'SANDBOX_START_FAILED'
        ? {
            error: {
              ...info,
              message: withoutServerPaths(info.message),
              details: {
                ...(info.details as object | undefined),
                ...(typeof requestId === 'string' ? { requestId } : {}),
              },
            },
          }
        : { error: info };
    res.status(appError.status).json(body);
  };
}
