import { AppError } from '@rclaude/protocol';
import { type FormEvent, useState } from 'react';
import { Button } from '../components/button.js';
import { inputClasses } from '../components/form.js';
import { Logo } from '../components/logo.js';
import { InlineError } from '../components/states.js';
import { ThemeSwitcher } from '../components/theme-switcher.js';
import { linkRefusalOf, linkRefusalText } from '../modules/auth/link-refusal.js';
import { useSignIn } from '../modules/auth/use-session.js';

/**
 * Username and password sign-in. `linkError` is set when a login link (`#token=...`) was refused, so the
 * page can say why the person landed here.
 */
export function LoginPage({ linkError }: { linkError?: unknown }) {
  const signIn = useSignIn();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');

  const submit = (event: FormEvent) => {
    event.preventDefault();
    signIn.mutate({ username: username.trim(), password });
  };

  const refusal = linkRefusalOf(linkError);
  const linkRefused = linkError instanceof AppError && linkError.code === 'UNAUTHENTICATED';
  return (
    <div className="relative flex min-h-dvh flex-col items-center justify-center bg-zinc-50 px-4 py-12 dark:bg-zinc-950">
      <div className="absolute top-4 right-4">
        <ThemeSwitcher />
      </div>
      <main className="w-full max-w-sm">
        <div className="mb-8 flex flex-col items-center gap-3 text-center">
          <Logo className="size-10" />
          <div>
            <h1 className="text-xl font-semibold tracking-tight">Sign in to rclaude</h1>
            <p className="mt-1 text-sm text-zinc-500 dark:text-zinc-400">
              Run Claude Code in a sandbox, from anywhere.
            </p>
          </div>
        </div>
        <form
          onSubmit={submit}
          className="space-y-4 rounded-2xl border border-zinc-200 bg-white p-6 shadow-sm dark:border-zinc-800 dark:bg-zinc-900/60"
        >
          {linkError ? (
            linkRefused ? (
              <p
                role="alert"
                className="rounded-lg bg-amber-50 px-3 py-2 text-[13px] text-amber-800 dark:bg-amber-950/40 dark:text-amber-200"
              >
                {refusal
                  ? linkRefusalText(refusal)
                  : 'That sign-in link is no longer valid. Sign in below, or run `rclaude web` for a new one.'}
              </p>
            ) : (
              <InlineError error={linkError} />
            )
          ) : null}
          <div className="space-y-1.5">
            <label htmlFor="login-username" className="text-[13px] font-medium text-zinc-700 dark:text-zinc-300">
              Username
            </label>
            <input
              id="login-username"
              name="username"
              autoComplete="username"
              autoCapitalize="none"
              spellCheck={false}
              // biome-ignore lint/a11y/noAutofocus: the form is the whole page; typing should start here
              autoFocus
              required
              value={username}
              onChange={(e) => setUsername(e.target.value)}
              className={`h-10 ${inputClasses}`}
            />
          </div>
          <div className="space-y-1.5">
            <label htmlFor="login-password" className="text-[13px] font-medium text-zinc-700 dark:text-zinc-300">
              Password
            </label>
            <input
              id="login-password"
              name="password"
              type="password"
              autoComplete="current-password"
              required
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              className={`h-10 ${inputClasses}`}
            />
          </div>
          {signIn.error ? <InlineError error={signIn.error} /> : null}
          <Button type="submit" variant="primary" className="w-full" disabled={signIn.isPending}>
            {signIn.isPending ? 'Signing in…' : 'Sign in'}
          </Button>
        </form>
        <p className="mt-6 text-center text-[13px] text-zinc-500 dark:text-zinc-400">
          Started the server yourself? Run <code>rclaude web</code> on its machine to open this page signed in.
        </p>
      </main>
    </div>
  );
}
