import { z } from 'zod';
import { sessionIdSchema } from './sessions.js';
import { type TaskEvent, taskEventSchema, taskIdSchema, taskStatusSchema } from './tasks.js';

/**
 * Share links: a read-only window on one live task (its main terminal and its timeline) for people without
 * an account. The link is `<public url>/share/<shareId>#<secret>`; the secret is stored only as its sha256.
 * See docs/sharing.md and adr/0019.
 */

/** Share ids: `sh_` and 16 lowercase letters or digits. Not a secret (it is in the path); the secret is. */
export const shareIdSchema = z.string().regex(/^sh_[a-z0-9]{16}$/, 'a share id is sh_ and 16 letters or digits');

/** The secret of a share link: 32 random bytes, base64url (43 characters). */
export const shareSecretSchema = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'not a share secret');

/**
 * What a link lets its holder do: `view` watches (anyone holding the link); `drive` is for signed-in users of
 * this server, who watch and may ask to type, and type once the owner accepts them (adr/0023).
 */
export const shareKindSchema = z.enum(['view', 'drive']);
export type ShareKind = z.infer<typeof shareKindSchema>;

/** Default lifetime of a share link, in ms (24 hours). */
export const SHARE_DEFAULT_TTL_MS = 24 * 3600_000;
/** Longest lifetime of a share link, in ms (7 days). */
export const SHARE_MAX_TTL_MS = 7 * 24 * 3600_000;
/** Shortest lifetime of a share link, in ms (1 minute). */
export const SHARE_MIN_TTL_MS = 60_000;
/** Live links (neither revoked nor expired) a task may have at once. */
export const SHARE_MAX_ACTIVE_PER_TASK = 20;
/** Live viewers (sockets) one share link may have at once. */
export const SHARE_MAX_VIEWERS_PER_LINK = 20;
/** Live viewers of one task over all its links. */
export const SHARE_MAX_VIEWERS_PER_TASK = 50;
/** Timeline entries a share view carries (the newest ones). */
export const SHARE_VIEW_MAX_EVENTS = 500;

/**
 * A duration as people write it: `90s`, `30m`, `2h`, `7d` (one number, one unit). Returns ms, or null when it
 * is not one.
 */
