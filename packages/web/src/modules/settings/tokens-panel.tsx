import type { ApiToken } from '@rclaude/protocol';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useId, useRef, useState } from 'react';
import type { CreatedApiToken } from '../../api/api-client.js';
import { apiTokensQuery, queryKeys } from '../../api/queries.js';
import { useApp } from '../../app-context.js';
import { Button, IconButton } from '../../components/button.js';
import { ConfirmDialog } from '../../components/dialog.js';
import { Field, inputClasses } from '../../components/form.js';
import { AlertIcon, CopyIcon, TrashIcon } from '../../components/icons.js';
import { EmptyState, ErrorState, InlineError } from '../../components/states.js';
import { useNow } from '../tasks/use-now.js';
import { Ago, LoadingRows, SectionForm, SettingsSection } from './settings-section.js';
import { checkTokenName } from './validation.js';

/**
 * The caller's API tokens (for the CLI and scripts): listed by name and prefix, created with a name (the
 * token is shown once, right here, and then forgotten), revoked after a confirmation.
 */
export function TokensPanel() {
  const { api } = useApp();
  const client = useQueryClient();
  const tokens = useQuery(apiTokensQuery(api));
  const now = useNow(30_000);
  const id = useId();
  const [name, setName] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const [created, setCreated] = useState<CreatedApiToken | null>(null);
  const [revoking, setRevoking] = useState<ApiToken | null>(null);

  const create = useMutation({
    mutationFn: (tokenName: string) => api.createApiToken(tokenName),
    onSuccess: (answer) => {
      client.setQueryData<ApiToken[]>(queryKeys.apiTokens, (list) => list && [...list, answer.info]);
      setName('');
      setCreated(answer);
    },
  });
  const revoke = useMutation({
    mutationFn: async (token: ApiToken) => {
      await api.revokeApiToken(token.id);
      return token;
    },
    onSuccess: (token) => {
      client.setQueryData<ApiToken[]>(queryKeys.apiTokens, (list) => list?.filter((t) => t.id !== token.id));
      setRevoking(null);
    },
  });

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const found = checkTokenName(name);
    setProblem(found);
    if (!found) create.mutate(name.trim());
  };

  const list = tokens.data ?? [];
  return (
    <SettingsSection
      title="API tokens"
      description={
        <>
          For the CLI and scripts: <Code>rclaude login --token …</Code>, <Code>RCLAUDE_TOKEN</Code> or an{' '}
          <Code>Authorization: Bearer</Code> header. A token acts as you until it is revoked.
        </>
      }
    >
      {created && <NewToken created={created} onDone={() => setCreated(null)} />}
      {tokens.isPending ? (
        <LoadingRows label="Loading API tokens" />
      ) : tokens.isError ? (
        <ErrorState error={tokens.error} title="Could not load your API tokens" onRetry={() => void tokens.refetch()} />
      ) : list.length === 0 ? (
        <EmptyState title="No API tokens">Create one below to use rclaude from a terminal or a script.</EmptyState>
      ) : (
        <ul aria-label="API tokens" className="divide-y divide-zinc-100 dark:divide-zinc-800/80">
          {list.map((token) => (
            <li key={token.id} className="flex items-center gap-3 px-4 py-2.5 sm:px-5">
              <div className="min-w-0 flex-1">
                <p className="truncate text-[13px] font-medium">{token.name}</p>
                <p className="mt-0.5 text-[12px] text-zinc-500 dark:text-zinc-400">
                  {token.prefix && <span className="font-mono">{token.prefix}…</span>}
                  {token.prefix && ' · '}
                  created <Ago iso={token.createdAt} now={now} />
                  {' · '}
                  {token.lastUsedAt ? (
                    <>
                      last used <Ago iso={token.lastUsedAt} now={now} />
                    </>
                  ) : (
                    'never used'
                  )}
                </p>
              </div>
              <IconButton
                label={`Revoke ${token.name}`}
                icon={<TrashIcon />}
                onClick={() => setRevoking(token)}
                className="hover:text-red-600 dark:hover:text-red-400"
              />
            </li>
          ))}
        </ul>
      )}

      <SectionForm aria-label="Create an API token" onSubmit={submit}>
        <div className="flex flex-col gap-3 sm:flex-row sm:items-end">
          <div className="flex-1">
            <Field id={`${id}-name`} label="Token name">
              <input
                id={`${id}-name`}
                value={name}
                onChange={(e) => setName(e.target.value)}
                placeholder="laptop CLI"
                maxLength={100}
                autoComplete="off"
                className={`h-9 ${inputClasses}`}
              />
            </Field>
          </div>
          <Button type="submit" variant="primary" disabled={create.isPending}>
            {create.isPending ? 'Creating…' : 'Create token'}
          </Button>
        </div>
        {problem && <InlineError error={new Error(problem)} />}
        {create.error ? <InlineError error={create.error} /> : null}
      </SectionForm>

      {revoking && (
        <ConfirmDialog
          title={`Revoke “${revoking.name}”?`}
          description="Anything signing in with it (the CLI on some machine, a script) is refused from now on. This cannot be undone."
          confirmLabel="Revoke token"
          danger
          busy={revoke.isPending}
          error={revoke.error}
          onConfirm={() => revoke.mutate(revoking)}
          onCancel={() => {
            setRevoking(null);
            revoke.reset();
          }}
        />
      )}
    </SettingsSection>
  );
}

