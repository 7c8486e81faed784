import {
  EVENT_SUMMARY_MAX_CHARS,
  type PushKind,
  type PushNotification,
  type Task,
  type TaskEvent,
  type TaskEventType,
} from '@rclaude/protocol';

/** A notification an event deserves, with how its deliveries are claimed across proxies. */
export interface NotificationPlan {
  kind: PushKind;
  /**
   * Names the happening: a delivery to a subscription is claimed under (key, subscription) once, by one proxy.
   * Usually the event itself (`event:<task>:<seq>`); a happening several proxies each record (the hibernation
   * warning, a budget refusal) gets a key without the event's seq, so it is sent once however many recorded it.
   */
  key: string;
  /** How long the claim holds: a second happening under the same key within it is not sent. */
  claimTtlMs: number;
  notification: PushNotification;
}

const DAY_MS = 24 * 3600_000;
/** The hibernation warning of one idle spell, whichever proxy's sweep sent it. */
const STOPPING_CLAIM_MS = 5 * 60_000;

/** The event types that may lead to a notification; the notifier looks nothing up for the others. */
export const notifyingEventTypes: ReadonlySet<TaskEventType> = new Set([
  'approval_requested',
  'activity',
  'status',
  'info',
  'error',
]);

function text(value: unknown, max: number): string | null {
  if (typeof value !== 'string') return null;
  const trimmed = value.trim();
  if (!trimmed) return null;
  return trimmed.length > max ? `${trimmed.slice(0, max - 1)}…` : trimmed;
}

const TITLE_MAX = 120;
const BODY_MAX = Math.min(600, EVENT_SUMMARY_MAX_CHARS);

/**
 * The one place that decides what a task event tells its owner's devices, if anything. Pure: the same task
 * and event always give the same plan. A new kind of notification is one more case here (and its kind in
 * `pushKinds`).
 */
export function notificationFor(task: Pick<Task, 'id' | 'name'>, event: TaskEvent): NotificationPlan | null {
  const d = event.data;
  const base = { taskId: task.id, url: `/tasks/${encodeURIComponent(task.id)}`, tag: `rclaude-${task.id}` };
  const eventKey = `event:${task.id}:${event.seq}`;
  const title = (suffix: string) => text(`${task.name} ${suffix}`, TITLE_MAX) ?? task.id;
  switch (event.type) {
    case 'approval_requested': {
      // Claude Code waits for a decision: the notification answers it (Approve / Deny post the decision).
      const approvalId = text(d.approvalId, 64);
      if (!approvalId) return null;
      const tool = text(d.tool, 64) ?? 'a tool';
      return {
        kind: 'approval',
        key: eventKey,
        claimTtlMs: DAY_MS,
        notification: {
          ...base,
          kind: 'approval',
          title: title(`wants to use ${tool}`),
          body: text(d.summary, BODY_MAX) ?? text(d.reason, BODY_MAX) ?? 'Claude Code asks for permission.',
          approvalId,
          actions: [
            { action: 'approve', title: 'Approve' },
            { action: 'deny', title: 'Deny' },
          ],
        },
      };
    }
    case 'activity':
      if (d.activity !== 'waiting') return null;
      return {
        kind: 'waiting',
        key: eventKey,
        claimTtlMs: DAY_MS,
        notification: {
          ...base,
          kind: 'waiting',
          title: title('is waiting for you'),
          body: text(d.message, BODY_MAX) ?? 'Claude Code needs input to go on.',
          actions: [{ action: 'open', title: 'Open' }],
        },
      };
    case 'status':
      if (d.status === 'succeeded') {
        return {
          kind: 'finished',
          key: eventKey,
          claimTtlMs: DAY_MS,
          notification: { ...base, kind: 'finished', title: title('finished'), body: text(d.reason, BODY_MAX) ?? '' },
        };
      }
      if (d.status === 'failed') {
        return {
          kind: 'failed',
          key: eventKey,
          claimTtlMs: DAY_MS,
          notification: {
            ...base,
            kind: 'failed',
            title: title('failed'),
            body: text(d.reason, BODY_MAX) ?? 'The task failed.',
          },
        };
      }
      return null;
    case 'info':
      // The lifecycle's warning before an idle task hibernates carries when it will.
      if (typeof d.hibernateAt !== 'string') return null;
      return {
        kind: 'stopping',
        key: `stopping:${task.id}`,
        claimTtlMs: STOPPING_CLAIM_MS,
        notification: {
          ...base,
          kind: 'stopping',
          title: title('will hibernate soon'),
          body: text(d.message, BODY_MAX) ?? 'It has been idle; open it to keep it running.',
        },
      };
    case 'error':
      // The egress gateway's refusal of a model request once the owner's monthly budget is spent.
      if (d.reason !== 'budget') return null;
      return {
        kind: 'budget',
        key: `budget:${task.id}`,
        claimTtlMs: DAY_MS,
        notification: {
          ...base,
          kind: 'budget',
          title: title('is over budget'),
          body: text(d.message, BODY_MAX) ?? 'Your monthly budget is spent: Claude cannot go on.',
        },
      };
    default:
      return null;
  }
}

/** The notification of `POST /api/push/subscriptions/:id/test`. */
export function testNotification(): PushNotification {
  return {
    kind: 'test',
    title: 'rclaude notifications work',
    body: 'This device will hear about your tasks.',
    taskId: null,
    url: '/settings',
    tag: 'rclaude-test',
  };
}
