import type { ReactNode } from 'react';
import { describeError } from '../api/describe-error.js';
import { Button } from './button.js';
import { AlertIcon } from './icons.js';

/** A small spinning ring with an accessible label. */
export function Spinner({ label = 'Loading', className = 'size-4' }: { label?: string; className?: string }) {
  return (
    <span role="status" aria-label={label} className="inline-flex">
      <svg viewBox="0 0 24 24" className={`animate-spin text-zinc-400 ${className}`} aria-hidden="true">
        <circle cx="12" cy="12" r="9" fill="none" stroke="currentColor" strokeOpacity="0.25" strokeWidth="3" />
        <path d="M21 12a9 9 0 0 0-9-9" fill="none" stroke="currentColor" strokeWidth="3" strokeLinecap="round" />
      </svg>
    </span>
  );
}

/** A centred message for "nothing here yet": what it means and what to do. */
export function EmptyState({
  icon,
  title,
  children,
  action,
}: {
  icon?: ReactNode;
  title: string;
  children?: ReactNode;
  action?: ReactNode;
}) {
  return (
    <div className="flex flex-col items-center justify-center gap-3 px-6 py-14 text-center">
      {icon && (
        <div className="flex size-11 items-center justify-center rounded-xl bg-zinc-100 text-zinc-500 dark:bg-zinc-800/80 dark:text-zinc-400">
          {icon}
        </div>
      )}
      <div className="space-y-1">
        <h2 className="text-[15px] font-semibold text-zinc-900 dark:text-zinc-100">{title}</h2>
        {children && <div className="mx-auto max-w-md text-sm text-zinc-500 dark:text-zinc-400">{children}</div>}
      </div>
      {action}
    </div>
  );
}

/** What went wrong, in words, with a retry button when retrying may help. */
export function ErrorState({
  error,
  onRetry,
  title = 'Could not load this',
}: {
  error: unknown;
  onRetry?: () => void;
  title?: string;
}) {
  const { message, advice } = describeError(error);
  return (
    <div role="alert" className="flex flex-col items-center gap-3 px-6 py-12 text-center">
      <div className="flex size-11 items-center justify-center rounded-xl bg-red-50 text-red-600 dark:bg-red-950/50 dark:text-red-400">
        <AlertIcon className="size-5" />
      </div>
      <div className="space-y-1">
        <h2 className="text-[15px] font-semibold">{title}</h2>
        <p className="max-w-md text-sm text-zinc-600 dark:text-zinc-400">{message}</p>
        {advice && <p className="max-w-md text-sm text-zinc-500 dark:text-zinc-500">{advice}</p>}
      </div>
      {onRetry && (
        <Button size="sm" onClick={onRetry}>
          Try again
        </Button>
      )}
    </div>
  );
}

/** An inline error line under a form or inside a panel. */
export function InlineError({ error }: { error: unknown }) {
  const { message, advice } = describeError(error);
  return (
    <p
      role="alert"
      className="flex items-start gap-2 rounded-lg bg-red-50 px-3 py-2 text-[13px] text-red-700 dark:bg-red-950/40 dark:text-red-300"
    >
      <AlertIcon className="mt-0.5 size-4 shrink-0" />
      <span>
        {message}
        {advice ? ` ${advice}` : ''}
      </span>
    </p>
  );
}
