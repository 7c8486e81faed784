import type { CastHeader } from '@rclaude/protocol';
import type { RecordedResize, TimedChunk } from '../stores/types.js';

/** What a recording is derived from: a session's stored output with times, its resizes, the task's markers. */
export interface CastSource {
  /** Size of the terminal when the session started (the header's width and height unless a resize precedes). */
  cols: number;
  rows: number;
  title?: string;
  env?: Record<string, string>;
  /** The stored output, in offset order. */
  chunks: AsyncIterable<TimedChunk> | Iterable<TimedChunk>;
  resizes: readonly RecordedResize[];
  markers: readonly { at: number; label: string }[];
  /** The server's time now (ms): no time in a recording is later, whatever a sandbox claimed. */
  now: number;
}

/**
 * The lines of an asciicast v2 recording (each without its newline): the header, then `o`, `r` and `m` events
 * in time order. Output is cut where it was stored and decoded as UTF-8 across cuts, so a character split
 * between two frames is emitted whole with the later one. Times are made safe here whatever was stored: never
 * after `now`, never before the previous event (an unknown time, 0, is the previous one), and counted from the
 * first output's time.
 */
export async function* castLines(src: CastSource): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8');
  const resizes = [...src.resizes].sort((a, b) => a.at - b.at);
  const markers = [...src.markers].sort((a, b) => a.at - b.at);
  let start: number | null = null;
  let last = 0;
  /** Seconds from the start for a time in ms, non-decreasing. */
  const seconds = (at: number): number => {
    const ms = Math.max(0, Math.min(at, src.now) - (start ?? at));
    last = Math.max(last, Math.round(ms) / 1000);
    return last;
  };
  let r = 0;
  let m = 0;
  /** Resizes and markers up to `at` (all of them with Infinity). */
  function* before(at: number): Generator<string> {
    while (r < resizes.length || m < markers.length) {
      const resize = resizes[r];
      const marker = markers[m];
      const takeResize = resize !== undefined && (marker === undefined || resize.at <= marker.at);
      const next = takeResize ? resize : marker;
      if (!next || next.at > at) return;
      if (takeResize) {
        r++;
        yield JSON.stringify([seconds(resize.at), 'r', `${resize.cols}x${resize.rows}`]);
      } else if (marker) {
        m++;
        yield JSON.stringify([seconds(marker.at), 'm', marker.label]);
      }
    }
  }

  let header: string | null = null;
  let previous = 0;
  for await (const chunk of src.chunks) {
    // A stored time is trusted only as far as it is possible: not after now, not before the previous chunk.
    const at = Math.max(previous, chunk.at > 0 ? Math.min(chunk.at, src.now) : previous);
    previous = at;
    if (start === null && at > 0) start = at;
    if (header === null) {
      // The size in effect when output starts: the newest resize at or before it, else the session's own.
      let size = { cols: src.cols, rows: src.rows };
      while (r < resizes.length && (resizes[r] as RecordedResize).at <= at) size = resizes[r++] as RecordedResize;
      header = JSON.stringify(headerOf(src, size, start));
      yield header;
    }
    yield* before(at);
    const text = decoder.decode(chunk.data, { stream: true });
    if (text !== '') yield JSON.stringify([seconds(at), 'o', text]);
  }
  if (header === null) {
    start = src.now;
    yield JSON.stringify(headerOf(src, { cols: src.cols, rows: src.rows }, start));
  }
  // A character cut off at the very end of the log (never completed) comes out as U+FFFD.
  const tail = decoder.decode();
  if (tail !== '') yield JSON.stringify([seconds(previous), 'o', tail]);
  yield* before(Number.POSITIVE_INFINITY);
}

function headerOf(src: CastSource, size: { cols: number; rows: number }, start: number | null): CastHeader {
  return {
    version: 2,
    width: size.cols,
    height: size.rows,
    ...(start ? { timestamp: Math.floor(start / 1000) } : {}),
    ...(src.title ? { title: src.title } : {}),
    ...(src.env ? { env: src.env } : {}),
  };
}
