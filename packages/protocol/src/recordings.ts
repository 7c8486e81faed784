/**
 * Session recordings in the asciicast v2 format (what asciinema plays): a JSON header line, then one JSON array
 * per event, `[seconds, code, data]`: `o` output, `r` a resize (`"COLSxROWS"`), `m` a marker (a label).
 * The server derives a recording from a session's output log, the times stored with it and its resizes; the
 * task's timeline gives the markers. See docs/recordings.md.
 */
import { z } from 'zod';
import { routes } from './routes.js';
import type { TaskEvent } from './tasks.js';

/** The content type of a recording. */
export const ASCIICAST_CONTENT_TYPE = routes.getSessionRecording.rawResponse.type;

/** `GET /api/sessions/:id/recording` query: the format (asciicast v2 is the only one). */
export const recordingQuerySchema = z.object({ format: z.enum(['cast']).default('cast') }).strict();
export type RecordingQuery = z.infer<typeof recordingQuerySchema>;

/** The first line of an asciicast v2 file. */
export const castHeaderSchema = z.object({
  version: z.literal(2),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  /** When the recording starts, in seconds since the epoch. */
  timestamp: z.number().int().nonnegative().optional(),
  /** Players compress pauses longer than this many seconds to it. */
  idle_time_limit: z.number().positive().optional(),
  title: z.string().optional(),
  env: z.record(z.string(), z.string()).optional(),
});
export type CastHeader = z.infer<typeof castHeaderSchema>;

export const castEventCodeSchema = z.enum(['o', 'i', 'r', 'm']);
/** One event line: seconds since the start (non-decreasing), its code, its text. */
export const castEventSchema = z.tuple([z.number().nonnegative(), castEventCodeSchema, z.string()]);
export type CastEvent = z.infer<typeof castEventSchema>;

/** A parsed recording. */
export interface Cast {
  header: CastHeader;
  events: CastEvent[];
}

/**
 * Parses an asciicast v2 text (a header line, then event lines; blank lines ignored). Throws on a malformed
 * header or event, naming the line.
 */
export function parseCast(text: string): Cast {
  const lines = text.split('\n');
  const first = lines.findIndex((l) => l.trim() !== '');
  if (first < 0) throw new Error('empty recording');
  const header = castHeaderSchema.parse(JSON.parse(lines[first] as string));
  const events: CastEvent[] = [];
  for (let i = first + 1; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.trim() === '') continue;
    const parsed = castEventSchema.safeParse(JSON.parse(line));
    if (!parsed.success) throw new Error(`line ${i + 1} is not an asciicast v2 event`);
    events.push(parsed.data);
  }
  return { header, events };
}

/** Longest marker label, in characters. */
export const MARKER_LABEL_MAX_CHARS = 120;

/**
 * The label of a timeline event shown as a marker in a recording, or null for events that are not one: tool
 * calls, checkpoints, restores, pushes, errors and the end of a prompt run.
 */
export function markerLabel(event: Pick<TaskEvent, 'type' | 'data'>): string | null {
  const text = (value: unknown): string => (typeof value === 'string' ? value : '');
  let label: string | null;
  switch (event.type) {
    case 'tool_use':
      label = text(event.data.summary) || text(event.data.name) || 'tool';
      break;
    case 'checkpoint':
      label = 'checkpoint';
      break;
    case 'restore':
      label = 'restored from a checkpoint';
      break;
    case 'push':
      label = `pushed ${text(event.data.branch)}`.trim();
      break;
    case 'error':
      label = `error: ${text(event.data.message)}`;
      break;
    case 'result':
      label = 'result';
      break;
    case 'approval_requested':
      label = `approval asked: ${text(event.data.summary) || text(event.data.tool)}`;
      break;
    case 'approval_answered':
      label =
        event.data.timedOut === true
          ? 'approval timed out'
          : `${event.data.decision === 'allow' ? 'approved' : 'denied'} by ${text(event.data.by)}`;
      break;
    case 'pull_request':
      label = 'pull request';
      break;
    default:
      label = null;
  }
  if (label === null) return null;
  // One line, no control characters: a label is shown as text by players.
  const clean = label.replace(/[\p{Cc}\p{Cf}]+/gu, ' ').trim();
  return clean.length > MARKER_LABEL_MAX_CHARS ? `${clean.slice(0, MARKER_LABEL_MAX_CHARS - 1)}…` : clean;
}
