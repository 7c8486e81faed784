import type { Cast } from '@rclaude/protocol';

/** A recording laid out for playback: times in seconds after idle compression. */
export interface CastTimeline {
  cols: number;
  rows: number;
  /** Output and resizes in order; a resize carries its size instead of text. */
  frames: ({ t: number; text: string } | { t: number; cols: number; rows: number })[];
  markers: { t: number; label: string }[];
  duration: number;
}

/**
 * Compresses every pause longer than `idleLimitS` seconds to it (as asciinema players do) and sorts the
 * recording's events into frames and markers on that compressed clock.
 */
export function castTimeline(cast: Cast, idleLimitS: number): CastTimeline {
  const limit = idleLimitS > 0 ? idleLimitS : Number.POSITIVE_INFINITY;
  const frames: CastTimeline['frames'] = [];
  const markers: CastTimeline['markers'] = [];
  let previous = 0;
  let t = 0;
  for (const [at, code, data] of cast.events) {
    t += Math.min(Math.max(0, at - previous), limit);
    previous = Math.max(previous, at);
    if (code === 'o') frames.push({ t, text: data });
    else if (code === 'm') markers.push({ t, label: data });
    else if (code === 'r') {
      const size = /^(\d{1,4})x(\d{1,4})$/.exec(data);
      if (size) frames.push({ t, cols: Number(size[1]), rows: Number(size[2]) });
    }
  }
  return { cols: cast.header.width, rows: cast.header.height, frames, markers, duration: t };
}

/** How many frames are due at time `t` (those at or before it), by binary search. */
export function framesDue(timeline: CastTimeline, t: number): number {
  let lo = 0;
  let hi = timeline.frames.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((timeline.frames[mid] as { t: number }).t <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** `m:ss` of a time in seconds. */
export function formatClock(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}
