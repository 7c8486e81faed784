import { markerLabel, type Task } from '@rclaude/protocol';
import type { OutputLog, SessionState, TaskStore, TimedChunk } from '../stores/types.js';
import { castLines } from './cast-builder.js';

/** Bytes read from the output log per step while a recording streams. */
const READ_STEP_BYTES = 256 * 1024;
/** Timeline events looked at for markers, at most (a page is 1000). */
const MAX_MARKER_EVENTS = 20_000;

export interface RecordingDeps {
  outputLog: Pick<OutputLog, 'bounds' | 'readTimed' | 'resizes'>;
  tasks: Pick<TaskStore, 'listEvents'>;
  now: () => number;
}

/**
 * A session's recording as asciicast v2 lines, derived from what is stored now: its output (up to the end stored
 * when asked; a live session's later output is not waited for), the times and resizes kept with it, and, for
 * the task's main session, the task's timeline as markers. The caller has checked the caller may see the task.
 */
export async function recordingLines(
  deps: RecordingDeps,
  task: Task,
  state: SessionState,
): Promise<AsyncGenerator<string>> {
  const { end } = await deps.outputLog.bounds(state.id);
  const resizes = await deps.outputLog.resizes(state.id);
  const markers = state.id === task.mainSessionId ? await timelineMarkers(deps.tasks, task.id) : [];
  const title = state.kind === 'main' ? task.name : `${task.name} (${state.command.join(' ') || 'shell'})`;
  return castLines({
    cols: state.cols,
    rows: state.rows,
    title,
    env: { TERM: 'xterm-256color' },
    chunks: chunksUpTo(deps.outputLog, state.id, end),
    resizes,
    markers,
    now: deps.now(),
  });
}

async function* chunksUpTo(
  log: Pick<OutputLog, 'readTimed'>,
  sessionId: string,
  end: number,
): AsyncGenerator<TimedChunk> {
  let from = 0;
  while (from < end) {
    const { chunks } = await log.readTimed(sessionId, from, Math.min(READ_STEP_BYTES, end - from));
    const last = chunks.at(-1);
    if (!last) return;
    yield* chunks;
    const next = last.offset + last.data.byteLength;
    // Never loop in place (a log trimmed under us restarts from what is left, always further on).
    if (next <= from) return;
    from = next;
  }
}

async function timelineMarkers(tasks: Pick<TaskStore, 'listEvents'>, taskId: string) {
  const markers: { at: number; label: string }[] = [];
  let after = 0;
  for (let seen = 0; seen < MAX_MARKER_EVENTS; ) {
    const page = await tasks.listEvents(taskId, after, 1000);
    for (const event of page) {
      const label = markerLabel(event);
      const at = Date.parse(event.at);
      if (label !== null && Number.isFinite(at)) markers.push({ at, label });
    }
    seen += page.length;
    const lastSeq = page.at(-1)?.seq;
    if (page.length < 1000 || lastSeq === undefined) break;
    after = lastSeq;
  }
  return markers;
}
