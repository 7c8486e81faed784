import { parseCast, type Task } from '@rclaude/protocol';
import { useQuery } from '@tanstack/react-query';
import { lazy, Suspense, useEffect, useRef, useState } from 'react';
import { useApp } from '../../app-context.js';
import { Button } from '../../components/button.js';
import { PlayIcon, RefreshIcon } from '../../components/icons.js';
import { EmptyState, ErrorState, Spinner } from '../../components/states.js';
import { castTimeline } from './cast-timeline.js';

// xterm comes with the player, in a chunk of its own, only once a recording is shown.
const CastPlayer = lazy(() => import('./cast-player.js').then((m) => ({ default: m.CastPlayer })));

/**
 * The Recording tab of a task: replays a session's recording (asciicast v2 from the server) in an xterm, with
 * play and pause, a scrubber, speed, idle-time compression, and the timeline's markers to jump to. It is
 * xterm driven by the recording rather than asciinema-player, whose terminal is WebAssembly and would need
 * `'wasm-unsafe-eval'` in the page's script-src (adr/0018). Loads when first shown.
 */
export function RecordingPanel({ task }: { task: Task }) {
  const { api } = useApp();
  const rootRef = useRef<HTMLDivElement>(null);
  const [shown, setShown] = useState(false);
  const [sessionId, setSessionId] = useState(task.mainSessionId);
  const [reloads, setReloads] = useState(0);

  // Panels of hidden tabs stay mounted: fetch the recording only once this one is on screen.
  useEffect(() => {
    const root = rootRef.current;
    if (!root || shown) return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) setShown(true);
    });
    observer.observe(root);
    return () => observer.disconnect();
  }, [shown]);

  const sessions = useQuery({
    queryKey: ['task-sessions', task.id, reloads],
    queryFn: () => api.listTaskSessions(task.id),
    enabled: shown,
  });
  const recording = useQuery({
    queryKey: ['recording', sessionId, reloads],
    queryFn: async () => parseCast(await api.sessionRecording(sessionId)),
    enabled: shown,
    staleTime: Number.POSITIVE_INFINITY,
  });

  return (
    <div ref={rootRef} className="flex min-h-0 flex-1 flex-col" data-testid="recording-panel">
      <div className="flex shrink-0 flex-wrap items-center gap-2 border-b border-zinc-200 px-3 py-2 text-[13px] dark:border-zinc-800">
        <label className="flex items-center gap-1.5 text-zinc-600 dark:text-zinc-400">
          Session
          <select
            className="rounded-md border border-zinc-200 bg-white px-1.5 py-1 text-zinc-900 dark:border-zinc-700 dark:bg-zinc-900 dark:text-zinc-100"
            value={sessionId}
            onChange={(e) => setSessionId(e.target.value)}
          >
            <option value={task.mainSessionId}>Main</option>
            {(sessions.data ?? [])
              .filter((s) => s.id !== task.mainSessionId)
              .map((s, i) => (
                <option key={s.id} value={s.id}>
                  {`Shell ${i + 1}: ${s.command.join(' ')}`.slice(0, 60)}
                </option>
              ))}
          </select>
        </label>
        <Button size="sm" variant="ghost" onClick={() => setReloads((n) => n + 1)} title="Load what was recorded since">
          <RefreshIcon /> Reload
        </Button>
      </div>
      {recording.isPending ? (
        <div className="flex flex-1 items-center justify-center gap-2 text-[13px] text-zinc-500">
          <Spinner label="Loading recording" /> Loading recording…
        </div>
      ) : recording.isError ? (
        <ErrorState title="Could not load the recording" error={recording.error} />
      ) : recording.data.events.length === 0 ? (
        <EmptyState icon={<PlayIcon />} title="Nothing recorded yet">
          The session has not written anything to its terminal.
        </EmptyState>
      ) : (
        <Suspense fallback={<Spinner label="Loading the player" />}>
          <CastPlayer key={`${sessionId}:${reloads}`} timelineOf={(idle) => castTimeline(recording.data, idle)} />
        </Suspense>
      )}
    </div>
  );
}
