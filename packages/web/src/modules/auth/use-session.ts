import type { BrowserSessionResponse } from '@rclaude/protocol';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { queryKeys } from '../../api/queries.js';
import { useApp } from '../../app-context.js';

/** Signs in with a username and password, straight to the browser session cookie (no API token is made). */
export function useSignIn() {
  const { api } = useApp();
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ username, password }: { username: string; password: string }) => api.signIn(username, password),
    onSuccess: (session) => client.setQueryData<BrowserSessionResponse | null>(queryKeys.session, session),
  });
}

/** Ends the browser session and forgets everything cached for it. */
export function useSignOut() {
  const { api } = useApp();
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => api.signOut(),
    onSettled: () => {
      api.setCsrfToken(null);
      client.removeQueries({ predicate: (query) => query.queryKey[0] !== queryKeys.session[0] });
      client.setQueryData<BrowserSessionResponse | null>(queryKeys.session, null);
    },
  });
}
