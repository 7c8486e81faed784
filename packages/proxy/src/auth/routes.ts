import type { UserAllowHostService } from '../egress/user-allow-hosts.js';
import type { Handlers, TaggedRouteName } from '../http/mount-routes.js';
import type { ApiTokenService } from './api-tokens.js';
import { type BrowserSessionService, SESSION_COOKIE } from './browser-sessions.js';
import type { BrowserSignIn } from './browser-sign-in.js';
import type { LoginService } from './login.js';
import type { LoginLinkService } from './login-links.js';
import { sessionIdOf } from './middleware.js';
import type { SecretService } from './secrets.js';
import type { UserService } from './users.js';

/** The handlers of the account routes (tag `accounts` in the protocol's route table). */
export type AuthHandlers = Handlers<TaggedRouteName<'accounts'>>;

/**
 * Handlers for accounts: sign-in, login links, browser sessions, users, API tokens, secrets,
 * egress allow-list additions. Each calls one service
 * function and maps the answer; input is validated by the route adapter, errors go to the error middleware.
 */
export function createAuthHandlers(deps: {
  login: LoginService;
  signIn: BrowserSignIn;
  links: LoginLinkService;
  users: UserService;
  tokens: ApiTokenService;
  sessions: BrowserSessionService;
  secrets: SecretService;
  allowHosts: UserAllowHostService;
  cookieSecure: boolean;
}): AuthHandlers {
  const { login, signIn, links, users, tokens, sessions, secrets, allowHosts, cookieSecure } = deps;
  const cookieOptions = { httpOnly: true, sameSite: 'strict', secure: cookieSecure, path: '/' } as const;

  return {
    login: async ({ body }, { req }) => login.login(body, req.ip),
    createBrowserSession: async ({ body }, { req, res }) => {
      const { sessionId, user, csrfToken } = await signIn(body, {
        address: req.ip,
        currentSessionId: sessionIdOf(req),
      });
      res.cookie(SESSION_COOKIE, sessionId, { ...cookieOptions, maxAge: sessions.ttlMs });
      return { user, csrfToken };
    },
    createLoginLink: async (_input, ctx) => links.issue(ctx.auth().userId),
    getBrowserSession: async (_input, ctx) => sessions.describe(ctx.auth(), sessionIdOf(ctx.req)),
    endBrowserSession: async (_input, ctx) => {
      ctx.auth();
      await sessions.end(sessionIdOf(ctx.req));
      ctx.res.clearCookie(SESSION_COOKIE, cookieOptions);
    },
    me: async (_input, ctx) => users.me(ctx.auth()),
    listUsers: async (_input, ctx) => ({ users: await users.list(ctx.auth()) }),
    createUser: async ({ body }, ctx) => users.create(ctx.auth(), body),
    setPassword: async ({ params, body }, ctx) => users.setPassword(ctx.auth(), params.id, body.password),
    listTokens: async (_input, ctx) => ({ tokens: await tokens.list(ctx.auth()) }),
    createToken: async ({ body }, ctx) => tokens.issue(ctx.auth().userId, body.name),
    revokeToken: async ({ params }, ctx) => tokens.revoke(ctx.auth(), params.id),
    listSecrets: async (_input, ctx) => ({ secrets: await secrets.list(ctx.auth()) }),
    putSecret: async ({ params, body }, ctx) => secrets.put(ctx.auth(), params.name, body.value),
    deleteSecret: async ({ params }, ctx) => secrets.remove(ctx.auth(), params.name),
    listAllowHosts: async (_input, ctx) => ({ hosts: await allowHosts.list(ctx.auth()) }),
    addAllowHost: async ({ body }, ctx) => allowHosts.add(ctx.auth(), body.host),
    removeAllowHost: async ({ params }, ctx) => allowHosts.remove(ctx.auth(), params.host),
  };
}
