import {
  AppError,
  accountSwitchDetailsSchema,
  type BrowserSessionResponse,
  type LoginLinkRefusal,
} from '@rclaude/protocol';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type ReactNode, useEffect } from 'react';
import { queryKeys } from '../../api/queries.js';
import { useApp } from '../../app-context.js';
import { Button } from '../../components/button.js';
import { Logo } from '../../components/logo.js';
import { InlineError, Spinner } from '../../components/states.js';
import { linkRefusalOf, linkRefusalText } from './link-refusal.js';

/** What using a login link came to. */
type LinkOutcome =
  | { kind: 'signed-in'; session: BrowserSessionResponse }
  /** The browser is signed in as another account: the person decides; the link is still unused. */
  | { kind: 'ask'; signedInAs: string; linkFor: string }
  /** The link does not work; `current` is the session the browser still has, if any. */
  | { kind: 'refused'; reason: LoginLinkRefusal['reason']; current: BrowserSessionResponse | null };

/**
 * Uses the login link's token the page was opened with, once, then hands over to the normal session gate
 * (`onDone`). A link for another account than the one signed in asks first, so a link someone else sent
 * cannot silently switch accounts; a used or expired link says so and offers to sign in.
 */
export function LoginLinkGate({ token, onDone }: { token: string; onDone: (linkError?: unknown) => void }) {
  const { api } = useApp();
  const client = useQueryClient();
  const outcome = useQuery<LinkOutcome>({
    // One key per page load: StrictMode's second mount and any re-render reuse the one request, since a
    // second use of the link would be refused.
    queryKey: ['login-link'],
    queryFn: async () => {
      try {
        return { kind: 'signed-in', session: await api.createSession(token) };
      } catch (error) {
        if (error instanceof AppError && error.code === 'CONFLICT') {
          const details = accountSwitchDetailsSchema.safeParse(error.details);
          if (details.success) return { kind: 'ask', ...details.data };
        }
        const reason = linkRefusalOf(error);
        if (reason) return { kind: 'refused', reason, current: await api.getSession() };
        throw error;
      }
    },
    retry: false,
    staleTime: Number.POSITIVE_INFINITY,
    gcTime: Number.POSITIVE_INFINITY,
  });

  const adopt = (session: BrowserSessionResponse) => {
    // Everything cached belonged to the account before.
    client.removeQueries({
      predicate: (q) => q.queryKey[0] !== queryKeys.session[0] && q.queryKey[0] !== 'login-link',
    });
    client.setQueryData<BrowserSessionResponse | null>(queryKeys.session, session);
    onDone();
  };
  const switchAccount = useMutation({
    mutationFn: () => api.createSession(token, { switchAccount: true }),
    onSuccess: adopt,
  });

  const data = outcome.data;
  const failed = outcome.isError ? outcome.error : null;
  useEffect(() => {
    if (data?.kind === 'signed-in') {
      client.setQueryData<BrowserSessionResponse | null>(queryKeys.session, data.session);
      onDone();
    } else if (data?.kind === 'refused' && data.current === null) {
      // Signed out: the sign-in form, saying what happened to the link.
      onDone(new AppError('UNAUTHENTICATED', linkRefusalText(data.reason), { details: { reason: data.reason } }));
    } else if (failed) {
      onDone(failed);
    }
  }, [data, failed, client, onDone]);

  if (!data || data.kind === 'signed-in' || (data.kind === 'refused' && data.current === null)) {
    return (
      <div className="flex min-h-dvh items-center justify-center">
        <Spinner label="Signing in" className="size-5" />
      </div>
    );
  }
  if (data.kind === 'refused') {
    const current = data.current?.user.username ?? '';
    return (
      <Card title="Sign-in link not used">
        <p role="alert">{linkRefusalText(data.reason)}</p>
        <p>
          This browser is still signed in as <strong>{current}</strong>.
        </p>
        <div className="flex justify-end">
          <Button variant="primary" onClick={() => onDone()}>
            Continue as {current}
          </Button>
        </div>
      </Card>
    );
  }
  return (
    <Card title="Switch account?">
      <p>
        You are signed in as <strong>{data.signedInAs}</strong>. Switch to <strong>{data.linkFor}</strong>?
      </p>
      <p className="text-zinc-500 dark:text-zinc-400">
        Only switch if you asked for this link yourself: someone else's link would sign you in to their account.
      </p>
      {switchAccount.error ? <InlineError error={switchAccount.error} /> : null}
      <div className="flex flex-wrap justify-end gap-2">
        <Button onClick={() => onDone()} disabled={switchAccount.isPending}>
          Stay signed in as {data.signedInAs}
        </Button>
        <Button variant="primary" onClick={() => switchAccount.mutate()} disabled={switchAccount.isPending}>
          {switchAccount.isPending ? 'Switching…' : `Switch to ${data.linkFor}`}
        </Button>
      </div>
    </Card>
  );
}

function Card({ title, children }: { title: string; children: ReactNode }) {
  return (
    <div className="flex min-h-dvh flex-col items-center justify-center bg-zinc-50 px-4 py-12 dark:bg-zinc-950">
      <main className="w-full max-w-md">
        <div className="mb-6 flex justify-center">
          <Logo className="size-10" />
        </div>
        <section
          aria-label={title}
          className="space-y-4 rounded-2xl border border-zinc-200 bg-white p-6 text-sm shadow-sm dark:border-zinc-800 dark:bg-zinc-900/60"
        >
          <h1 className="text-lg font-semibold tracking-tight">{title}</h1>
          {children}
        </section>
      </main>
    </div>
  );
}
