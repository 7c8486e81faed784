import '@xterm/xterm/css/xterm.css';
import { Terminal as XTerm } from '@xterm/xterm';
import { useCallback, useEffect, useRef, useState } from 'react';
import { Button } from '../../components/button.js';
import { terminalThemes } from '../terminal/terminal-themes.js';
import { useTheme } from '../theme/theme.js';
import { type CastTimeline, formatClock, framesDue } from './cast-timeline.js';

const SPEEDS = [0.5, 1, 2, 4, 8] as const;
const IDLE_LIMITS = [
  { value: 0.5, label: '0.5 s' },
  { value: 1, label: '1 s' },
  { value: 2, label: '2 s' },
  { value: 5, label: '5 s' },
  { value: 0, label: 'off' },
] as const;

const FONT_FAMILY =
  '"JetBrains Mono Variable", ui-monospace, "SF Mono", Menlo, Consolas, "DejaVu Sans Mono", monospace';

interface Engine {
  term: XTerm;
  timeline: CastTimeline;
  /** Frames written to the terminal so far. */
  written: number;
  /** Where playback is, in compressed seconds. */
  position: number;
}

/**
 * Plays a recording's timeline in an xterm: play and pause, a scrubber (backwards replays from the start), speed,
 * idle limit, markers. Its own chunk, loaded with xterm when a recording is shown.
 */
