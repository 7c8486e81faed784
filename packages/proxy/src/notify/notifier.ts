import {
  AppError,
  type CreatePushSubscriptionRequest,
  PUSH_SUBSCRIPTIONS_PER_USER_MAX,
  type PushConfig,
  type PushSubscriptionInfo,
  pushKinds,
  type SessionStatusInfo,
  type Task,
  type TaskEvent,
  type TestPushResponse,
  type UpdatePushSubscriptionRequest,
} from '@rclaude/protocol';
import type { Logger } from 'pino';
import type { AuthContext } from '../services/auth-context.js';
import { newId } from '../services/ids.js';
import type { TaskPublisher } from '../services/task-publisher.js';
import type { TaskStore } from '../stores/types.js';
import { type EndpointPolicy, endpointRefusal } from './endpoint-policy.js';
import { notificationFor, notifyingEventTypes, testNotification } from './notification-for.js';
import type { PushOutcome, PushSender } from './push-sender.js';
import { type PushStore, publicSubscription, type StoredPushSubscription } from './push-store.js';

/** At most one test notification per subscription this often (per proxy). */
const TEST_INTERVAL_MS = 3000;

export interface NotifierDeps {
  store: PushStore;
  sender: Pick<PushSender, 'send' | 'publicKey'>;
  tasks: Pick<TaskStore, 'get'>;
  policy: EndpointPolicy;
  log: Logger;
  now?: () => number;
  /** How often expired delivery claims are deleted. Default 10 min. */
  sweepIntervalMs?: number;
}

/**
 * Web Push for task owners. As a {@link TaskPublisher} it sees every event this proxy records (it sits beside
 * the Socket.io publisher) and turns the ones {@link notificationFor} maps into notifications, sent to the
 * owner's subscriptions that asked for that kind. Each (happening, subscription) delivery is claimed in the
 * database first, so with several proxies recording the same happening it is sent once. A subscription the push
 * service calls gone (404/410) is dropped. Sending never delays or fails the event itself.
 *
 * It also answers the subscription routes (`/api/push/...`): a caller sees and changes only their own.
 */
