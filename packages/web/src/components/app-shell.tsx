import { useQuery } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { Link, NavLink } from 'react-router';
import { usageQuery } from '../api/queries.js';
import { useApp } from '../app-context.js';
import { useSignOut } from '../modules/auth/use-session.js';
import { formatCost } from '../modules/tasks/task-format.js';
import { useSocketStatus } from '../modules/tasks/use-live-tasks.js';
import { useWaitingNotifications } from '../modules/tasks/waiting-notifications.js';
import { buttonClasses, IconButton } from './button.js';
import { BellIcon, SignOutIcon } from './icons.js';
import { Logo } from './logo.js';
import { ThemeSwitcher } from './theme-switcher.js';

/** The frame of every signed-in page: brand, spending, connection state, theme, account. */
export function AppShell({ username, children }: { username: string; children: ReactNode }) {
  const { api } = useApp();
  const signOut = useSignOut();
  const socketStatus = useSocketStatus();
  const usage = useQuery({ ...usageQuery(api), retry: false });
  const notifications = useWaitingNotifications();

  return (
    <div className="flex h-dvh flex-col">
      <a
        href="#main"
        className="sr-only focus:not-sr-only focus:absolute focus:top-2 focus:left-2 focus:z-50 focus:rounded-md focus:bg-white focus:px-3 focus:py-1.5 focus:shadow dark:focus:bg-zinc-900"
      >
        Skip to content
      </a>
      <header className="flex h-14 shrink-0 items-center gap-3 border-b border-zinc-200 bg-white/80 px-4 backdrop-blur sm:px-6 dark:border-zinc-800/80 dark:bg-zinc-950/80">
        <Link
          to="/"
          className="flex items-center gap-2 rounded-md font-semibold tracking-tight"
          aria-label="rclaude, all tasks"
        >
          <Logo />
          <span className="hidden text-[15px] sm:inline">rclaude</span>
        </Link>
        <div className="ml-auto flex items-center gap-2 sm:gap-3">
          {socketStatus === 'offline' && (
            <span
              role="status"
              className="flex items-center gap-1.5 rounded-full bg-amber-50 px-2.5 py-1 text-xs font-medium text-amber-800 dark:bg-amber-950/50 dark:text-amber-300"
            >
              <span className="size-1.5 animate-pulse rounded-full bg-amber-500" aria-hidden="true" />
              Reconnecting…
            </span>
          )}
          {usage.data && (
            <span
              className="hidden rounded-full border border-zinc-200 px-2.5 py-1 text-xs text-zinc-600 tabular-nums md:inline dark:border-zinc-800 dark:text-zinc-400"
              title={`Compute ${formatCost(usage.data.computeCostUsd)} · model ${formatCost(usage.data.modelCostUsd)} · ${usage.data.tasks} tasks`}
            >
              This month{' '}
              <span className="font-medium text-zinc-900 dark:text-zinc-100">
                {formatCost(usage.data.totalCostUsd)}
              </span>
              {usage.data.budgetUsd !== null && <> of {formatCost(usage.data.budgetUsd)}</>}
            </span>
          )}
          {notifications.permission === 'default' && (
            <IconButton
              label="Notify me when a task waits for input"
              icon={<BellIcon />}
              onClick={notifications.enable}
            />
          )}
          <NavLink
            to="/settings"
            className={buttonClasses(
              'ghost',
              'sm',
              'aria-[current=page]:bg-zinc-100 aria-[current=page]:text-zinc-900 dark:aria-[current=page]:bg-zinc-800 dark:aria-[current=page]:text-zinc-100',
            )}
          >
            Settings
          </NavLink>
          <ThemeSwitcher />
          <div className="flex items-center gap-1 border-l border-zinc-200 pl-2 sm:pl-3 dark:border-zinc-800">
            <span
              className="hidden max-w-32 truncate text-[13px] text-zinc-600 sm:inline dark:text-zinc-400"
              title="Signed in"
            >
              {username}
            </span>
            <IconButton
              label="Sign out"
              icon={<SignOutIcon />}
              disabled={signOut.isPending}
              onClick={() => signOut.mutate()}
            />
          </div>
        </div>
      </header>
      <main id="main" className="flex min-h-0 flex-1 flex-col">
        {children}
      </main>
    </div>
  );
}