export function CastPlayer({ timelineOf }: { timelineOf: (idleLimit: number) => CastTimeline }) {
  const { resolved } = useTheme();
  const hostRef = useRef<HTMLDivElement>(null);
  const engineRef = useRef<Engine | null>(null);
  const [idleLimit, setIdleLimit] = useState(2);
  const [speed, setSpeed] = useState(1);
  const [playing, setPlaying] = useState(false);
  const [position, setPosition] = useState(0);
  const [timeline, setTimeline] = useState<CastTimeline>(() => timelineOf(2));
  const speedRef = useRef(speed);
  speedRef.current = speed;
  // The terminal is made once per recording, at its first timeline's size; later changes are applied to it.
  const firstTimeline = useRef(timeline);
  const firstTheme = useRef(resolved);

  /** Brings the terminal to `t`: forward by writing what is due, backward by replaying from the start. */
  const seek = useCallback((t: number) => {
    const engine = engineRef.current;
    if (!engine) return;
    const { term, timeline: tl } = engine;
    const target = Math.min(Math.max(0, t), tl.duration);
    const due = framesDue(tl, target);
    if (due < engine.written) {
      term.reset();
      term.resize(tl.cols, tl.rows);
      engine.written = 0;
    }
    let text = '';
    for (let i = engine.written; i < due; i++) {
      const frame = tl.frames[i];
      if (!frame) break;
      if ('text' in frame) text += frame.text;
      else {
        if (text) term.write(text);
        text = '';
        term.resize(frame.cols, frame.rows);
      }
    }
    if (text) term.write(text);
    engine.written = due;
    engine.position = target;
    setPosition(target);
  }, []);

  useEffect(() => {
    const host = hostRef.current;
    if (!host) return;
    const timeline = firstTimeline.current;
    const term = new XTerm({
      fontFamily: FONT_FAMILY,
      fontSize: 13,
      lineHeight: 1.2,
      cols: timeline.cols,
      rows: timeline.rows,
      disableStdin: true,
      cursorBlink: false,
      scrollback: 5000,
      theme: terminalThemes[firstTheme.current],
    });
    term.open(host);
    engineRef.current = { term, timeline, written: 0, position: 0 };
    return () => {
      engineRef.current = null;
      term.dispose();
    };
  }, []);

  useEffect(() => {
    if (engineRef.current) engineRef.current.term.options.theme = terminalThemes[resolved];
  }, [resolved]);

  // A new idle limit changes every time after the first pause: keep the place in the recording by its frame.
  const changeIdleLimit = (limit: number) => {
    const engine = engineRef.current;
    const next = timelineOf(limit);
    setIdleLimit(limit);
    setTimeline(next);
    if (!engine) return;
    const frame = next.frames[engine.written - 1];
    engine.timeline = next;
    engine.written = framesDue(next, frame?.t ?? 0);
    engine.position = frame?.t ?? 0;
    setPosition(engine.position);
  };

  useEffect(() => {
    if (!playing) return;
    let frame = 0;
    let last = performance.now();
    let lastShown = 0;
    const step = (now: number) => {
      const engine = engineRef.current;
      if (!engine) return;
      const next = engine.position + ((now - last) / 1000) * speedRef.current;
      last = now;
      if (next >= engine.timeline.duration) {
        seek(engine.timeline.duration);
        setPlaying(false);
        return;
      }
      const due = framesDue(engine.timeline, next);
      if (due > engine.written) seek(next);
      else engine.position = next;
      // The scrubber follows at about 10 Hz; React need not render every animation frame.
      if (now - lastShown > 100) {
        lastShown = now;
        setPosition(next);
      }
      frame = requestAnimationFrame(step);
    };
    frame = requestAnimationFrame(step);
    return () => cancelAnimationFrame(frame);
  }, [playing, seek]);

  const atEnd = position >= timeline.duration;
  const status = playing ? 'playing' : atEnd ? 'ended' : 'paused';
  return (
    <div className="flex min-h-0 flex-1 flex-col" data-testid="recording-player" data-status={status}>
      <div className="min-h-0 flex-1 overflow-auto bg-[#0b0d12] p-2 dark:bg-[#0b0d12]">
        <div ref={hostRef} data-testid="recording-screen" />
      </div>
      <div className="flex shrink-0 flex-col gap-2 border-t border-zinc-200 px-3 py-2 text-[13px] dark:border-zinc-800">
        <div className="flex items-center gap-2">
          <Button
            size="sm"
            variant="primary"
            onClick={() => {
              if (atEnd) seek(0);
              setPlaying((p) => !p);
            }}
          >
            {playing ? 'Pause' : atEnd ? 'Replay' : 'Play'}
          </Button>
          <span className="tabular-nums text-zinc-600 dark:text-zinc-400">
            {formatClock(position)} / {formatClock(timeline.duration)}
          </span>
          <div className="relative flex-1">
            <input
              type="range"
              aria-label="Position in the recording"
              className="w-full accent-ember-500"
              min={0}
              max={timeline.duration || 0}
              step={0.01}
              value={position}
              onChange={(e) => seek(Number(e.target.value))}
            />
            {timeline.duration > 0 &&
              timeline.markers.map((m, i) => (
                <span
                  // biome-ignore lint/suspicious/noArrayIndexKey: markers share times; their order is their identity
                  key={i}
                  className="pointer-events-none absolute top-0 h-1.5 w-0.5 bg-ember-500"
                  style={{ left: `${(m.t / timeline.duration) * 100}%` }}
                />
              ))}
          </div>
          <label className="flex items-center gap-1 text-zinc-600 dark:text-zinc-400">
            Speed
            <select
              className="rounded-md border border-zinc-200 bg-white px-1 py-0.5 text-zinc-900 dark:border-zinc-700 dark:bg-zinc-900 dark:text-zinc-100"
              value={speed}
              onChange={(e) => setSpeed(Number(e.target.value))}
            >
              {SPEEDS.map((s) => (
                <option key={s} value={s}>
                  {s}×
                </option>
              ))}
            </select>
          </label>
          <label className="flex items-center gap-1 text-zinc-600 dark:text-zinc-400">
            Idle limit
            <select
              className="rounded-md border border-zinc-200 bg-white px-1 py-0.5 text-zinc-900 dark:border-zinc-700 dark:bg-zinc-900 dark:text-zinc-100"
              value={idleLimit}
              onChange={(e) => changeIdleLimit(Number(e.target.value))}
            >
              {IDLE_LIMITS.map((l) => (
                <option key={l.value} value={l.value}>
                  {l.label}
                </option>
              ))}
            </select>
          </label>
        </div>
        {timeline.markers.length > 0 && (
          <ul className="flex max-h-24 flex-wrap gap-1 overflow-auto" aria-label="Markers">
            {timeline.markers.map((m, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: markers share times; their order is their identity
              <li key={i}>
                <button
                  type="button"
                  className="rounded-md border border-zinc-200 px-1.5 py-0.5 text-xs text-zinc-700 hover:bg-zinc-50 dark:border-zinc-700 dark:text-zinc-300 dark:hover:bg-zinc-800"
                  onClick={() => seek(m.t)}
                >
                  <span className="tabular-nums text-zinc-500">{formatClock(m.t)}</span> {m.label}
                </button>
              </li>
            ))}
          </ul>
        )}
      </div>
    </div>
  );
}
