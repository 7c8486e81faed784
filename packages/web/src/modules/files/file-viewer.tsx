import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { fileContentQuery, queryKeys, VIEWER_MAX_BYTES } from '../../api/queries.js';
import { useApp } from '../../app-context.js';
import { Button, buttonClasses, IconButton } from '../../components/button.js';
import { ConfirmDialog } from '../../components/dialog.js';
import { CloseIcon, DownloadIcon, PencilIcon, TrashIcon } from '../../components/icons.js';
import { ErrorState, InlineError, Spinner } from '../../components/states.js';
import { CodeEditor, CodeView } from './code-view.js';
import { decodeText, EDITABLE_MAX_BYTES, formatBytes, languageForFile } from './file-kind.js';
import { baseName, parentPath } from './file-paths.js';
import { PathBreadcrumbs } from './path-breadcrumbs.js';

export interface FileViewerProps {
  taskId: string;
  path: string;
  /** Whether the sandbox is up (files can be written and may change under us). */
  live: boolean;
  onClose: () => void;
  onSelectDir: (dir: string) => void;
}

/** How often an open, unedited file is re-read while the sandbox runs, to show changes made there. */
const CONTENT_REFRESH_MS = 5000;

/**
 * Shows one workspace file: highlighted text, a note for binary or oversized files, and for small text
 * files an editor that saves back to the sandbox. Loaded on demand (it carries the highlighter).
 * Render it with `key={path}` so its state starts afresh for each file.
 */
export function FileViewer({ taskId, path, live, onClose, onSelectDir }: FileViewerProps) {
  const { api } = useApp();
  const client = useQueryClient();
  const [draft, setDraft] = useState<string | null>(null);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [savedAt, setSavedAt] = useState<number | null>(null);
  const editing = draft !== null;

  const content = useQuery({
    ...fileContentQuery(api, taskId, path),
    refetchInterval: (query) =>
      live && !editing && (query.state.data?.size ?? 0) <= EDITABLE_MAX_BYTES ? CONTENT_REFRESH_MS : false,
  });

  const save = useMutation({
    mutationFn: (text: string) => api.writeFile(taskId, path, text),
    onSuccess: async () => {
      setDraft(null);
      setSavedAt(Date.now());
      await Promise.all([
        client.invalidateQueries({ queryKey: queryKeys.fileContent(taskId, path) }),
        client.invalidateQueries({ queryKey: queryKeys.dir(taskId, parentPath(path)) }),
      ]);
    },
  });
  const remove = useMutation({
    mutationFn: () => api.deleteFile(taskId, path, false),
    onSuccess: async () => {
      setConfirmDelete(false);
      await client.invalidateQueries({ queryKey: queryKeys.dir(taskId, parentPath(path)) });
      onClose();
    },
  });

  const data = content.data;
  const truncated = data ? data.size > data.bytes.length : false;
  const text = data ? decodeText(data.bytes, truncated) : null;
  const language = languageForFile(baseName(path));
  const editable = live && data !== undefined && text !== null && !truncated && data.size <= EDITABLE_MAX_BYTES;
  const dirty = editing && draft !== text;

  const cancelEdit = () => {
    if (dirty && !window.confirm('Discard your changes to this file?')) return;
    setDraft(null);
    save.reset();
  };
  const doSave = () => {
    if (draft !== null && !save.isPending) save.mutate(draft);
  };

  return (
    <section aria-label={`File ${path}`} className="flex min-h-0 flex-1 flex-col bg-white dark:bg-zinc-950">
      <header className="flex h-10 shrink-0 items-center gap-2 border-b border-zinc-200 px-3 dark:border-zinc-800">
        <div className="min-w-0 flex-1">
          <PathBreadcrumbs path={path} onSelectDir={onSelectDir} />
        </div>
        {data && (
          <span className="hidden text-xs text-zinc-500 tabular-nums sm:inline dark:text-zinc-400">
            {formatBytes(data.size)}
          </span>
        )}
        {editing ? (
          <>
            <Button size="sm" variant="ghost" onClick={cancelEdit}>
              Cancel
            </Button>
            <Button size="sm" variant="primary" disabled={save.isPending || !dirty} onClick={doSave}>
              {save.isPending ? 'Saving…' : 'Save'}
            </Button>
          </>
        ) : (
          <>
            {savedAt && (
              <span role="status" className="text-xs text-emerald-700 dark:text-emerald-400">
                Saved
              </span>
            )}
            {editable && <IconButton label="Edit file" icon={<PencilIcon />} onClick={() => setDraft(text ?? '')} />}
            <a
              href={api.fileDownloadUrl(taskId, path)}
              download={baseName(path)}
              aria-label="Download file"
              title="Download file"
              className={buttonClasses('ghost', 'sm', 'w-8 px-0')}
            >
              <DownloadIcon />
            </a>
            {live && (
              <IconButton
                label="Delete file"
                icon={<TrashIcon />}
                onClick={() => setConfirmDelete(true)}
                className="hover:text-red-600 dark:hover:text-red-400"
              />
            )}
            <IconButton label="Close file" icon={<CloseIcon />} onClick={onClose} />
          </>
        )}
      </header>
      {save.error ? (
        <div className="border-b border-zinc-200 p-2 dark:border-zinc-800">
          <InlineError error={save.error} />
        </div>
      ) : null}
      <div className="min-h-0 flex-1 overflow-auto" data-testid="file-content">
        {content.isPending ? (
          <div className="flex items-center gap-2 p-4 text-[13px] text-zinc-500">
            <Spinner label="Loading file" /> Loading {baseName(path)}…
          </div>
        ) : content.isError ? (
          <ErrorState error={content.error} title="Could not open this file" onRetry={() => void content.refetch()} />
        ) : text === null ? (
          <div className="p-6 text-center text-[13px] text-zinc-500 dark:text-zinc-400">
            <p className="font-medium text-zinc-700 dark:text-zinc-300">This looks like a binary file.</p>
            <p className="mt-1">Download it to open it with another program.</p>
          </div>
        ) : editing ? (
          <CodeEditor
            value={draft}
            language={language}
            label={`Contents of ${path}`}
            onChange={setDraft}
            onSave={doSave}
          />
        ) : (
          <>
            {truncated && data && (
              <p className="sticky top-0 z-20 border-b border-amber-200 bg-amber-50 px-3 py-1.5 text-xs text-amber-800 dark:border-amber-900 dark:bg-amber-950/60 dark:text-amber-200">
                Showing the first {formatBytes(VIEWER_MAX_BYTES)} of {formatBytes(data.size)}. Download the file to see
                all of it.
              </p>
            )}
            <CodeView text={text} language={language} label={`Contents of ${path}`} />
          </>
        )}
      </div>
      {confirmDelete && (
        <ConfirmDialog
          title={`Delete ${baseName(path)}?`}
          description="The file is removed from the task’s workspace."
          confirmLabel="Delete file"
          danger
          busy={remove.isPending}
          error={remove.error}
          onConfirm={() => remove.mutate()}
          onCancel={() => setConfirmDelete(false)}
        />
      )}
    </section>
  );
}
