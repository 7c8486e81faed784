import { createSocketTerminalTransport } from '@rclaude/client';
import type { Task } from '@rclaude/protocol';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type KeyboardEvent, lazy, type ReactNode, Suspense, useEffect, useId, useMemo, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { checkpointsQuery, queryKeys, taskQuery } from '../api/queries.js';
import { useApp, useSocket } from '../app-context.js';
import { Button } from '../components/button.js';
import { ArrowLeftIcon, BookmarkIcon, FolderIcon, PlayIcon, StopIcon, TrashIcon } from '../components/icons.js';
import { SplitPane } from '../components/split-pane.js';
import { EmptyState, ErrorState, InlineError, Spinner } from '../components/states.js';
import { StatusBadge } from '../components/status-badge.js';
import { ApprovalCards } from '../modules/approvals/approval-card.js';
import { FileBrowser } from '../modules/files/file-browser.js';
import { PortsControl } from '../modules/ports/ports-control.js';
import { RecordingPanel } from '../modules/recordings/recording-player.js';
import { DriveRequestCards, PresenceRow } from '../modules/share/drive-requests.js';
import { ShareButton } from '../modules/share/share-dialog.js';
import { useTaskActions } from '../modules/tasks/task-actions.js';
import {
  CheckpointsPanel,
  HibernateBanner,
  useCheckpointNow,
  useResumeTask,
} from '../modules/tasks/task-checkpoints.js';
import { ForksPanel } from '../modules/tasks/task-forks.js';
import {
  canResume,
  describeWork,
  formatAge,
  formatCost,
  formatDuration,
  isEnded,
  providerLabels,
  taskCostUsd,
  taskDurationMs,
} from '../modules/tasks/task-format.js';
import { TaskPullRequestActions } from '../modules/tasks/task-pull-request.js';
import { TaskTimeline } from '../modules/tasks/task-timeline.js';
import { useLiveTasks } from '../modules/tasks/use-live-tasks.js';
import { useNow } from '../modules/tasks/use-now.js';
import { TerminalTabs } from '../modules/terminal/terminal-tabs.js';
import { useTheme } from '../modules/theme/theme.js';

const Terminal = lazy(() => import('../modules/terminal/terminal.js').then((m) => ({ default: m.Terminal })));

const WIDE_QUERY = '(min-width: 768px)';

function useMediaQuery(query: string): boolean {
  const [matches, setMatches] = useState(() => window.matchMedia?.(query).matches ?? true);
  useEffect(() => {
    const media = window.matchMedia?.(query);
    if (!media) return;
    const onChange = () => setMatches(media.matches);
    media.addEventListener('change', onChange);
    onChange();
    return () => media.removeEventListener('change', onChange);
  }, [query]);
  return matches;
}

/** One task: its live terminal beside its files and timeline. */
export function TaskPage() {
  const { id = '' } = useParams();
  const { api } = useApp();
  const navigate = useNavigate();
  const task = useQuery(taskQuery(api, id));
  const actions = useTaskActions({ onDeleted: () => navigate('/') });
  useLiveTasks(id);

  useEffect(() => {
    document.title = task.data ? `${task.data.name} · rclaude` : 'Task · rclaude';
  }, [task.data]);

  if (task.isPending) {
    return (
      <div className="flex flex-1 items-center justify-center gap-2 text-[13px] text-zinc-500">
        <Spinner label="Loading task" /> Loading task…
      </div>
    );
  }
  if (task.isError) {
    return (
      <div className="flex flex-1 flex-col items-center justify-center">
        <ErrorState error={task.error} title="Could not open this task" onRetry={() => void task.refetch()} />
        <Link
          to="/"
          className="mt-2 text-[13px] font-medium text-zinc-600 underline-offset-4 hover:underline dark:text-zinc-400"
        >
          Back to all tasks
        </Link>
      </div>
    );
  }
  return (
    <>
      <TaskView task={task.data} onStop={actions.requestStop} onDelete={actions.requestDelete} />
      {actions.dialog}
    </>
  );
}

