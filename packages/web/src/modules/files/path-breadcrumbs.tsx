import { ChevronRightIcon } from '../../components/icons.js';
import { breadcrumbs } from './file-paths.js';

/** The path of the open file as clickable folders; the last crumb (the file itself) is plain text. */
export function PathBreadcrumbs({ path, onSelectDir }: { path: string; onSelectDir: (dir: string) => void }) {
  const crumbs = breadcrumbs(path);
  return (
    <nav aria-label="File path" className="min-w-0">
      <ol className="flex min-w-0 items-center gap-0.5 text-[13px]">
        {crumbs.map((crumb, index) => {
          const last = index === crumbs.length - 1;
          return (
            <li key={crumb.path || '/'} className={`flex min-w-0 items-center gap-0.5 ${last ? '' : 'shrink'}`}>
              {index > 0 && <ChevronRightIcon className="size-3 shrink-0 text-zinc-400" />}
              {last ? (
                <span aria-current="page" className="truncate font-medium text-zinc-900 dark:text-zinc-100">
                  {crumb.name}
                </span>
              ) : (
                <button
                  type="button"
                  onClick={() => onSelectDir(crumb.path)}
                  className="truncate rounded px-1 text-zinc-500 hover:bg-zinc-100 hover:text-zinc-900 dark:text-zinc-400 dark:hover:bg-zinc-800 dark:hover:text-zinc-100"
                >
                  {crumb.name}
                </button>
              )}
            </li>
          );
        })}
      </ol>
    </nav>
  );
}