export function parseShareDuration(text: string): number | null {
  const m = /^\s*(\d{1,6})\s*(s|m|h|d)\s*$/i.exec(text);
  if (!m?.[1] || !m[2]) return null;
  const unit = { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 }[m[2].toLowerCase() as 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

/** `POST /api/tasks/:id/shares`. */
export const createShareRequestSchema = z
  .object({
    kind: shareKindSchema.default('view'),
    /** Lifetime in ms, from {@link SHARE_MIN_TTL_MS} to {@link SHARE_MAX_TTL_MS}; default 24 hours. */
    expiresInMs: z.number().int().min(SHARE_MIN_TTL_MS).max(SHARE_MAX_TTL_MS).default(SHARE_DEFAULT_TTL_MS),
  })
  .strict();
export type CreateShareRequest = z.input<typeof createShareRequestSchema>;

/** A share link as its creator sees it (never the secret, except once in {@link createShareResponseSchema}). */
export const shareSchema = z.object({
  id: shareIdSchema,
  taskId: taskIdSchema,
  /** The task's name, for listings. */
  taskName: z.string(),
  kind: shareKindSchema,
  createdAt: z.string(),
  expiresAt: z.string(),
  revokedAt: z.string().nullable(),
  /** When a viewer last opened it (to the minute), or null. */
  lastUsedAt: z.string().nullable(),
  /** `active`, or why it no longer works. */
  state: z.enum(['active', 'expired', 'revoked']),
  /** Viewers connected through this link right now, over all proxies (0 for a link that no longer works). */
  viewers: z.number().int().nonnegative(),
});
export type Share = z.infer<typeof shareSchema>;

/** The answer to creating a share: the link (with its secret after `#`), shown this once. */
export const createShareResponseSchema = z.object({
  share: shareSchema,
  /** `<public url>/share/<id>#<secret>`. */
  url: z.string(),
});
export type CreateShareResponse = z.infer<typeof createShareResponseSchema>;

export const listSharesQuerySchema = z.object({ task: taskIdSchema.optional() }).strict();
export const listSharesResponseSchema = z.object({ shares: z.array(shareSchema) });
export type ListSharesResponse = z.infer<typeof listSharesResponseSchema>;

/** `POST /api/share/:shareId/view`: the secret travels in the body, never in a URL. */
export const shareViewRequestSchema = z.object({ secret: z.string().max(128) }).strict();

/** A task as a share link shows it: its name, status, main session and timeline; nothing else. */
export const shareViewSchema = z.object({
  shareId: shareIdSchema,
  kind: shareKindSchema,
  expiresAt: z.string(),
  task: z.object({
    name: z.string(),
    status: taskStatusSchema,
    mainSessionId: sessionIdSchema,
  }),
  /** The newest {@link SHARE_VIEW_MAX_EVENTS} timeline entries, oldest first. */
  events: z.array(taskEventSchema),
});
export type ShareView = z.infer<typeof shareViewSchema>;

/** Drive request ids: `dr_` and 16 lowercase letters or digits. */
export const driveRequestIdSchema = z
  .string()
  .regex(/^dr_[a-z0-9]{16}$/, 'a drive request id is dr_ and 16 letters or digits');

/**
 * A signed-in user's request to type into a task through a `drive` link: `pending` until the owner decides,
 * then `accepted` (they may type) or `refused`; an accepted one ends `revoked` (by the owner, or with its link).
 */
export const driveRequestSchema = z.object({
  id: driveRequestIdSchema,
  shareId: shareIdSchema,
  taskId: taskIdSchema,
  /** The asking user's name. */
  user: z.string(),
  state: z.enum(['pending', 'accepted', 'refused', 'revoked']),
  createdAt: z.string(),
  decidedAt: z.string().nullable(),
  /** Who accepted, refused or revoked it (a user name), or null. */
  decidedBy: z.string().nullable(),
});
export type DriveRequest = z.infer<typeof driveRequestSchema>;

export const listDriveRequestsResponseSchema = z.object({ requests: z.array(driveRequestSchema) });
export type ListDriveRequestsResponse = z.infer<typeof listDriveRequestsResponseSchema>;

/** `POST /api/drive-requests/:requestId`: accept or refuse a pending request, revoke an accepted one. */
export const decideDriveRequestSchema = z.object({ decision: z.enum(['accept', 'refuse', 'revoke']) }).strict();
export type DriveDecision = z.infer<typeof decideDriveRequestSchema>['decision'];

/** Open (pending or accepted) requests one link may have; more are refused until the owner decides some. */
export const SHARE_MAX_OPEN_DRIVE_REQUESTS = 20;
/** Requests one user may make through one link (asking again after a refusal counts). */
export const SHARE_MAX_DRIVE_REQUESTS_PER_USER = 5;

/**
 * `session:presence` on `/client`: who is attached to a session right now, over every proxy. Sent to the
 * session's signed-in clients (the owner, and users of drive links), never to anonymous view-link viewers.
 */
export interface SessionPresence {
  sessionId: string;
  /** Whether the task's owner has the terminal open. */
  owner: boolean;
  /** User names of accepted co-drivers attached now. */
  drivers: string[];
  /** User names of other signed-in watchers (drive-link users not driving, admins). */
  viewers: string[];
  /** Viewers through view links (no account): a count only. */
  anonymousViewers: number;
}

/** Why a share link does not work, in `details.reason` of its UNAUTHENTICATED refusal. */
export const shareRefusalSchema = z.object({ reason: z.enum(['expired', 'revoked', 'invalid']) });
export type ShareRefusal = z.infer<typeof shareRefusalSchema>;

/** The handshake auth of a share viewer on `/client`: `io(url + '/client', { auth: { share: {...} } })`. */
export const shareHandshakeSchema = z.object({ id: shareIdSchema, secret: shareSecretSchema }).strict();
export type ShareHandshake = z.infer<typeof shareHandshakeSchema>;

/** `share:task` on `/client`: the shared task's new status (share viewers get this instead of `task:updated`). */
export interface SharedTaskStatus {
  name: string;
  status: z.infer<typeof taskStatusSchema>;
}

/**
 * A timeline entry as a share link's viewer may see it, or null to leave it out. Viewers see what happens, never
 * who the owner is or where the work goes: no answering user's name, no repository or server path, no pull
 * request, no path on the owner's laptop. Every event a viewer gets (the view route and live `task:event`)
 * passes through here.
 */
export function shareableEvent(event: TaskEvent): TaskEvent | null {
  const d = event.data;
  switch (event.type) {
    case 'pull_request':
      return null;
    case 'push': {
      const { bundlePath: _bundle, ...rest } = d;
      return { ...event, data: { ...rest, pushedTo: null } };
    }
    case 'approval_answered':
      return { ...event, data: { ...d, by: null } };
    case 'info':
      // A co-driver let in or out: who and by whom are names of this server's users.
      if (typeof d.drive === 'object' && d.drive !== null) {
        const state = (d.drive as { state?: unknown }).state;
        const message = state === 'accepted' ? 'a co-driver may now type' : 'a co-driver may no longer type';
        return { ...event, data: { message } };
      }
      // The note of a task started from an upload names the folder on the owner's laptop.
      if (
        typeof d.checkpointId === 'string' &&
        typeof d.message === 'string' &&
        d.message.startsWith('started from an upload')
      ) {
        return { ...event, data: { ...d, message: 'started from an upload' } };
      }
      return event;
    default:
      return event;
  }
}

/** Path parameters of the routes under a share id. */
export const shareParamsSchema = z.object({ shareId: shareIdSchema }).strict();

/** Path parameters of the routes under a drive request id. */
export const driveRequestParamsSchema = z.object({ requestId: driveRequestIdSchema }).strict();
