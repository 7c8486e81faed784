import { z } from 'zod';

export const userRoleSchema = z.enum(['admin', 'user']);
export type UserRole = z.infer<typeof userRoleSchema>;

export const usernameSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{1,31}$/, 'a username is 2 to 32 lowercase letters, digits, _ or -, starting with a letter');
export const passwordSchema = z.string().min(8, 'a password has at least 8 characters').max(1024);

export const userSchema = z.object({
  id: z.string(),
  username: z.string(),
  role: userRoleSchema,
  createdAt: z.string(),
});
export type User = z.infer<typeof userSchema>;

export const loginRequestSchema = z
  .object({ username: z.string().min(1).max(64), password: z.string().min(1).max(1024) })
  .strict();
export const loginResponseSchema = z.object({ token: z.string(), user: userSchema });
export type LoginResponse = z.infer<typeof loginResponseSchema>;

/**
 * Browser sign-in, to an httpOnly session cookie: with the one-time token of a login link, or with a
 * username and password (which leaves no API token behind). An API token is not accepted here: a link
 * that could carry one would be a permanent credential in a URL.
 *
 * With a link while the browser is signed in as someone else, the server answers CONFLICT (details
 * {@link AccountSwitchDetails}) and keeps the link unused, unless `switchAccount` is true: a page can then
 * ask the person first, so a link someone else sent cannot silently swap their session.
 *
 * The answer carries the CSRF token the browser sends back in `x-csrf-token` on every mutating request.
 */
export const createBrowserSessionRequestSchema = z.union([
  z.object({ token: z.string().min(1).max(512), switchAccount: z.boolean().optional() }).strict(),
  z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(1024) }).strict(),
]);
export type CreateBrowserSessionRequest = z.infer<typeof createBrowserSessionRequestSchema>;

/** `details` of the CONFLICT answer to a login link for another account than the signed-in one. */
export const accountSwitchDetailsSchema = z.object({
  /** Username of the browser's current session. */
  signedInAs: z.string(),
  /** Username the link signs in as. */
  linkFor: z.string(),
});
export type AccountSwitchDetails = z.infer<typeof accountSwitchDetailsSchema>;

/** Why a login link was refused: `details.reason` of its UNAUTHENTICATED answer. */
export const loginLinkRefusalSchema = z.object({ reason: z.enum(['used', 'expired', 'invalid']) });
export type LoginLinkRefusal = z.infer<typeof loginLinkRefusalSchema>;

/**
 * `POST /api/auth/login-links`: a one-time login link token for the caller. It signs a browser in once,
 * within `expiresAt`, as the user who asked for it; the server stores only its hash.
 */
export const loginLinkSchema = z.object({
  /** `rcl_` and 43 base64url characters. Put it in a URL with {@link loginLinkUrl}. */
  token: z.string(),
  /** ISO time after which the link no longer works. */
  expiresAt: z.string(),
});
export type LoginLink = z.infer<typeof loginLinkSchema>;

/** The address-bar fragment key a login link carries its token in (`https://host/tasks/x#token=rcl_...`). */
export const LOGIN_LINK_FRAGMENT_KEY = 'token';

/**
 * The web app's address for `path` (default `/`) that signs in with `token`. The token rides in the
 * fragment, which browsers never send to a server: it does not reach access logs, load balancers or a
 * Referer header on its way to the page, which takes it out of the address bar at once.
 */
export function loginLinkUrl(baseUrl: string, token: string, path = '/'): string {
  return `${baseUrl.replace(/\/+$/, '')}${path.startsWith('/') ? path : `/${path}`}#${LOGIN_LINK_FRAGMENT_KEY}=${encodeURIComponent(token)}`;
}
export const browserSessionResponseSchema = z.object({ user: userSchema, csrfToken: z.string() });
export type BrowserSessionResponse = z.infer<typeof browserSessionResponseSchema>;

