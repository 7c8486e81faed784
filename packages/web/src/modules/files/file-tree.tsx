import type { FileEntry } from '@rclaude/protocol';
import { useQuery } from '@tanstack/react-query';
import { type DragEvent, useState } from 'react';
import { dirQuery } from '../../api/queries.js';
import { useApp } from '../../app-context.js';
import { ChevronRightIcon, FileIcon, FolderIcon } from '../../components/icons.js';
import { InlineError, Spinner } from '../../components/states.js';

export interface FileTreeProps {
  taskId: string;
  expanded: ReadonlySet<string>;
  /** The open file, highlighted in the tree. */
  selectedFile: string | null;
  /** The folder uploads go to (highlighted as the drop target while dragging). */
  currentDir: string;
  /** Poll listings this often (ms) while the sandbox can change them; false to stop. */
  refetchIntervalMs: number | false;
  onToggleDir: (path: string) => void;
  onOpenFile: (entry: FileEntry) => void;
  /** Files dropped on a folder row go to that folder. */
  onDropFiles: (dir: string, files: File[]) => void;
}

/** Folders first, then files, each by name as a person sorts them (`file2` before `file10`). */
export function sortEntries(entries: readonly FileEntry[]): FileEntry[] {
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
  return [...entries].sort((a, b) => {
    const aDir = a.type === 'dir' ? 0 : 1;
    const bDir = b.type === 'dir' ? 0 : 1;
    return aDir - bDir || collator.compare(a.name, b.name);
  });
}

/** The workspace as an expandable tree; each open folder is listed (and kept fresh) on its own. */
export function FileTree(props: FileTreeProps) {
  return (
    <ul aria-label="Workspace files" className="py-1 text-[13px]">
      <DirectoryChildren {...props} path="" depth={0} />
    </ul>
  );
}

function DirectoryChildren(props: FileTreeProps & { path: string; depth: number }) {
  const { api } = useApp();
  const listing = useQuery({ ...dirQuery(api, props.taskId, props.path), refetchInterval: props.refetchIntervalMs });
  const indent = { paddingLeft: `${0.75 + props.depth * 1}rem` };

  if (listing.isPending) {
    return (
      <li className="flex items-center gap-2 py-1 text-zinc-500" style={indent}>
        <Spinner label="Loading folder" className="size-3.5" /> Loading…
      </li>
    );
  }
  if (listing.isError) {
    return (
      <li className="py-1 pr-3" style={indent}>
        <InlineError error={listing.error} />
      </li>
    );
  }
  const entries = sortEntries(listing.data.entries);
  if (entries.length === 0) {
    return (
      <li className="py-1 text-zinc-400 italic dark:text-zinc-500" style={indent}>
        {props.depth === 0 ? 'The workspace is empty. Drop files here to upload them.' : 'Empty folder'}
      </li>
    );
  }
  return (
    <>
      {entries.map((entry) => (
        <TreeRow key={entry.path} {...props} entry={entry} />
      ))}
    </>
  );
}

function TreeRow(props: FileTreeProps & { entry: FileEntry; depth: number }) {
  const { entry, depth } = props;
  const [dropping, setDropping] = useState(false);
  const isDir = entry.type === 'dir';
  const open = isDir && props.expanded.has(entry.path);
  const selected = !isDir && props.selectedFile === entry.path;
  const dim = entry.name.startsWith('.');

  const dropHandlers = isDir
    ? {
        onDragOver: (event: DragEvent) => {
          if (!event.dataTransfer.types.includes('Files')) return;
          event.preventDefault();
          event.stopPropagation();
          setDropping(true);
        },
        onDragLeave: () => setDropping(false),
        onDrop: (event: DragEvent) => {
          event.preventDefault();
          event.stopPropagation();
          setDropping(false);
          const files = [...event.dataTransfer.files];
          if (files.length > 0) props.onDropFiles(entry.path, files);
        },
      }
    : {};

  return (
    <li>
      <button
        type="button"
        aria-expanded={isDir ? open : undefined}
        aria-current={selected ? 'true' : undefined}
        title={entry.path}
        onClick={() => (isDir ? props.onToggleDir(entry.path) : props.onOpenFile(entry))}
        {...dropHandlers}
        className={`flex w-full items-center gap-1.5 py-1 pr-3 text-left transition-colors focus-visible:-outline-offset-2 ${
          selected
            ? 'bg-ember-50 text-ember-700 dark:bg-ember-500/10 dark:text-ember-400'
            : dropping
              ? 'bg-sky-50 ring-1 ring-sky-300 ring-inset dark:bg-sky-950/40 dark:ring-sky-800'
              : 'hover:bg-zinc-100 dark:hover:bg-zinc-800/60'
        } ${dim && !selected ? 'text-zinc-500 dark:text-zinc-500' : ''}`}
        style={{ paddingLeft: `${0.5 + depth * 1}rem` }}
      >
        {isDir ? (
          <ChevronRightIcon
            className={`size-3.5 shrink-0 text-zinc-400 transition-transform ${open ? 'rotate-90' : ''}`}
          />
        ) : (
          <span className="size-3.5 shrink-0" />
        )}
        {isDir ? (
          <FolderIcon className="size-4 shrink-0 text-sky-600/80 dark:text-sky-400/80" />
        ) : (
          <FileIcon className="size-4 shrink-0 text-zinc-400" />
        )}
        <span className="truncate">{entry.name}</span>
      </button>
      {open && (
        <ul>
          <DirectoryChildren {...props} path={entry.path} depth={depth + 1} />
        </ul>
      )}
    </li>
  );
}
