import { isProxyOnlySecret, type SecretInfo } from '@rclaude/protocol';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useId, useRef, useState } from 'react';
import { queryKeys, secretsQuery } from '../../api/queries.js';
import { useApp } from '../../app-context.js';
import { Button, IconButton } from '../../components/button.js';
import { ConfirmDialog } from '../../components/dialog.js';
import { Field, inputClasses } from '../../components/form.js';
import { PencilIcon, TrashIcon } from '../../components/icons.js';
import { EmptyState, ErrorState, InlineError } from '../../components/states.js';
import { useNow } from '../tasks/use-now.js';
import { Ago, LoadingRows, Notice, SectionForm, SettingsSection } from './settings-section.js';
import { checkSecret, wellKnownSecrets } from './validation.js';

/** Puts a stored secret into the cached list, in the server's order (by name). */
function upsertSecret(list: SecretInfo[] | undefined, secret: SecretInfo): SecretInfo[] | undefined {
  if (!list) return list;
  return [...list.filter((s) => s.name !== secret.name), secret].sort((a, b) => (a.name < b.name ? -1 : 1));
}

/**
 * The caller's secrets: listed by name and age only (the server never returns a value), stored or replaced
 * through a password field that is cleared once the server has the value, deleted after a confirmation.
 */
export function SecretsPanel() {
  const { api } = useApp();
  const client = useQueryClient();
  const secrets = useQuery(secretsQuery(api));
  const now = useNow(30_000);
  const id = useId();
  const valueRef = useRef<HTMLInputElement>(null);
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<SecretInfo | null>(null);

  const save = useMutation({
    mutationFn: (input: { name: string; value: string }) => api.putSecret(input.name, input.value),
    onSuccess: (secret) => {
      client.setQueryData<SecretInfo[]>(queryKeys.secrets, (list) => upsertSecret(list, secret));
      setName('');
      setValue('');
      setSaved(secret.name);
    },
  });
  const remove = useMutation({
    mutationFn: async (secret: SecretInfo) => {
      await api.deleteSecret(secret.name);
      return secret;
    },
    onSuccess: (secret) => {
      client.setQueryData<SecretInfo[]>(queryKeys.secrets, (list) => list?.filter((s) => s.name !== secret.name));
      setDeleting(null);
    },
  });

  const stored = secrets.data ?? [];
  const trimmedName = name.trim();
  const replacing = stored.some((s) => s.name === trimmedName);
  const suggestions = wellKnownSecrets.filter((w) => !stored.some((s) => s.name === w.name));

  const pick = (picked: string) => {
    setName(picked);
    setSaved(null);
    valueRef.current?.focus();
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const found = checkSecret(trimmedName, value);
    setProblem(found);
    setSaved(null);
    if (!found) save.mutate({ name: trimmedName, value });
  };

  return (
    <SettingsSection
      title="Secrets"
      description="Each secret becomes an environment variable in the sandboxes you start from now on, except model keys (the server adds them to model requests) and git tokens (GITHUB_TOKEN, GIT_TOKEN: the server clones, pushes and opens pull requests with them; they never enter a sandbox). Values are encrypted on the server and never shown again."
    >
      {secrets.isPending ? (
        <LoadingRows label="Loading secrets" />
      ) : secrets.isError ? (
        <ErrorState error={secrets.error} title="Could not load your secrets" onRetry={() => void secrets.refetch()} />
      ) : stored.length === 0 ? (
        <EmptyState title="No secrets yet">
          Store an API key or token below; your next task gets it as an environment variable.
        </EmptyState>
      ) : (
        <ul aria-label="Stored secrets" className="divide-y divide-zinc-100 dark:divide-zinc-800/80">
          {stored.map((secret) => (
            <li key={secret.name} className="flex items-center gap-3 px-4 py-2.5 sm:px-5">
              <span className="min-w-0 flex-1 truncate font-mono text-[13px] font-medium">{secret.name}</span>
              <span className="shrink-0 text-[12px] text-zinc-500 dark:text-zinc-400">
                updated <Ago iso={secret.updatedAt} now={now} />
              </span>
              <span className="flex shrink-0 gap-0.5">
                <IconButton label={`Replace ${secret.name}`} icon={<PencilIcon />} onClick={() => pick(secret.name)} />
                <IconButton
                  label={`Delete ${secret.name}`}
                  icon={<TrashIcon />}
                  onClick={() => setDeleting(secret)}
                  className="hover:text-red-600 dark:hover:text-red-400"
                />
              </span>
            </li>
          ))}
        </ul>
      )}

      <SectionForm aria-label="Store a secret" onSubmit={submit}>
        <div className="grid gap-3 sm:grid-cols-2">
          <Field id={`${id}-name`} label="Name">
            <input
              id={`${id}-name`}
              value={name}
              onChange={(e) => setName(e.target.value)}
              placeholder="ANTHROPIC_API_KEY"
              spellCheck={false}
              autoCapitalize="characters"
              autoComplete="off"
              maxLength={128}
              className={`h-9 font-mono text-[13px] ${inputClasses}`}
            />
          </Field>
          <Field id={`${id}-value`} label="Value">
            <input
              id={`${id}-value`}
              ref={valueRef}
              type="password"
              value={value}
              onChange={(e) => setValue(e.target.value)}
              autoComplete="off"
              spellCheck={false}
              className={`h-9 font-mono text-[13px] ${inputClasses}`}
            />
          </Field>
        </div>
        {suggestions.length > 0 && (
          <div className="flex flex-wrap items-center gap-1.5 text-[12px] text-zinc-500 dark:text-zinc-400">
            <span>Common:</span>
            {suggestions.map((suggestion) => (
              <button
                key={suggestion.name}
                type="button"
                title={suggestion.purpose}
                onClick={() => pick(suggestion.name)}
                className="rounded-md border border-zinc-200 bg-white px-1.5 py-0.5 font-mono text-[11px] text-zinc-700 transition-colors hover:border-zinc-300 hover:text-zinc-900 dark:border-zinc-700 dark:bg-zinc-900 dark:text-zinc-300 dark:hover:border-zinc-600 dark:hover:text-zinc-100"
              >
                {suggestion.name}
              </button>
            ))}
          </div>
        )}
        {problem && <InlineError error={new Error(problem)} />}
        {save.error ? <InlineError error={save.error} /> : null}
        <div className="flex flex-wrap items-center justify-end gap-3">
          {saved && (
            <Notice>
              Saved {saved}.{' '}
              {isProxyOnlySecret(saved) ? 'The server uses it; sandboxes never see it.' : 'New sandboxes get it.'}
            </Notice>
          )}
          <Button type="submit" variant="primary" disabled={save.isPending}>
            {save.isPending ? 'Saving…' : replacing ? 'Replace secret' : 'Save secret'}
          </Button>
        </div>
      </SectionForm>

      {deleting && (
        <ConfirmDialog
          title={`Delete ${deleting.name}?`}
          description="Tasks you start from now on no longer get it; programs already running keep the value they started with."
          confirmLabel="Delete secret"
          danger
          busy={remove.isPending}
          error={remove.error}
          onConfirm={() => remove.mutate(deleting)}
          onCancel={() => {
            setDeleting(null);
            remove.reset();
          }}
        />
      )}
    </SettingsSection>
  );
}