function TaskView({ task, onStop, onDelete }: { task: Task; onStop: (t: Task) => void; onDelete: (t: Task) => void }) {
  const wide = useMediaQuery(WIDE_QUERY);
  const { storage } = useApp();
  // While the sandbox runs the workspace is live; after, the latest checkpoint's copy is shown read-only.
  const sandboxUp = task.status === 'running' || task.status === 'idle';
  useRefreshFilesOnActivity(task.id);

  const terminal = <TerminalTabs task={task} main={<TerminalPane task={task} />} />;
  const files = sandboxUp ? (
    <FileBrowser taskId={task.id} live storage={storage} />
  ) : task.status === 'queued' || task.status === 'starting' ? (
    <EmptyState icon={<Spinner label="Starting sandbox" className="size-5" />} title="The sandbox is starting">
      Its files appear here as soon as it is up.
    </EmptyState>
  ) : (
    <SavedFiles task={task} storage={storage} />
  );
  const timeline = <TaskTimeline taskId={task.id} />;
  const checkpoints = <CheckpointsPanel task={task} />;
  const recording = <RecordingPanel task={task} />;
  const forks = <ForksPanel task={task} />;

  return (
    <div className="flex min-h-0 flex-1 flex-col">
      <TaskHeader task={task} onStop={onStop} onDelete={onDelete} />
      <HibernateBanner task={task} />
      <ApprovalCards taskId={task.id} />
      <DriveRequestCards taskId={task.id} />
      {wide ? (
        <SplitPane
          direction="horizontal"
          initialFraction={0.62}
          minFraction={0.25}
          label="Resize terminal and side panel"
          storage={storage}
          storageKey="rclaude:split:task"
          className="min-h-0 flex-1"
          first={terminal}
          second={
            <Tabs
              label="Task panels"
              tabs={[
                { id: 'files', title: 'Files', content: files },
                { id: 'timeline', title: 'Timeline', content: timeline },
                { id: 'checkpoints', title: 'Checkpoints', content: checkpoints },
                { id: 'recording', title: 'Recording', content: recording },
                { id: 'forks', title: 'Forks', content: forks },
              ]}
            />
          }
        />
      ) : (
        <Tabs
          label="Task panels"
          tabs={[
            { id: 'terminal', title: 'Terminal', content: terminal },
            { id: 'files', title: 'Files', content: files },
            { id: 'timeline', title: 'Timeline', content: timeline },
            { id: 'checkpoints', title: 'Checkpoints', content: checkpoints },
            { id: 'recording', title: 'Recording', content: recording },
            { id: 'forks', title: 'Forks', content: forks },
          ]}
        />
      )}
    </div>
  );
}

/** Files change when Claude Code uses tools: re-list open folders shortly after such events. */
function useRefreshFilesOnActivity(taskId: string) {
  const socket = useSocket();
  const client = useQueryClient();
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onEvent = (event: { taskId: string; type: string }) => {
      if (event.taskId !== taskId || !['tool_use', 'tool_result', 'diff', 'result'].includes(event.type)) return;
      clearTimeout(timer);
      timer = setTimeout(() => void client.invalidateQueries({ queryKey: queryKeys.files(taskId) }), 400);
    };
    socket.on('task:event', onEvent);
    return () => {
      clearTimeout(timer);
      socket.off('task:event', onEvent);
    };
  }, [socket, client, taskId]);
}

