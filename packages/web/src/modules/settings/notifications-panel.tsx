import type { PushKind, PushSubscriptionInfo } from '@rclaude/protocol';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { pushSubscriptionsQuery, queryKeys } from '../../api/queries.js';
import { useApp } from '../../app-context.js';
import { Button, IconButton } from '../../components/button.js';
import { BellIcon, TrashIcon } from '../../components/icons.js';
import { EmptyState, ErrorState, InlineError } from '../../components/states.js';
import {
  currentEndpoint,
  deviceLabel,
  pushUnsupportedReason,
  subscribeThisBrowser,
  unsubscribeThisBrowser,
} from '../notifications/push-device.js';
import { useNow } from '../tasks/use-now.js';
import { Ago, LoadingRows, Notice, SettingsSection } from './settings-section.js';

/** Each kind of notification as the person chooses it. */
export const pushKindLabels: Record<PushKind, string> = {
  approval: 'Approvals (Approve / Deny on the notification)',
  waiting: 'Waiting for you (with Claude’s question)',
  finished: 'Finished',
  failed: 'Failed',
  stopping: 'About to hibernate',
  budget: 'Over budget',
};

/**
 * Web Push on this browser or phone: enable it (asks for permission), choose what each device hears about, send a
 * test, and remove devices. Notifications arrive with every tab closed; tapping one opens its task.
 */
