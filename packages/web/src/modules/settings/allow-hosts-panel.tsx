import type { AllowHost } from '@rclaude/protocol';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useId, useState } from 'react';
import { allowHostsQuery, queryKeys } from '../../api/queries.js';
import { useApp } from '../../app-context.js';
import { Button, IconButton } from '../../components/button.js';
import { Field, inputClasses } from '../../components/form.js';
import { TrashIcon } from '../../components/icons.js';
import { EmptyState, ErrorState, InlineError } from '../../components/states.js';
import { useNow } from '../tasks/use-now.js';
import { Ago, LoadingRows, Notice, SectionForm, SettingsSection } from './settings-section.js';

/**
 * The hosts the caller adds to the egress allow-list for all their tasks (`rclaude allow-host`). The server
 * checks each entry (names and *.patterns only, never addresses) and says why it refuses one.
 */
export function AllowHostsPanel() {
  const { api } = useApp();
  const client = useQueryClient();
  const hosts = useQuery(allowHostsQuery(api));
  const now = useNow(30_000);
  const id = useId();
  const [host, setHost] = useState('');
  const [added, setAdded] = useState<string | null>(null);

  const add = useMutation({
    mutationFn: (entry: string) => api.addAllowHost(entry),
    onSuccess: (entry) => {
      client.setQueryData<AllowHost[]>(queryKeys.allowHosts, (list) =>
        list ? [...list.filter((h) => h.host !== entry.host), entry].sort((a, b) => (a.host < b.host ? -1 : 1)) : list,
      );
      setHost('');
      setAdded(entry.host);
    },
  });
  const remove = useMutation({
    mutationFn: async (entry: AllowHost) => {
      await api.removeAllowHost(entry.host);
      return entry;
    },
    onSuccess: (entry) => {
      client.setQueryData<AllowHost[]>(queryKeys.allowHosts, (list) => list?.filter((h) => h.host !== entry.host));
    },
  });

  const listed = hosts.data ?? [];
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setAdded(null);
    if (host.trim()) add.mutate(host.trim());
  };

  return (
    <SettingsSection
      title="Allowed hosts"
      description="Sandboxes reach the network only through the server's egress proxy. Hosts added here are reachable from all your tasks, besides the server's list: names or *.patterns, with an optional :port (80 and 443 without one)."
    >
      {hosts.isPending ? (
        <LoadingRows label="Loading allowed hosts" />
      ) : hosts.isError ? (
        <ErrorState
          error={hosts.error}
          title="Could not load your allowed hosts"
          onRetry={() => void hosts.refetch()}
        />
      ) : listed.length === 0 ? (
        <EmptyState title="No hosts of your own">
          Your tasks reach the server's allow-list (source hosting, package registries) only.
        </EmptyState>
      ) : (
        <ul aria-label="Allowed hosts" className="divide-y divide-zinc-100 dark:divide-zinc-800/80">
          {listed.map((entry) => (
            <li key={entry.host} className="flex items-center gap-3 px-4 py-2.5 sm:px-5">
              <span className="min-w-0 flex-1 truncate font-mono text-[13px] font-medium">{entry.host}</span>
              <span className="shrink-0 text-[12px] text-zinc-500 dark:text-zinc-400">
                added <Ago iso={entry.addedAt} now={now} />
              </span>
              <IconButton
                label={`Remove ${entry.host}`}
                icon={<TrashIcon />}
                disabled={remove.isPending}
                onClick={() => remove.mutate(entry)}
                className="hover:text-red-600 dark:hover:text-red-400"
              />
            </li>
          ))}
        </ul>
      )}
      {remove.error ? <InlineError error={remove.error} /> : null}

      <SectionForm aria-label="Allow a host" onSubmit={submit}>
        <Field id={`${id}-host`} label="Host">
          <input
            id={`${id}-host`}
            value={host}
            onChange={(e) => setHost(e.target.value)}
            placeholder="registry.example.com or *.example.com:8443"
            spellCheck={false}
            autoCapitalize="off"
            autoComplete="off"
            maxLength={255}
            className={`h-9 font-mono text-[13px] ${inputClasses}`}
          />
        </Field>
        {add.error ? <InlineError error={add.error} /> : null}
        <div className="flex flex-wrap items-center justify-end gap-3">
          {added && <Notice>Allowed {added}. Your sandboxes' next connections may reach it.</Notice>}
          <Button type="submit" variant="primary" disabled={add.isPending || host.trim().length === 0}>
            {add.isPending ? 'Adding…' : 'Allow host'}
          </Button>
        </div>
      </SectionForm>
    </SettingsSection>
  );
}