export const createUserRequestSchema = z
  .object({ username: usernameSchema, password: passwordSchema, role: userRoleSchema.default('user') })
  .strict();
export const setPasswordRequestSchema = z.object({ password: passwordSchema }).strict();

/** API tokens are shown once at creation; afterwards only their prefix and metadata. */
export const apiTokenSchema = z.object({
  id: z.string(),
  name: z.string(),
  /** The first characters of the token (e.g. `rct_ab12cd`), to recognise it. */
  prefix: z.string(),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
});
export type ApiToken = z.infer<typeof apiTokenSchema>;
export const createApiTokenRequestSchema = z.object({ name: z.string().trim().min(1).max(100) }).strict();
export const createApiTokenResponseSchema = z.object({ token: z.string(), info: apiTokenSchema });

/**
 * Secrets the server uses itself and never hands to a sandbox. The model credentials and endpoint are the
 * egress gateway's (it adds them to each model request); the git credentials are the proxy's, which clones,
 * pushes and opens pull requests with them (adr/0024). Every other secret reaches the task's sessions as an
 * environment variable.
 */
export const PROXY_ONLY_SECRETS = {
  model: ['ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN', 'ANTHROPIC_BASE_URL'],
  git: ['GITHUB_TOKEN', 'GH_TOKEN', 'GIT_TOKEN', 'GIT_USERNAME'],
} as const;

/** Whether the secret `name` stays with the server (PROXY_ONLY_SECRETS). */
export function isProxyOnlySecret(name: string): boolean {
  return (
    (PROXY_ONLY_SECRETS.model as readonly string[]).includes(name) ||
    (PROXY_ONLY_SECRETS.git as readonly string[]).includes(name)
  );
}

/**
 * Names of per-user secrets, injected into sandboxes as environment variables, except the PROXY_ONLY_SECRETS.
 */
export const secretNameSchema = z
  .string()
  .regex(/^[A-Z_][A-Z0-9_]{0,127}$/, 'a secret name is an environment variable name in capitals');
export const putSecretRequestSchema = z
  .object({
    value: z
      .string()
      .min(1)
      .max(64 * 1024),
  })
  .strict();
/** Secrets are listed by name only: their values are never returned. */
export const secretInfoSchema = z.object({ name: z.string(), updatedAt: z.string() });
export type SecretInfo = z.infer<typeof secretInfoSchema>;

/**
 * One entry of a user's own egress allow-list (`rclaude allow-host add`): a host name or `*.` pattern with an
 * optional `:port`, like `rclaude run --allow-host`. Addresses, ranges and `*` are refused (an admin's, with
 * RCLAUDE_EGRESS_ALLOW). The server checks the entry itself; the schema bounds its size only.
 */
export const allowHostEntrySchema = z.string().trim().min(1, 'name a host').max(255);
/** Most entries one user's allow-list holds. */
export const MAX_USER_ALLOW_HOSTS = 64;
export const addAllowHostRequestSchema = z.object({ host: allowHostEntrySchema }).strict();
/** A host on the caller's allow-list, as stored (lower case), and when it was added. */
export const allowHostSchema = z.object({ host: z.string(), addedAt: z.string() });
export type AllowHost = z.infer<typeof allowHostSchema>;
export const listAllowHostsResponseSchema = z.object({ hosts: z.array(allowHostSchema) });

/** User ids and API token ids: short lowercase base32 strings, like task ids. */
export const userIdSchema = z.string().regex(/^[a-z0-9]{4,32}$/, 'not a user id');
export const apiTokenIdSchema = z.string().regex(/^[a-z0-9]{4,32}$/, 'not a token id');

export const listUsersResponseSchema = z.object({ users: z.array(userSchema) });
export const listApiTokensResponseSchema = z.object({ tokens: z.array(apiTokenSchema) });
export const listSecretsResponseSchema = z.object({ secrets: z.array(secretInfoSchema) });
