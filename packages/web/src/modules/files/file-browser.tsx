import type { FileEntry, WriteFileResponse } from '@rclaude/protocol';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type DragEvent, lazy, Suspense, useEffect, useRef, useState } from 'react';
import { queryKeys } from '../../api/queries.js';
import { useApp } from '../../app-context.js';
import { IconButton } from '../../components/button.js';
import { RefreshIcon, UploadIcon } from '../../components/icons.js';
import { SplitPane } from '../../components/split-pane.js';
import { InlineError, Spinner } from '../../components/states.js';
import { ancestorPaths, parentPath } from './file-paths.js';
import { FileTree } from './file-tree.js';

const FileViewer = lazy(() => import('./file-viewer.js').then((m) => ({ default: m.FileViewer })));

/** How often open folders are re-listed while the sandbox runs. */
const LISTING_REFRESH_MS = 4000;

export interface FileBrowserProps {
  taskId: string;
  /** Whether the sandbox is up; an ended task's files cannot change and may be unreachable. */
  live: boolean;
  storage: Storage | null;
}

/**
 * The workspace of a task: a tree of its files, a viewer/editor for the one opened, uploads by drag and
 * drop (onto a folder, or anywhere for the current folder) or by the upload button, and downloads.
 */
export function FileBrowser({ taskId, live, storage }: FileBrowserProps) {
  const { api } = useApp();
  const client = useQueryClient();
  const [expanded, setExpanded] = useState<ReadonlySet<string>>(() => new Set());
  const [selectedFile, setSelectedFile] = useState<string | null>(null);
  const [currentDir, setCurrentDir] = useState('');
  const [dragging, setDragging] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const dragDepth = useRef(0);

  useEffect(() => {
    if (!notice || notice.endsWith('…')) return;
    const timer = setTimeout(() => setNotice(null), 6000);
    return () => clearTimeout(timer);
  }, [notice]);

  const upload = useMutation({
    mutationFn: ({ dir, files }: { dir: string; files: File[] }) => api.uploadFiles(taskId, dir, files),
    onMutate: ({ files }) => setNotice(`Uploading ${files.length === 1 ? files[0]?.name : `${files.length} files`}…`),
    onSuccess: async (written: WriteFileResponse[], { dir }) => {
      setNotice(`Uploaded ${written.length === 1 ? written[0]?.path : `${written.length} files`}.`);
      setExpanded((set) => new Set([...set, ...ancestorPaths(dir), ...(dir ? [dir] : [])]));
      await client.invalidateQueries({ queryKey: queryKeys.dir(taskId, dir) });
    },
    onError: () => setNotice(null),
  });

  const toggleDir = (path: string) => {
    setCurrentDir(path);
    setExpanded((set) => {
      const next = new Set(set);
      if (next.has(path)) next.delete(path);
      else next.add(path);
      return next;
    });
  };
  const revealDir = (path: string) => {
    setCurrentDir(path);
    setExpanded((set) => new Set([...set, ...ancestorPaths(path), ...(path ? [path] : [])]));
  };
  const openFile = (entry: FileEntry) => {
    setSelectedFile(entry.path);
    setCurrentDir(parentPath(entry.path));
  };
  const uploadTo = (dir: string, files: File[]) => {
    if (!live) {
      setNotice('No sandbox runs: these files are read-only. Resume the task to change them.');
      return;
    }
    upload.mutate({ dir, files });
  };
  const refresh = () => void client.invalidateQueries({ queryKey: queryKeys.files(taskId) });

  const dropZone = {
    onDragEnter: (event: DragEvent) => {
      if (!event.dataTransfer.types.includes('Files')) return;
      dragDepth.current += 1;
      setDragging(true);
    },
    onDragLeave: () => {
      dragDepth.current = Math.max(0, dragDepth.current - 1);
      if (dragDepth.current === 0) setDragging(false);
    },
    onDragOver: (event: DragEvent) => {
      if (event.dataTransfer.types.includes('Files')) event.preventDefault();
    },
    onDrop: (event: DragEvent) => {
      event.preventDefault();
      dragDepth.current = 0;
      setDragging(false);
      const files = [...event.dataTransfer.files];
      if (files.length > 0) uploadTo(currentDir, files);
    },
  };

  const tree = (
    <section aria-label="Files" className="relative flex min-h-0 flex-1 flex-col" {...dropZone}>
      <header className="flex h-10 shrink-0 items-center gap-1 border-b border-zinc-200 pr-1.5 pl-3 dark:border-zinc-800">
        <h2 className="text-[13px] font-semibold">Files</h2>
        {upload.isPending && <Spinner label="Uploading" className="ml-1 size-3.5" />}
        <div className="ml-auto flex items-center">
          <input
            ref={fileInput}
            type="file"
            multiple
            className="sr-only"
            tabIndex={-1}
            aria-label="Files to upload"
            onChange={(e) => {
              const files = [...(e.target.files ?? [])];
              e.target.value = '';
              if (files.length > 0) uploadTo(currentDir, files);
            }}
          />
          <IconButton
            label={`Upload files to ${currentDir || 'the workspace root'}`}
            icon={<UploadIcon />}
            disabled={!live || upload.isPending}
            onClick={() => fileInput.current?.click()}
          />
          <IconButton label="Refresh files" icon={<RefreshIcon />} onClick={refresh} />
        </div>
      </header>
      {(notice || upload.error) && (
        <div className="border-b border-zinc-200 px-3 py-1.5 dark:border-zinc-800" aria-live="polite">
          {upload.error ? (
            <InlineError error={upload.error} />
          ) : (
            <p className="text-xs text-zinc-600 dark:text-zinc-400">{notice}</p>
          )}
        </div>
      )}
      <div className="min-h-0 flex-1 overflow-auto">
        <FileTree
          taskId={taskId}
          expanded={expanded}
          selectedFile={selectedFile}
          currentDir={currentDir}
          refetchIntervalMs={live ? LISTING_REFRESH_MS : false}
          onToggleDir={toggleDir}
          onOpenFile={openFile}
          onDropFiles={uploadTo}
        />
      </div>
      {dragging && (
        <div className="pointer-events-none absolute inset-1 flex items-center justify-center rounded-lg border-2 border-dashed border-sky-400 bg-sky-50/80 text-[13px] font-medium text-sky-800 dark:border-sky-600 dark:bg-sky-950/70 dark:text-sky-200">
          Drop to upload to /{currentDir}
        </div>
      )}
    </section>
  );

  return (
    <div data-testid="file-browser" className="flex min-h-0 flex-1 flex-col">
      {selectedFile ? (
        <SplitPane
          direction="vertical"
          initialFraction={0.4}
          minFraction={0.12}
          label="Resize file tree and file viewer"
          storage={storage}
          storageKey="rclaude:split:files"
          first={tree}
          second={
            <Suspense
              fallback={
                <div className="flex items-center gap-2 p-4 text-[13px] text-zinc-500">
                  <Spinner label="Loading viewer" /> Loading viewer…
                </div>
              }
            >
              <FileViewer
                key={selectedFile}
                taskId={taskId}
                path={selectedFile}
                live={live}
                onClose={() => setSelectedFile(null)}
                onSelectDir={revealDir}
              />
            </Suspense>
          }
        />
      ) : (
        tree
      )}
    </div>
  );
}
