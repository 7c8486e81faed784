import type { Cast } from '@rclaude/protocol';

/** One step of a replay: wait this long (ms, already scaled and compressed), then write this. */
export interface PlayStep {
  waitMs: number;
  text: string;
}

/**
 * The output of a recording as replay steps: each pause is at most `idleLimitS` seconds, then divided by
 * `speed`. Resizes and markers are not written (a terminal cannot be resized from here).
 */
export function playSteps(cast: Cast, opts: { speed: number; idleLimitS: number }): PlayStep[] {
  const steps: PlayStep[] = [];
  let previous = 0;
  let carried = 0;
  for (const [t, code, text] of cast.events) {
    // Pauses before skipped events still count, each compressed on its own.
    const gap = Math.max(0, t - previous);
    previous = Math.max(previous, t);
    carried += Math.min(gap, opts.idleLimitS);
    if (code !== 'o') continue;
    steps.push({ waitMs: (carried * 1000) / opts.speed, text });
    carried = 0;
  }
  return steps;
}

export interface PlayControls {
  out: NodeJS.WritableStream;
  /** Keys typed while playing (raw mode): q or Ctrl-C quit, space pauses and resumes. */
  keys?: NodeJS.ReadableStream;
}

/** Replays the steps with their timing. Resolves `done` at the end, `quit` when the viewer quits. */
export function playCast(steps: PlayStep[], controls: PlayControls): Promise<'done' | 'quit'> {
  return new Promise((resolve) => {
    let i = 0;
    let timer: NodeJS.Timeout | undefined;
    let paused = false;
    let finished = false;
    /** When the current wait began and how long it was, to resume a paused wait where it stopped. */
    let waitStarted = 0;
    let waitLeft = 0;

    const finish = (how: 'done' | 'quit') => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      controls.keys?.off('data', onKey);
      resolve(how);
    };
    const next = () => {
      if (finished || paused) return;
      const step = steps[i];
      if (!step) return finish('done');
      controls.out.write(step.text);
      i++;
      schedule(steps[i]?.waitMs ?? 0);
    };
    const schedule = (ms: number) => {
      waitStarted = Date.now();
      waitLeft = ms;
      timer = setTimeout(next, ms);
    };
    const onKey = (chunk: Buffer | string) => {
      const text = typeof chunk === 'string' ? chunk : chunk.toString('latin1');
      if (text.includes('q') || text.includes('\u0003')) return finish('quit');
      if (text.includes(' ')) {
        if (paused) {
          paused = false;
          schedule(waitLeft);
        } else {
          paused = true;
          clearTimeout(timer);
          waitLeft = Math.max(0, waitLeft - (Date.now() - waitStarted));
        }
      }
    };
    controls.keys?.on('data', onKey);
    schedule(steps[0]?.waitMs ?? 0);
  });
}
