import { useQuery } from '@tanstack/react-query';
import { useEffect } from 'react';
import { sessionQuery } from '../api/queries.js';
import { useApp } from '../app-context.js';
import { AllowHostsPanel } from '../modules/settings/allow-hosts-panel.js';
import { NotificationsPanel } from '../modules/settings/notifications-panel.js';
import { SecretsPanel } from '../modules/settings/secrets-panel.js';
import { TokensPanel } from '../modules/settings/tokens-panel.js';
import { UsersPanel } from '../modules/settings/users-panel.js';

/**
 * The signed-in user's secrets, allowed hosts and API tokens, and for administrators the server's users. The session
 * (already loaded by the session gate) says who is asking; the users panel is not even requested for
 * others, since the API would refuse it.
 */
export function SettingsPage() {
  const { api } = useApp();
  const session = useQuery(sessionQuery(api));
  const user = session.data?.user;

  useEffect(() => {
    document.title = 'Settings · rclaude';
  }, []);

  return (
    <div className="min-h-0 flex-1 overflow-y-auto">
      <div className="mx-auto w-full max-w-3xl space-y-6 px-4 py-6 sm:px-6 sm:py-8">
        <div>
          <h1 className="text-xl font-semibold tracking-tight">Settings</h1>
          <p className="mt-0.5 text-[13px] text-zinc-500 dark:text-zinc-400">
            {user ? `Signed in as ${user.username}. ` : ''}Credentials for your sandboxes, and tokens for the CLI.
          </p>
        </div>
        <SecretsPanel />
        <AllowHostsPanel />
        <TokensPanel />
        <NotificationsPanel />
        {user?.role === 'admin' && <UsersPanel currentUserId={user.id} />}
      </div>
    </div>
  );
}
