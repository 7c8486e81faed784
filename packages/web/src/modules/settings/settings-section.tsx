import { type ComponentProps, type ReactNode, useId } from 'react';
import { formatAge } from '../tasks/task-format.js';

/** One card of the settings page: a titled region (named by its heading, for screen readers and tests). */
export function SettingsSection({
  title,
  description,
  children,
}: {
  title: string;
  description: ReactNode;
  children: ReactNode;
}) {
  const titleId = useId();
  return (
    <section
      aria-labelledby={titleId}
      className="overflow-hidden rounded-xl border border-zinc-200 bg-white shadow-xs dark:border-zinc-800 dark:bg-zinc-900/40"
    >
      <header className="border-b border-zinc-200 px-4 py-4 sm:px-5 dark:border-zinc-800">
        <h2 id={titleId} className="text-[15px] font-semibold tracking-tight">
          {title}
        </h2>
        <div className="mt-0.5 text-[13px] text-zinc-500 dark:text-zinc-400">{description}</div>
      </header>
      {children}
    </section>
  );
}

/** The form strip at the bottom of a section. */
export function SectionForm({ children, ...rest }: ComponentProps<'form'>) {
  return (
    <form
      noValidate
      className="space-y-3 border-t border-zinc-200 bg-zinc-50/70 px-4 py-4 sm:px-5 dark:border-zinc-800 dark:bg-zinc-900/60"
      {...rest}
    >
      {children}
    </form>
  );
}

/** A relative time ("5m ago") with the exact one as a tooltip. */
export function Ago({ iso, now }: { iso: string; now: number }) {
  return (
    <time dateTime={iso} title={new Date(iso).toLocaleString()}>
      {formatAge(iso, now)}
    </time>
  );
}

/** A short confirmation after a change ("Saved GITHUB_TOKEN."), announced politely. */
export function Notice({ children }: { children: ReactNode }) {
  return (
    <p role="status" className="text-[13px] text-emerald-700 dark:text-emerald-400">
      {children}
    </p>
  );
}

/** Placeholder rows while a list loads. */
export function LoadingRows({ label }: { label: string }) {
  return (
    <div className="divide-y divide-zinc-100 dark:divide-zinc-800" role="status" aria-label={label}>
      {[0, 1].map((i) => (
        <div key={i} className="flex items-center gap-4 px-4 py-3.5 sm:px-5">
          <div className="h-3.5 w-48 animate-pulse rounded bg-zinc-200 dark:bg-zinc-800" />
          <div className="ml-auto h-3 w-20 animate-pulse rounded bg-zinc-100 dark:bg-zinc-800/60" />
        </div>
      ))}
    </div>
  );
}
