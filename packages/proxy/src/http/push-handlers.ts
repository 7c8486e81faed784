import type { Notifier } from '../notify/notifier.js';
import type { Handlers, TaggedRouteName } from './mount-routes.js';

/** Handlers of the `notifications` routes (Web Push subscriptions): one notifier call each. */
export function createPushHandlers(notifier: Notifier): Handlers<TaggedRouteName<'notifications'>> {
  return {
    getPushConfig: async () => notifier.config(),
    listPushSubscriptions: async (_input, ctx) => ({ subscriptions: await notifier.list(ctx.auth()) }),
    createPushSubscription: async ({ body }, ctx) => notifier.subscribe(ctx.auth(), body),
    updatePushSubscription: async ({ params, body }, ctx) => notifier.update(ctx.auth(), params.id, body),
    deletePushSubscription: async ({ params }, ctx) => notifier.remove(ctx.auth(), params.id),
    testPush: async ({ params }, ctx) => notifier.test(ctx.auth(), params.id),
  };
}
