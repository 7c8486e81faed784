/**
 * Web Push: the browsers and phones a user subscribed, what each wants to hear about, and what a notification
 * carries. The proxy sends with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291); the web app's
 * service worker shows what arrives. See docs/notifications.md.
 */
import { z } from 'zod';

/**
 * What a subscription may ask to hear about:
 * - `waiting`: Claude Code waits for the person (a question, a permission prompt), with its message;
 * - `finished`: the task succeeded;
 * - `failed`: the task failed;
 * - `stopping`: an idle task is about to hibernate (the warning before it);
 * - `budget`: a model request was refused because the owner's monthly budget is spent.
 */
export const pushKinds = ['approval', 'waiting', 'finished', 'failed', 'stopping', 'budget'] as const;
export const pushKindSchema = z.enum(pushKinds);
export type PushKind = z.infer<typeof pushKindSchema>;

/** Most push subscriptions (browsers, phones) one user may have. */
export const PUSH_SUBSCRIPTIONS_PER_USER_MAX = 20;
/** Longest endpoint URL accepted; push services use a few hundred characters. */
export const PUSH_ENDPOINT_MAX_CHARS = 2048;

const base64url = z.string().regex(/^[A-Za-z0-9_-]+={0,2}$/, 'not base64url');

/** The keys a browser's PushSubscription gives (`subscription.toJSON().keys`), base64url. */
export const pushSubscriptionKeysSchema = z
  .object({
    /** The browser's P-256 public key: 65 bytes uncompressed (87 characters of base64url). */
    p256dh: base64url.min(86).max(90),
    /** The 16-byte authentication secret (22 characters of base64url). */
    auth: base64url.min(21).max(26),
  })
  .strict();

export const pushSubscriptionIdSchema = z.string().regex(/^[a-z0-9]{8,32}$/, 'not a push subscription id');

/** A device label people see in the list: `Firefox on Linux`, `Pixel 8`. */
export const pushLabelSchema = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[^\u0000-\u001f\u007f]*$/, 'no control characters');

/**
 * `POST /api/push/subscriptions`: subscribe this browser. The endpoint is unique: subscribing again with the
 * same endpoint updates that subscription (and makes it the caller's) instead of adding one.
 */
export const createPushSubscriptionRequestSchema = z
  .object({
    endpoint: z.string().min(1).max(PUSH_ENDPOINT_MAX_CHARS),
    keys: pushSubscriptionKeysSchema,
    /** What to hear about; default every kind. */
    kinds: z.array(pushKindSchema).max(pushKinds.length).optional(),
    label: pushLabelSchema.optional(),
  })
  .strict();
export type CreatePushSubscriptionRequest = z.infer<typeof createPushSubscriptionRequestSchema>;

/** `PUT /api/push/subscriptions/:id`: change what a subscription hears about, or its label. */
export const updatePushSubscriptionRequestSchema = z
  .object({
    kinds: z.array(pushKindSchema).max(pushKinds.length).optional(),
    label: pushLabelSchema.optional(),
  })
  .strict();
export type UpdatePushSubscriptionRequest = z.infer<typeof updatePushSubscriptionRequestSchema>;

/** One subscribed browser or phone, as its owner sees it (the keys are never answered). */
export const pushSubscriptionSchema = z.object({
  id: z.string(),
  /** The push service URL the browser gave; the web app finds "this device" by it. */
  endpoint: z.string(),
  label: z.string().nullable(),
  kinds: z.array(pushKindSchema),
  createdAt: z.string(),
  /** When a notification last reached the push service, or null. */
  lastSentAt: z.string().nullable(),
});
export type PushSubscriptionInfo = z.infer<typeof pushSubscriptionSchema>;

export const listPushSubscriptionsResponseSchema = z.object({ subscriptions: z.array(pushSubscriptionSchema) });

/** `GET /api/push/config`: what a browser needs to subscribe. */
export const pushConfigSchema = z.object({
  /** The server's VAPID public key (base64url), the `applicationServerKey` of `pushManager.subscribe`. */
  publicKey: z.string(),
  kinds: z.array(pushKindSchema),
});
export type PushConfig = z.infer<typeof pushConfigSchema>;

/** `POST /api/push/subscriptions/:id/test`: what the push service said to a test notification. */
export const testPushResponseSchema = z.object({
  delivered: z.boolean(),
  /** The push service's HTTP status, or null when it could not be reached. */
  status: z.number().int().nullable(),
  /** The push service said the subscription is gone (404/410): it was removed. */
  removed: z.boolean(),
});
export type TestPushResponse = z.infer<typeof testPushResponseSchema>;

/** A button on a notification; the service worker acts on `action` when it is tapped. */
export const pushActionSchema = z.object({
  /** `approve` / `deny` (answer `approvalId` of `taskId`), `open` (the task page). */
  action: z.enum(['open', 'approve', 'deny']),
  title: z.string().max(40),
});
export type PushAction = z.infer<typeof pushActionSchema>;

/** What one push message carries (JSON, encrypted for the browser). Kept well under the 4 KiB push limit. */
export const pushNotificationSchema = z.object({
  /** `test` for a test notification. */
  kind: z.union([pushKindSchema, z.literal('test')]),
  title: z.string().max(120),
  body: z.string().max(600),
  /** The task it is about, or null (a test). */
  taskId: z.string().nullable(),
  /** Path to open when the notification is tapped, on the server's origin: `/tasks/<id>`. */
  url: z.string().max(300),
  /** Notifications with the same tag replace each other (one per task). */
  tag: z.string().max(100),
  actions: z.array(pushActionSchema).max(2).optional(),
  /** The approval the `approve` / `deny` actions answer (`POST /api/tasks/:taskId/approvals/:approvalId`). */
  approvalId: z.string().max(64).optional(),
});
export type PushNotification = z.infer<typeof pushNotificationSchema>;

/** Path parameters of the routes under `/api/push/subscriptions/:id`. */
export const pushSubscriptionParamsSchema = z.object({ id: pushSubscriptionIdSchema }).strict();
