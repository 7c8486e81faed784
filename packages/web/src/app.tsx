import { AppError, type BrowserSessionResponse } from '@rclaude/protocol';
import { type QueryClient, QueryClientProvider, useQuery } from '@tanstack/react-query';
import { lazy, Suspense, useCallback, useState } from 'react';
import { BrowserRouter, Outlet, Route, Routes } from 'react-router';
import { queryKeys } from './api/queries.js';
import { type AppDependencies, AppDependenciesProvider, SocketProvider, useApp } from './app-context.js';
import { AppShell } from './components/app-shell.js';
import { Spinner } from './components/states.js';
import { LoginLinkGate } from './modules/auth/login-link-gate.js';
import type { ShareCredential } from './modules/share/share-secret.js';
import { ThemeProvider } from './modules/theme/theme.js';
import { DashboardPage } from './pages/dashboard-page.js';
import { LoginPage } from './pages/login-page.js';
import { NotFoundPage } from './pages/not-found-page.js';
import { TaskPage } from './pages/task-page.js';

// Its own chunk: only share-link viewers load it.
const SharePage = lazy(() => import('./modules/share/share-page.js').then((m) => ({ default: m.SharePage })));

// Its own chunk: the settings forms validate with the protocol's zod schemas, kept out of the initial bundle.
const SettingsPage = lazy(() => import('./pages/settings-page.js').then((m) => ({ default: m.SettingsPage })));

export interface AppProps {
  dependencies: AppDependencies;
  queryClient: QueryClient;
  /** A one-time token taken from the login URL, exchanged for a session on start. */
  loginToken: string | null;
}

/** The whole app; main.tsx supplies its dependencies. */
export function App({ dependencies, queryClient, loginToken }: AppProps) {
  return (
    <AppDependenciesProvider value={dependencies}>
      <QueryClientProvider client={queryClient}>
        <ThemeProvider storage={dependencies.storage}>
          <BrowserRouter>
            <Routes>
              <Route element={<SessionGate loginToken={loginToken} />}>
                <Route index element={<DashboardPage />} />
                <Route path="tasks/:id" element={<TaskPage />} />
                <Route
                  path="settings"
                  element={
                    <Suspense fallback={<Spinner label="Loading settings" className="m-auto size-5" />}>
                      <SettingsPage />
                    </Suspense>
                  }
                />
                <Route path="*" element={<NotFoundPage />} />
              </Route>
            </Routes>
          </BrowserRouter>
        </ThemeProvider>
      </QueryClientProvider>
    </AppDependenciesProvider>
  );
}

/** The page of a share link (`/share/<id>`): no sign-in, no account, only the shared task. */
export function ShareApp({ dependencies, credential }: { dependencies: AppDependencies; credential: ShareCredential }) {
  return (
    <AppDependenciesProvider value={dependencies}>
      <ThemeProvider storage={dependencies.storage}>
        <Suspense fallback={<Spinner label="Loading" className="m-auto size-5" />}>
          <SharePage api={dependencies.api} credential={credential} />
        </Suspense>
      </ThemeProvider>
    </AppDependenciesProvider>
  );
}

/**
 * Signs the browser in before any page shows: with the login link's token when there is one (which may
 * ask before switching accounts), then by asking whether the session cookie is still good. Signed out,
 * every address shows the login form.
 */
function SessionGate({ loginToken }: { loginToken: string | null }) {
  const [linkToken, setLinkToken] = useState(loginToken);
  const [linkError, setLinkError] = useState<unknown>(null);
  const linkDone = useCallback((error?: unknown) => {
    setLinkError(error ?? null);
    setLinkToken(null);
  }, []);
  if (linkToken) return <LoginLinkGate token={linkToken} onDone={linkDone} />;
  return <SignedInGate linkError={linkError} />;
}

/** The app for a signed-in browser; the sign-in form otherwise, saying why a login link did not work. */
function SignedInGate({ linkError }: { linkError: unknown }) {
  const { api } = useApp();
  const session = useQuery<BrowserSessionResponse | null>({
    queryKey: queryKeys.session,
    queryFn: () => api.getSession(),
    staleTime: Number.POSITIVE_INFINITY,
    retry: (failures, error) => !(error instanceof AppError && error.code !== 'INTERNAL') && failures < 2,
  });

  if (session.isPending) {
    return (
      <div className="flex min-h-dvh items-center justify-center">
        <Spinner label="Signing in" className="size-5" />
      </div>
    );
  }
  if (session.isError) return <LoginPage linkError={session.error} />;
  if (!session.data) return linkError ? <LoginPage linkError={linkError} /> : <LoginPage />;
  return (
    <SocketProvider key={session.data.user.id}>
      <AppShell username={session.data.user.username}>
        <Outlet />
      </AppShell>
    </SocketProvider>
  );
}