function TaskHeader({
  task,
  onStop,
  onDelete,
}: {
  task: Task;
  onStop: (t: Task) => void;
  onDelete: (t: Task) => void;
}) {
  const now = useNow(1000);
  const duration = taskDurationMs(task, now);
  const ended = isEnded(task.status);
  return (
    <div className="flex shrink-0 flex-wrap items-center gap-x-4 gap-y-2 border-b border-zinc-200 px-4 py-3 sm:px-6 dark:border-zinc-800">
      <Link
        to="/"
        aria-label="Back to all tasks"
        className="flex size-8 items-center justify-center rounded-lg text-zinc-500 hover:bg-zinc-100 hover:text-zinc-900 dark:hover:bg-zinc-800 dark:hover:text-zinc-100"
      >
        <ArrowLeftIcon />
      </Link>
      {/* At least 12rem for the name and facts: on a phone the buttons wrap under them instead of squeezing them. */}
      <div className="min-w-48 flex-1">
        <div className="flex min-w-0 items-center gap-2.5">
          <h1 className="truncate text-base font-semibold tracking-tight">{task.name}</h1>
          <StatusBadge status={task.status} activity={task.activity} />
        </div>
        <p className="mt-0.5 flex flex-wrap items-center gap-x-2 text-xs text-zinc-500 dark:text-zinc-400">
          <span className="font-mono">{task.id}</span>
          <Sep />
          <span>{providerLabels[task.provider]}</span>
          <Sep />
          <span title={new Date(task.createdAt).toLocaleString()}>created {formatAge(task.createdAt, now)}</span>
          {duration !== null && (
            <>
              <Sep />
              <span className="tabular-nums">ran {formatDuration(duration)}</span>
            </>
          )}
          <Sep />
          <span className="tabular-nums">{formatCost(taskCostUsd(task))}</span>
          {task.statusReason && (
            <>
              <Sep />
              <span className="truncate">{task.statusReason}</span>
            </>
          )}
        </p>
        <p
          className="mt-0.5 hidden truncate font-mono text-[11px] text-zinc-400 lg:block dark:text-zinc-500"
          title={describeWork(task)}
        >
          {describeWork(task)}
          {task.repo ? ` · ${task.repo}` : ''}
        </p>
      </div>
      <TaskPullRequestActions task={task} />
      <TaskHeaderActions task={task} ended={ended} onStop={onStop} onDelete={onDelete} />
    </div>
  );
}

/**
 * Resume and Delete for a task without a sandbox; Checkpoint now and Stop for a live one. Errors show under
 * the buttons (a resume of a task that never checkpointed says so).
 */
function TaskHeaderActions({
  task,
  ended,
  onStop,
  onDelete,
}: {
  task: Task;
  ended: boolean;
  onStop: (t: Task) => void;
  onDelete: (t: Task) => void;
}) {
  const resume = useResumeTask(task);
  const checkpoint = useCheckpointNow(task);
  const live = task.status === 'running' || task.status === 'idle';
  const error = resume.error ?? checkpoint.error;
  return (
    <div className="ml-auto flex min-w-0 max-w-full flex-col items-end gap-1.5">
      <div className="flex flex-wrap items-center justify-end gap-2">
        {ended ? (
          <>
            {canResume(task.status) && (
              <Button
                size="sm"
                variant="primary"
                disabled={resume.isPending}
                onClick={() => resume.mutate(undefined)}
                title="Start a new sandbox from the latest checkpoint"
                data-testid="resume-task"
              >
                <PlayIcon />
                {resume.isPending ? 'Resuming…' : 'Resume'}
              </Button>
            )}
            <Button size="sm" onClick={() => onDelete(task)}>
              <TrashIcon />
              Delete
            </Button>
          </>
        ) : (
          <>
            <ShareButton task={task} />
            {live && <PortsControl task={task} />}
            {live && (
              <Button
                size="sm"
                variant="ghost"
                disabled={checkpoint.isPending}
                onClick={() => checkpoint.mutate()}
                title="Save the workspace and Claude’s conversation now"
                data-testid="checkpoint-now"
              >
                {checkpoint.isPending ? <Spinner label="Checkpointing" /> : <BookmarkIcon />}
                {checkpoint.isPending ? 'Checkpointing…' : 'Checkpoint now'}
              </Button>
            )}
            <Button size="sm" disabled={task.status === 'stopping'} onClick={() => onStop(task)}>
              <StopIcon />
              {task.status === 'stopping' ? 'Stopping…' : 'Stop'}
            </Button>
          </>
        )}
      </div>
      {checkpoint.isSuccess && !checkpoint.isPending && live && (
        <p className="text-xs text-zinc-500 dark:text-zinc-400" data-testid="checkpoint-result">
          Saved {checkpoint.data.id}: {checkpoint.data.files.toLocaleString('en-US')} files
        </p>
      )}
      {error ? (
        <div className="max-w-sm">
          <InlineError error={error} />
        </div>
      ) : null}
    </div>
  );
}

