import {
  apiTokenIdSchema,
  createApiTokenRequestSchema,
  createBrowserSessionRequestSchema,
  createUserRequestSchema,
  loginRequestSchema,
  putSecretRequestSchema,
  secretNameSchema,
  setPasswordRequestSchema,
  userIdSchema,
} from '@rclaude/protocol';
import express, { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { requireAuth } from '../http/context.js';
import { parseInput } from '../http/validate.js';
import type { ApiTokenService } from './api-tokens.js';
import { type BrowserSessionService, SESSION_COOKIE } from './browser-sessions.js';
import type { LoginService } from './login.js';
import { sessionIdOf } from './middleware.js';
import type { SecretService } from './secrets.js';
import type { UserService } from './users.js';

/** None of these routes takes a query string; an unexpected one is a client bug worth reporting. */
const noQuerySchema = z.object({}).strict();
const userParamsSchema = z.object({ id: userIdSchema }).strict();
const tokenParamsSchema = z.object({ id: apiTokenIdSchema }).strict();
const secretParamsSchema = z.object({ name: secretNameSchema }).strict();

/** JSON bodies here are small; the largest is a 64 KiB secret value. */
const JSON_LIMIT = '100kb';

/**
 * `/api` routes for accounts: sign-in, browser sessions, users, API tokens, secrets. Each parses its
 * input with the protocol schemas, calls one service function and maps the answer; errors go to the
 * error middleware.
 */
export function createAuthRouter(deps: {
  login: LoginService;
  users: UserService;
  tokens: ApiTokenService;
  sessions: BrowserSessionService;
  secrets: SecretService;
  cookieSecure: boolean;
}): Router {
  const { login, users, tokens, sessions, secrets, cookieSecure } = deps;
  const router = Router();
  // Per route, not router.use: this router sits on /api, and other routes' bodies are not ours to parse.
  const json = express.json({ limit: JSON_LIMIT });

  const noQuery = (req: Request) => parseInput(noQuerySchema, req.query, 'query');
  const cookieOptions = { httpOnly: true, sameSite: 'strict', secure: cookieSecure, path: '/' } as const;
  const noContent = (res: Response) => res.status(204).end();

  router.post('/auth/login', json, async (req, res) => {
    noQuery(req);
    const input = parseInput(loginRequestSchema, req.body, 'body');
    res.json(await login(input, req.ip));
  });

  router.post('/auth/session', json, async (req, res) => {
    noQuery(req);
    const { token } = parseInput(createBrowserSessionRequestSchema, req.body, 'body');
    const { sessionId, user, csrfToken } = await sessions.create(token);
    res.cookie(SESSION_COOKIE, sessionId, { ...cookieOptions, maxAge: sessions.ttlMs });
    res.json({ user, csrfToken });
  });

  router.get('/auth/session', async (req, res) => {
    noQuery(req);
    res.json(await sessions.describe(requireAuth(req), sessionIdOf(req)));
  });

  router.delete('/auth/session', async (req, res) => {
    noQuery(req);
    requireAuth(req);
    await sessions.end(sessionIdOf(req));
    res.clearCookie(SESSION_COOKIE, cookieOptions);
    noContent(res);
  });

  router.get('/me', async (req, res) => {
    noQuery(req);
    res.json(await users.me(requireAuth(req)));
  });

  router.get('/users', async (req, res) => {
    noQuery(req);
    res.json({ users: await users.list(requireAuth(req)) });
  });

  router.post('/users', json, async (req, res) => {
    noQuery(req);
    const input = parseInput(createUserRequestSchema, req.body, 'body');
    res.status(201).json(await users.create(requireAuth(req), input));
  });

  router.put('/users/:id/password', json, async (req, res) => {
    noQuery(req);
    const { id } = parseInput(userParamsSchema, req.params, 'path');
    const { password } = parseInput(setPasswordRequestSchema, req.body, 'body');
    await users.setPassword(requireAuth(req), id, password);
    noContent(res);
  });

  router.get('/tokens', async (req, res) => {
    noQuery(req);
    res.json({ tokens: await tokens.list(requireAuth(req)) });
  });

  router.post('/tokens', json, async (req, res) => {
    noQuery(req);
    const { name } = parseInput(createApiTokenRequestSchema, req.body, 'body');
    res.status(201).json(await tokens.issue(requireAuth(req).userId, name));
  });

  router.delete('/tokens/:id', async (req, res) => {
    noQuery(req);
    const { id } = parseInput(tokenParamsSchema, req.params, 'path');
    await tokens.revoke(requireAuth(req), id);
    noContent(res);
  });

  router.get('/secrets', async (req, res) => {
    noQuery(req);
    res.json({ secrets: await secrets.list(requireAuth(req)) });
  });

  router.put('/secrets/:name', json, async (req, res) => {
    noQuery(req);
    const { name } = parseInput(secretParamsSchema, req.params, 'path');
    const { value } = parseInput(putSecretRequestSchema, req.body, 'body');
    res.json(await secrets.put(requireAuth(req), name, value));
  });

  router.delete('/secrets/:name', async (req, res) => {
    noQuery(req);
    const { name } = parseInput(secretParamsSchema, req.params, 'path');
    await secrets.remove(requireAuth(req), name);
    noContent(res);
  });

  return router;
}
