import { createSocketTerminalTransport } from '@rclaude/client';
import type { Task } from '@rclaude/protocol';
import { useMutation, useQuery } from '@tanstack/react-query';
import { lazy, type ReactNode, Suspense, useEffect, useMemo, useState } from 'react';
import { useApp, useSocket } from '../../app-context.js';
import { CloseIcon, PlusIcon } from '../../components/icons.js';
import { InlineError, Spinner } from '../../components/states.js';
import { useTheme } from '../theme/theme.js';

const Terminal = lazy(() => import('./terminal.js').then((m) => ({ default: m.Terminal })));

interface ShellTab {
  id: string;
  title: string;
}

/** The most shells a page opens beside the main terminal. */
const MAX_SHELL_TABS = 8;

/**
 * The task's terminals as tabs: its main session (`main`, as the page renders it) and shells opened beside it
 * with "+" (each a session of its own: recorded, resumable by offset, reattached after a drop). Every tab
 * stays mounted while hidden, so its connection stays attached and no output is missed on a switch. Closing a
 * shell's tab ends it and detaches.
 */
export function TerminalTabs({ task, main }: { task: Task; main: ReactNode }) {
  const { api } = useApp();
  const socket = useSocket();
  const [shells, setShells] = useState<ShellTab[]>([]);
  const [selected, setSelected] = useState('main');
  const live = task.status === 'running' || task.status === 'idle';

  // Shells already open (from another tab of the browser, or `rclaude shell`) show up too.
  const existing = useQuery({
    queryKey: ['task-sessions', task.id, 'open-shells'],
    queryFn: () => api.listTaskSessions(task.id),
    enabled: live,
  });
  useEffect(() => {
    const open = (existing.data ?? []).filter(
      (s) => s.kind === 'shell' && s.status !== 'exited' && s.command[0] !== 'claude',
    );
    if (open.length === 0) return;
    setShells((tabs) => {
      const known = new Set(tabs.map((t) => t.id));
      const added = open.filter((s) => !known.has(s.id));
      return added.length
        ? [...tabs, ...added.map((s, i) => ({ id: s.id, title: `Shell ${tabs.length + i + 1}` }))].slice(
            0,
            MAX_SHELL_TABS,
          )
        : tabs;
    });
  }, [existing.data]);

  const open = useMutation({
    mutationFn: () => api.openShell(task.id),
    onSuccess: (session) => {
      setShells((tabs) => [...tabs, { id: session.id, title: `Shell ${tabs.length + 1}` }]);
      setSelected(session.id);
    },
  });

  const close = (id: string) => {
    // The tab's terminal is still attached on this socket, so the signal is accepted; then it unmounts. SIGKILL
    // ends the session's wrapper (which survives HUP to report exits), and with it gone the kernel hangs up
    // the shell and whatever runs in its foreground.
    socket.emit('pty:signal', { sessionId: id, signal: 'SIGKILL' });
    setShells((tabs) => tabs.filter((t) => t.id !== id));
    if (selected === id) setSelected('main');
  };

  const tabClass = (active: boolean) =>
    `-mb-px flex items-center gap-1 border-b-2 px-3 pb-1.5 text-[13px] font-medium transition-colors ${
      active
        ? 'border-ember-500 text-zinc-900 dark:text-zinc-100'
        : 'border-transparent text-zinc-500 hover:text-zinc-800 dark:text-zinc-400 dark:hover:text-zinc-200'
    }`;

  return (
    <div className="flex min-h-0 flex-1 flex-col">
      <div
        role="tablist"
        aria-label="Terminals"
        className="flex h-9 shrink-0 items-end gap-1 overflow-x-auto border-b border-zinc-200 px-2 dark:border-zinc-800"
      >
        <button
          type="button"
          role="tab"
          aria-selected={selected === 'main'}
          className={tabClass(selected === 'main')}
          onClick={() => setSelected('main')}
        >
          {task.command?.[0] === 'claude' || task.prompt !== null ? 'Claude' : 'Main'}
        </button>
        {shells.map((shell) => (
          <div key={shell.id} className={tabClass(selected === shell.id)}>
            <button
              type="button"
              role="tab"
              aria-selected={selected === shell.id}
              data-session={shell.id}
              onClick={() => setSelected(shell.id)}
            >
              {shell.title}
            </button>
            <button
              type="button"
              aria-label={`Close ${shell.title}`}
              title={`Close ${shell.title} (ends its shell)`}
              className="rounded p-0.5 text-zinc-400 hover:bg-zinc-100 hover:text-zinc-800 dark:hover:bg-zinc-800 dark:hover:text-zinc-100"
              onClick={() => close(shell.id)}
            >
              <CloseIcon className="size-3" />
            </button>
          </div>
        ))}
        {live && shells.length < MAX_SHELL_TABS && (
          <button
            type="button"
            aria-label="New terminal"
            title="Open a shell in the sandbox"
            disabled={open.isPending}
            className="mb-1 ml-1 rounded-md p-1 text-zinc-500 hover:bg-zinc-100 hover:text-zinc-900 disabled:opacity-50 dark:text-zinc-400 dark:hover:bg-zinc-800 dark:hover:text-zinc-100"
            onClick={() => open.mutate()}
          >
            {open.isPending ? <Spinner label="Opening a shell" /> : <PlusIcon className="size-4" />}
          </button>
        )}
        {open.error ? (
          <div className="mb-1 ml-2">
            <InlineError error={open.error} />
          </div>
        ) : null}
      </div>
      <div
        className="min-h-0 flex-1 flex-col data-[hidden=false]:flex"
        hidden={selected !== 'main'}
        data-hidden={selected !== 'main'}
      >
        {main}
      </div>
      {shells.map((shell) => (
        <div
          key={shell.id}
          className="min-h-0 flex-1 flex-col data-[hidden=false]:flex"
          hidden={selected !== shell.id}
          data-hidden={selected !== shell.id}
        >
          <ShellTerminal task={task} sessionId={shell.id} title={shell.title} active={selected === shell.id} />
        </div>
      ))}
    </div>
  );
}

function ShellTerminal({
  task,
  sessionId,
  title,
  active,
}: {
  task: Task;
  sessionId: string;
  title: string;
  active: boolean;
}) {
  const socket = useSocket();
  const { resolved } = useTheme();
  const transport = useMemo(() => createSocketTerminalTransport(socket, sessionId), [socket, sessionId]);
  return (
    <Suspense
      fallback={
        <div className="flex flex-1 items-center justify-center gap-2 text-[13px] text-zinc-500">
          <Spinner label="Loading terminal" /> Loading terminal…
        </div>
      }
    >
      <Terminal
        transport={transport}
        readOnly={task.status !== 'running' && task.status !== 'idle'}
        theme={resolved}
        label={`${title} of ${task.name}`}
        autoFocus={active}
        renderer="dom"
      />
    </Suspense>
  );
}