/** The Files tab of an ended task: its sandbox, and the workspace with it, is gone. */
/**
 * The files of a task with no sandbox: its latest checkpoint's, read-only (the server reads them from the
 * checkpoint store), or, without one, why there are none.
 */
function SavedFiles({ task, storage }: { task: Task; storage: Storage | null }) {
  const { api } = useApp();
  const checkpoints = useQuery(checkpointsQuery(api, task.id));
  const latest = checkpoints.data?.[0];
  if (checkpoints.isPending) return null;
  if (!latest) return <SandboxGone />;
  return (
    <div className="flex min-h-0 flex-1 flex-col">
      <p
        className="border-b border-zinc-200 px-3 py-1.5 text-xs text-zinc-500 dark:border-zinc-800 dark:text-zinc-400"
        data-testid="files-from-checkpoint"
      >
        Read-only: the workspace as checkpoint {latest.id} saved it
        {task.status === 'hibernated' ? '. Resume the task to change it.' : '.'}
      </p>
      <FileBrowser taskId={task.id} live={false} storage={storage} />
    </div>
  );
}

function SandboxGone() {
  return (
    <EmptyState icon={<FolderIcon className="size-5" />} title="The sandbox has stopped">
      The workspace lived in the task’s sandbox, which shut down before any checkpoint saved it. Once a task has a
      checkpoint, its files stay readable here, and with{' '}
      <code className="rounded bg-zinc-100 px-1 py-0.5 font-mono text-[12px] dark:bg-zinc-800">rclaude cp</code>, after
      its sandbox is gone.
    </EmptyState>
  );
}

function Sep() {
  return (
    <span aria-hidden="true" className="text-zinc-300 dark:text-zinc-700">
      ·
    </span>
  );
}

/** Where a person can force the DOM renderer (see Terminal's `renderer`); docs/web.md tells how. */
const RENDERER_KEY = 'rclaude:terminal-renderer';

function TerminalPane({ task }: { task: Task }) {
  const socket = useSocket();
  const { storage } = useApp();
  const renderer = storage?.getItem(RENDERER_KEY) === 'dom' ? 'dom' : 'auto';
  const { api } = useApp();
  const { resolved } = useTheme();
  // A prompt task's main session is `claude -p`; once it has finished, the conversation can go on in an
  // interactive Claude Code session, which this pane then shows instead.
  const [sessionId, setSessionId] = useState(task.mainSessionId);
  const [mainExited, setMainExited] = useState(false);
  const transport = useMemo(() => createSocketTerminalTransport(socket, sessionId), [socket, sessionId]);
  const continueTask = useMutation({
    mutationFn: () => api.continueTask(task.id),
    onSuccess: (session) => setSessionId(session.id),
  });
  const waiting = task.status === 'queued' || task.status === 'starting';
  const readOnly = isEnded(task.status) || task.status === 'stopping';
  const canContinue = task.prompt !== null && !readOnly && sessionId === task.mainSessionId && mainExited;

  if (waiting) {
    return (
      <div
        className="flex flex-1 flex-col items-center justify-center gap-3 bg-zinc-50 text-center dark:bg-zinc-900/40"
        data-testid="terminal-waiting"
      >
        <Spinner label="Starting sandbox" className="size-5" />
        <div>
          <p className="text-[13px] font-medium">
            {task.status === 'queued' ? 'Waiting for a sandbox…' : 'Starting the sandbox…'}
          </p>
          <p className="mt-0.5 text-xs text-zinc-500 dark:text-zinc-400">
            {task.resumedAt
              ? 'Resuming: its checkpoint is restored, then the terminal appears.'
              : 'The terminal appears as soon as it is up.'}
          </p>
        </div>
      </div>
    );
  }
  return (
    <Suspense
      fallback={
        <div className="flex flex-1 items-center justify-center gap-2 text-[13px] text-zinc-500">
          <Spinner label="Loading terminal" /> Loading terminal…
        </div>
      }
    >
      {canContinue && (
        <div className="flex shrink-0 flex-wrap items-center gap-x-3 gap-y-2 border-b border-ember-100 bg-ember-50 px-3 py-2 text-[13px] text-ember-700 dark:border-ember-700/40 dark:bg-ember-500/10 dark:text-ember-400">
          <p className="min-w-0 flex-1">Claude has finished this prompt. Keep the conversation going interactively.</p>
          {continueTask.error ? <InlineError error={continueTask.error} /> : null}
          <Button size="sm" variant="primary" disabled={continueTask.isPending} onClick={() => continueTask.mutate()}>
            {continueTask.isPending ? 'Opening…' : 'Continue in Claude Code'}
          </Button>
        </div>
      )}
      <PresenceRow sessionId={sessionId} />
      <Terminal
        key={sessionId}
        transport={transport}
        readOnly={readOnly}
        theme={resolved}
        ended={isEnded(task.status)}
        renderer={renderer}
        label={`Terminal of ${task.name}`}
        autoFocus
        onStateChange={(state) => {
          if (sessionId === task.mainSessionId) setMainExited(state.status === 'exited');
        }}
      />
    </Suspense>
  );
}

