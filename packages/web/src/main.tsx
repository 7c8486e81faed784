// First: configures zod before any module builds a schema.
import './zod-without-eval.js';
import './index.css';
import { AppError } from '@rclaude/protocol';
import { MutationCache, QueryCache, QueryClient } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { ApiClient } from './api/api-client.js';
import { queryKeys } from './api/queries.js';
import { App, ShareApp } from './app.js';
import type { AppDependencies } from './app-context.js';
import { hasLoginToken, takeLoginToken } from './modules/auth/login-token.js';
import { sharePathId, takeShareSecret } from './modules/share/share-secret.js';
import { applyTheme, resolveTheme } from './modules/theme/theme.js';
import { createClientSocket } from './realtime/client-socket.js';

// The composition root: the only place that reaches for browser globals and builds long-lived objects.

function storageOrNull(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

function sessionStorageOrNull(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

const storage = storageOrNull();
const stored = storage?.getItem('rclaude:theme');
applyTheme(
  document.documentElement,
  resolveTheme(
    stored === 'light' || stored === 'dark' ? stored : 'system',
    window.matchMedia('(prefers-color-scheme: dark)').matches,
  ),
);

// A share link (`/share/<id>#<secret>`) is its own page: no sign-in, no account socket. The secret leaves the
// address bar before anything else runs.
const shareCredential = sharePathId(window.location.pathname)
  ? takeShareSecret(window.location, window.history, sessionStorageOrNull())
  : null;
const loginToken = shareCredential ? null : takeLoginToken(window.location, window.history);
// A login link opened in a tab already showing the app changes only the fragment, which loads nothing:
// start over so the link's token is taken and used like on any other load.
window.addEventListener('hashchange', () => {
  if (hasLoginToken(window.location)) window.location.reload();
});
const api = new ApiClient({ fetch: (input, init) => window.fetch(input, init) });
const dependencies: AppDependencies = { api, createSocket: () => createClientSocket(), storage };

// A request refused for want of a session means the cookie expired: show the login form.
const onError = (error: unknown) => {
  if (error instanceof AppError && error.code === 'UNAUTHENTICATED') queryClient.setQueryData(queryKeys.session, null);
};
const queryClient = new QueryClient({
  queryCache: new QueryCache({
    onError: (error, query) => {
      if (query.queryKey[0] !== queryKeys.session[0]) onError(error);
    },
  }),
  mutationCache: new MutationCache({ onError }),
  defaultOptions: {
    queries: {
      staleTime: 5_000,
      retry: (failures, error) => failures < 2 && !(error instanceof AppError && error.status < 500),
      refetchOnWindowFocus: true,
    },
  },
});

// The service worker shows Web Push notifications with every tab closed (docs/notifications.md). It caches
// nothing, so registering it changes nothing else about loading the app.
if ('serviceWorker' in navigator) {
  void navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => undefined);
}

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');
createRoot(root).render(
  <StrictMode>
    {shareCredential ? (
      <ShareApp dependencies={dependencies} credential={shareCredential} />
    ) : (
      <App dependencies={dependencies} queryClient={queryClient} loginToken={loginToken} />
    )}
  </StrictMode>,
);