function Code({ children }: { children: string }) {
  return <code className="rounded bg-zinc-100 px-1 py-0.5 font-mono text-[12px] dark:bg-zinc-800">{children}</code>;
}

/**
 * The one showing of a new token. It lives only in this component's props: once dismissed (or the page is
 * left) it is gone from the browser, as it is from the server, which keeps only its hash.
 */
function NewToken({ created, onDone }: { created: CreatedApiToken; onDone: () => void }) {
  const inputRef = useRef<HTMLInputElement>(null);
  const [copy, setCopy] = useState<'idle' | 'copied' | 'manual'>('idle');

  const copyToken = async () => {
    try {
      // navigator.clipboard exists only on secure origins (https or localhost).
      if (!navigator.clipboard) throw new Error('no clipboard');
      await navigator.clipboard.writeText(created.token);
      setCopy('copied');
    } catch {
      inputRef.current?.select();
      setCopy('manual');
    }
  };

  return (
    <section
      aria-label="New API token"
      className="space-y-3 border-b border-amber-200 bg-amber-50 px-4 py-4 sm:px-5 dark:border-amber-900/60 dark:bg-amber-950/30"
    >
      <p className="flex items-start gap-2 text-[13px] font-medium text-amber-900 dark:text-amber-200">
        <AlertIcon className="mt-0.5 size-4 shrink-0" />
        <span>Your new token “{created.info.name}”. Copy it now: you will not see it again.</span>
      </p>
      <div className="flex flex-col gap-2 sm:flex-row">
        <input
          ref={inputRef}
          readOnly
          aria-label="New token"
          value={created.token}
          onFocus={(e) => e.currentTarget.select()}
          spellCheck={false}
          className={`h-9 font-mono text-[13px] ${inputClasses}`}
        />
        <div className="flex gap-2">
          <Button autoFocus onClick={() => void copyToken()}>
            <CopyIcon />
            {copy === 'copied' ? 'Copied' : 'Copy'}
          </Button>
          <Button variant="ghost" onClick={onDone}>
            Done
          </Button>
        </div>
      </div>
      {copy === 'manual' && (
        <p role="status" className="text-[12px] text-amber-900 dark:text-amber-200">
          The browser did not allow copying here; the token is selected, press Ctrl+C (⌘C on a Mac).
        </p>
      )}
    </section>
  );
}