export class Notifier implements TaskPublisher {
  private readonly now: () => number;
  private readonly pending = new Set<Promise<void>>();
  /** When each subscription last got a test notification (tests are throttled: they POST on demand). */
  private readonly lastTest = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: NotifierDeps) {
    this.now = deps.now ?? Date.now;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.deps.store
        .sweepClaims(new Date(this.now()))
        .catch((err: unknown) => this.deps.log.warn({ err }, 'sweeping push delivery claims failed'));
    }, this.deps.sweepIntervalMs ?? 600_000);
    this.timer.unref();
  }

  /** Stops the sweep and waits for the notifications being sent. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.pending]);
  }

  /** Resolves once every notification started so far has been sent or given up on (tests). */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  taskUpdated(_task: Task): void {}

  sessionStatus(_info: SessionStatusInfo): void {}

  taskEvent(task: Pick<Task, 'id' | 'owner'>, event: TaskEvent): void {
    if (!notifyingEventTypes.has(event.type)) return;
    const job: Promise<void> = this.notify(task, event)
      .then(
        () => undefined,
        (err: unknown) => this.deps.log.warn({ err, taskId: task.id, seq: event.seq }, 'push notification failed'),
      )
      .finally(() => this.pending.delete(job));
    this.pending.add(job);
  }

  /** Sends what `event` deserves to its task owner's subscriptions; returns how many took it. */
  async notify(task: Pick<Task, 'id' | 'owner'>, event: TaskEvent): Promise<number> {
    if (!notifyingEventTypes.has(event.type)) return 0;
    const full = await this.deps.tasks.get(task.id);
    if (!full) return 0;
    const plan = notificationFor(full, event);
    if (!plan) return 0;
    const subs = await this.deps.store.wanting(full.owner, plan.kind);
    let sent = 0;
    await Promise.all(
      subs.map(async (sub) => {
        if (!(await this.deps.store.claim(plan.key, sub.id, plan.claimTtlMs, new Date(this.now())))) return;
        const outcome = await this.deliver(sub, plan.notification, plan.kind === 'waiting' ? 'high' : 'normal');
        if (outcome.delivered) sent++;
      }),
    );
    return sent;
  }

  private async deliver(
    sub: StoredPushSubscription,
    notification: Parameters<PushSender['send']>[1],
    urgency: 'normal' | 'high',
  ): Promise<PushOutcome> {
    const outcome = await this.deps.sender.send(sub, notification, urgency);
    if (outcome.delivered) {
      await this.deps.store.markSent(sub.id, new Date(this.now()));
    } else if (outcome.gone) {
      await this.deps.store.drop(sub.id);
      this.deps.log.info({ subscriptionId: sub.id, status: outcome.status }, 'push subscription gone; removed');
    } else {
      this.deps.log.warn(
        { subscriptionId: sub.id, status: outcome.status, error: outcome.error },
        'push notification not delivered',
      );
    }
    return outcome;
  }

  // ---- the routes ------------------------------------------------------------------------------

  config(): PushConfig {
    return { publicKey: this.deps.sender.publicKey, kinds: [...pushKinds] };
  }

  async list(actor: AuthContext): Promise<PushSubscriptionInfo[]> {
    return (await this.deps.store.list(actor.userId)).map(publicSubscription);
  }

  async subscribe(actor: AuthContext, body: CreatePushSubscriptionRequest): Promise<PushSubscriptionInfo> {
    const refusal = endpointRefusal(body.endpoint, this.deps.policy);
    if (refusal) throw new AppError('BAD_REQUEST', `push endpoint refused: ${refusal}`);
    const owner = await this.deps.store.ownerOfEndpoint(body.endpoint);
    if (owner !== actor.userId && (await this.deps.store.count(actor.userId)) >= PUSH_SUBSCRIPTIONS_PER_USER_MAX) {
      throw new AppError(
        'CONFLICT',
        `you have ${PUSH_SUBSCRIPTIONS_PER_USER_MAX} subscribed devices already; remove one in Settings first`,
      );
    }
    const sub = await this.deps.store.upsert({
      id: newId(16),
      userId: actor.userId,
      endpoint: body.endpoint,
      keys: body.keys,
      label: body.label ?? null,
      kinds: dedupe(body.kinds ?? [...pushKinds]),
    });
    this.deps.log.info({ userId: actor.userId, subscriptionId: sub.id }, 'push subscription saved');
    return publicSubscription(sub);
  }

  async update(actor: AuthContext, id: string, body: UpdatePushSubscriptionRequest): Promise<PushSubscriptionInfo> {
    const sub = await this.deps.store.update(actor.userId, id, {
      ...(body.kinds ? { kinds: dedupe(body.kinds) } : {}),
      ...(body.label !== undefined ? { label: body.label } : {}),
    });
    if (!sub) throw new AppError('NOT_FOUND', `no push subscription ${id}`);
    return publicSubscription(sub);
  }

  async remove(actor: AuthContext, id: string): Promise<void> {
    if (!(await this.deps.store.delete(actor.userId, id)))
      throw new AppError('NOT_FOUND', `no push subscription ${id}`);
  }

  async test(actor: AuthContext, id: string): Promise<TestPushResponse> {
    const sub = await this.deps.store.get(actor.userId, id);
    if (!sub) throw new AppError('NOT_FOUND', `no push subscription ${id}`);
    const now = this.now();
    if (now - (this.lastTest.get(id) ?? Number.NEGATIVE_INFINITY) < TEST_INTERVAL_MS) {
      throw new AppError('RATE_LIMITED', 'a test was just sent to this device; try again in a few seconds');
    }
    if (this.lastTest.size >= 10_000) this.lastTest.clear();
    this.lastTest.set(id, now);
    const outcome = await this.deliver(sub, testNotification(), 'normal');
    return { delivered: outcome.delivered, status: outcome.status, removed: outcome.gone };
  }
}

function dedupe<T>(list: T[]): T[] {
  return [...new Set(list)];
}

/** A publisher that hands every call to each of `targets` (the Socket.io rooms, then the notifier). */
export function teePublisher(...targets: TaskPublisher[]): TaskPublisher {
  return {
    taskUpdated: (task) => {
      for (const t of targets) t.taskUpdated(task);
    },
    taskEvent: (task, event) => {
      for (const t of targets) t.taskEvent(task, event);
    },
    sessionStatus: (info) => {
      for (const t of targets) t.sessionStatus(info);
    },
  };
}