export function NotificationsPanel() {
  const { api } = useApp();
  const client = useQueryClient();
  const subs = useQuery(pushSubscriptionsQuery(api));
  const now = useNow(30_000);
  const [thisEndpoint, setThisEndpoint] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const unsupported = pushUnsupportedReason();

  useEffect(() => {
    void currentEndpoint()
      .then(setThisEndpoint)
      .catch(() => setThisEndpoint(null));
  }, []);

  const replace = (sub: PushSubscriptionInfo) =>
    client.setQueryData<PushSubscriptionInfo[]>(queryKeys.pushSubscriptions, (list) =>
      list ? [...list.filter((s) => s.id !== sub.id), sub] : [sub],
    );

  const enable = useMutation({
    mutationFn: async () => {
      const { publicKey } = await api.getPushConfig();
      const browser = await subscribeThisBrowser(publicKey);
      const sub = await api.createPushSubscription({ ...browser, label: deviceLabel(navigator.userAgent) });
      return sub;
    },
    onSuccess: (sub) => {
      replace(sub);
      setThisEndpoint(sub.endpoint);
      setNotice('Notifications are on for this device.');
    },
  });
  const update = useMutation({
    mutationFn: ({ id, kinds }: { id: string; kinds: PushKind[] }) => api.updatePushSubscription(id, { kinds }),
    onSuccess: replace,
  });
  const test = useMutation({
    mutationFn: (sub: PushSubscriptionInfo) => api.testPush(sub.id),
    onSuccess: (answer, sub) => {
      if (answer.removed) void client.invalidateQueries({ queryKey: queryKeys.pushSubscriptions });
      setNotice(
        answer.delivered
          ? `Test sent to ${sub.label ?? 'the device'}.`
          : answer.removed
            ? `${sub.label ?? 'The device'} is no longer subscribed; it was removed.`
            : `The push service did not take the test${answer.status ? ` (${answer.status})` : ''}.`,
      );
    },
  });
  const remove = useMutation({
    mutationFn: async (sub: PushSubscriptionInfo) => {
      await api.deletePushSubscription(sub.id);
      if (sub.endpoint === thisEndpoint) await unsubscribeThisBrowser().catch(() => undefined);
      return sub;
    },
    onSuccess: (sub) => {
      client.setQueryData<PushSubscriptionInfo[]>(queryKeys.pushSubscriptions, (list) =>
        list?.filter((s) => s.id !== sub.id),
      );
      if (sub.endpoint === thisEndpoint) setThisEndpoint(null);
      setNotice(`Removed ${sub.label ?? 'the device'}.`);
    },
  });

  const list = subs.data ?? [];
  const here = list.find((s) => s.endpoint === thisEndpoint) ?? null;
  return (
    <SettingsSection
      title="Notifications"
      description="Hear about your tasks on this browser or phone, with every tab closed: tap a notification to open its task."
    >
      <div className="space-y-3 px-4 py-4 sm:px-5">
        {unsupported ? (
          <p className="text-[13px] text-zinc-600 dark:text-zinc-400">{unsupported}</p>
        ) : here ? (
          <p className="flex items-center gap-2 text-[13px] text-zinc-700 dark:text-zinc-300">
            <BellIcon className="size-4 text-ember-500" /> This device gets notifications.
          </p>
        ) : (
          <Button variant="primary" className="h-11 sm:h-9" disabled={enable.isPending} onClick={() => enable.mutate()}>
            <BellIcon />
            {enable.isPending ? 'Enabling…' : 'Enable on this device'}
          </Button>
        )}
        {enable.error ? <InlineError error={enable.error} /> : null}
        {notice && <Notice>{notice}</Notice>}
      </div>
      {subs.isPending ? (
        <LoadingRows label="Loading devices" />
      ) : subs.isError ? (
        <ErrorState error={subs.error} title="Could not load your devices" onRetry={() => void subs.refetch()} />
      ) : list.length === 0 ? (
        <EmptyState title="No devices">Enable notifications above on each browser or phone you use.</EmptyState>
      ) : (
        <ul aria-label="Notification devices" className="divide-y divide-zinc-100 dark:divide-zinc-800/80">
          {list.map((sub) => (
            <li key={sub.id} className="space-y-2 px-4 py-3 sm:px-5">
              <div className="flex items-center gap-3">
                <div className="min-w-0 flex-1">
                  <p className="truncate text-[13px] font-medium">
                    {sub.label ?? new URL(sub.endpoint).host}
                    {sub.endpoint === thisEndpoint && (
                      <span className="ml-2 rounded bg-ember-100 px-1.5 py-0.5 text-[11px] text-ember-700 dark:bg-ember-700/40 dark:text-ember-100">
                        this device
                      </span>
                    )}
                  </p>
                  <p className="mt-0.5 text-[12px] text-zinc-500 dark:text-zinc-400">
                    added <Ago iso={sub.createdAt} now={now} />
                    {' · '}
                    {sub.lastSentAt ? (
                      <>
                        last notified <Ago iso={sub.lastSentAt} now={now} />
                      </>
                    ) : (
                      'not notified yet'
                    )}
                  </p>
                </div>
                <Button size="sm" className="h-10 sm:h-8" disabled={test.isPending} onClick={() => test.mutate(sub)}>
                  Send a test
                </Button>
                <IconButton
                  label={`Remove ${sub.label ?? 'device'}`}
                  icon={<TrashIcon />}
                  onClick={() => remove.mutate(sub)}
                  className="hover:text-red-600 dark:hover:text-red-400"
                />
              </div>
              <fieldset className="flex flex-wrap gap-x-4 gap-y-1">
                <legend className="sr-only">What {sub.label ?? 'this device'} hears about</legend>
                {(Object.keys(pushKindLabels) as PushKind[]).map((kind) => (
                  <label key={kind} className="flex min-h-9 items-center gap-2 text-[13px] sm:min-h-0">
                    <input
                      type="checkbox"
                      className="size-4 accent-ember-500"
                      checked={sub.kinds.includes(kind)}
                      onChange={(e) =>
                        update.mutate({
                          id: sub.id,
                          kinds: e.target.checked ? [...sub.kinds, kind] : sub.kinds.filter((k) => k !== kind),
                        })
                      }
                    />
                    {pushKindLabels[kind]}
                  </label>
                ))}
              </fieldset>
            </li>
          ))}
        </ul>
      )}
      {update.error || test.error || remove.error ? (
        <div className="px-4 pb-4 sm:px-5">
          <InlineError error={update.error ?? test.error ?? remove.error} />
        </div>
      ) : null}
    </SettingsSection>
  );
}