interface TabSpec {
  id: string;
  title: string;
  content: ReactNode;
}

/**
 * Tabs that keep every panel mounted (hidden when not selected), so the terminal stays attached and the
 * file tree keeps its state while you look elsewhere. Arrow keys move between tabs.
 */
function Tabs({ tabs, label }: { tabs: TabSpec[]; label: string }) {
  const [selected, setSelected] = useState(tabs[0]?.id ?? '');
  const baseId = useId();
  const onKeyDown = (event: KeyboardEvent, index: number) => {
    const delta = event.key === 'ArrowRight' ? 1 : event.key === 'ArrowLeft' ? -1 : 0;
    if (!delta) return;
    event.preventDefault();
    const next = tabs[(index + delta + tabs.length) % tabs.length];
    if (next) {
      setSelected(next.id);
      document.getElementById(`${baseId}-tab-${next.id}`)?.focus();
    }
  };
  return (
    <div className="flex min-h-0 flex-1 flex-col">
      <div
        role="tablist"
        aria-label={label}
        className="flex h-11 shrink-0 items-end gap-1 overflow-x-auto border-b border-zinc-200 px-2 md:h-10 dark:border-zinc-800"
      >
        {tabs.map((tab, index) => {
          const active = tab.id === selected;
          return (
            <button
              key={tab.id}
              id={`${baseId}-tab-${tab.id}`}
              type="button"
              role="tab"
              aria-selected={active}
              aria-controls={`${baseId}-panel-${tab.id}`}
              tabIndex={active ? 0 : -1}
              onClick={() => setSelected(tab.id)}
              onKeyDown={(e) => onKeyDown(e, index)}
              className={`-mb-px border-b-2 px-3 pb-2 text-[13px] font-medium transition-colors ${
                active
                  ? 'border-ember-500 text-zinc-900 dark:text-zinc-100'
                  : 'border-transparent text-zinc-500 hover:text-zinc-800 dark:text-zinc-400 dark:hover:text-zinc-200'
              }`}
            >
              {tab.title}
            </button>
          );
        })}
      </div>
      {tabs.map((tab) => (
        <div
          key={tab.id}
          id={`${baseId}-panel-${tab.id}`}
          role="tabpanel"
          aria-labelledby={`${baseId}-tab-${tab.id}`}
          hidden={tab.id !== selected}
          className="min-h-0 flex-1 flex-col data-[hidden=false]:flex"
          data-hidden={tab.id !== selected}
        >
          {tab.content}
        </div>
      ))}
    </div>
  );
}
