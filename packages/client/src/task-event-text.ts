import type { TaskEventType } from '@rclaude/protocol';
import { escapeControlChars, shellCommand } from './safe-text.js';

/**
 * How a renderer marks up parts of a line. {@link plainStyle} leaves text as is; {@link ansiStyle} paints it
 * with SGR escapes for a terminal. A web view could wrap parts in its own markers.
 */
export interface TextStyle {
  dim(text: string): string;
  bold(text: string): string;
  red(text: string): string;
  green(text: string): string;
  cyan(text: string): string;
}

const keep = (text: string) => text;

export const plainStyle: TextStyle = { dim: keep, bold: keep, red: keep, green: keep, cyan: keep };

const sgr = (code: number) => (text: string) => `\x1b[${code}m${text}\x1b[0m`;

export const ansiStyle: TextStyle = { dim: sgr(2), bold: sgr(1), red: sgr(31), green: sgr(32), cyan: sgr(36) };

/**
 * A prompt's run time as the terminal shows it: tenths of a second under a minute (`0.5s`, `59.9s`), then
 * whole seconds (`1m05s`, `2m00s`, `1h02m03s`). Every field is rounded once, from the total, so a carry
 * moves into the next field instead of printing `1m60s` or `60.0s`. Negative or non-finite input is 0.
 */
export function formatRunDuration(ms: number): string {
  const safe = Number.isFinite(ms) && ms > 0 ? ms : 0;
  const tenths = Math.round(safe / 100);
  if (tenths < 600) return `${(tenths / 10).toFixed(1)}s`;
  const total = Math.round(safe / 1000);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = pad(total % 60);
  return hours > 0 ? `${hours}h${pad(minutes)}m${seconds}s` : `${minutes}m${seconds}s`;
}

/** Dollars: cents from $1 on (`$1.23`), tenths of a cent below (`$0.0003`), where a prompt's cost usually is. */
export function formatUsd(usd: number): string {
  const safe = Number.isFinite(usd) && usd > 0 ? usd : 0;
  return safe >= 1 ? `$${safe.toFixed(2)}` : `$${safe.toFixed(4)}`;
}

/**
 * Bytes in decimal units, as `du -h --si` and most file managers show them: `512 B`, `3.4 kB`, `56 MB`,
 * `1.2 GB`; one decimal under 10 of a unit. Negative or non-finite input is 0.
 */
export function formatBytes(bytes: number): string {
  let value = Number.isFinite(bytes) && bytes > 0 ? bytes : 0;
  if (value < 1000) return `${Math.round(value)} B`;
  for (const unit of ['kB', 'MB', 'GB', 'TB']) {
    value /= 1000;
    // Rounding may carry into the next unit (999.96 kB -> 1000 kB): go on to the next one instead.
    if (unit === 'TB' || Math.round(value * 10) / 10 < 1000) {
      return value < 9.95 ? `${value.toFixed(1)} ${unit}` : `${Math.round(value)} ${unit}`;
    }
  }
  return `${value} TB`;
}

/** A span for "how long ago": `40 s`, `3 min`, `2 h`, `3 d`, rounded down so a span never reads longer. */
export function formatSpan(ms: number): string {
  const s = Number.isFinite(ms) && ms > 0 ? Math.floor(ms / 1000) : 0;
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86_400)} d`;
}

/** A count with thousands separators: `1,234`. */
export function formatCount(n: number): string {
  return (Number.isFinite(n) ? Math.round(n) : 0).toLocaleString('en-US');
}

/** The idle warning the server puts on a task's timeline before it hibernates it (an `info` event). */
export interface HibernateWarning {
  message: string;
  /** When the task hibernates if nothing happens before (ms since the epoch). */
  hibernateAt: number;
}

/** The hibernation warning an event carries, or null: an `info` event whose data has a valid `hibernateAt`. */
export function hibernateWarning(event: TaskEventLike): HibernateWarning | null {
  if (event.type !== 'info' || typeof event.data.hibernateAt !== 'string') return null;
  const at = Date.parse(event.data.hibernateAt);
  if (Number.isNaN(at)) return null;
  const message = typeof event.data.message === 'string' ? event.data.message : 'hibernating soon';
  return { message, hibernateAt: at };
}

/** How many mismatches of a restore are listed line by line; the rest are counted. */
const MISMATCHES_SHOWN = 5;

/** An event of a task's timeline, as stored (`TaskEvent`) or as the agent makes it (`AgentTaskEvent`). */
export interface TaskEventLike {
  type: TaskEventType;
  data: Record<string, unknown>;
}

export interface TaskEventTextOptions {
  /** Default: {@link plainStyle}. */
  style?: TextStyle;
  /** The task the event belongs to; with it, a diff's line names the command that downloads the full diff. */
  taskId?: string;
}

/**
 * The lines (without line breaks) one event adds to a terminal view of a prompt task: Claude's text as it
 * arrives, one line per tool call and one per failed tool, the closing summary with turns, time, tokens and
 * cost, the diff summary, the branch, a question Claude waits on, checkpoints taken or failed, a restore and
 * what it could not bring back exactly, the warning before an idle task hibernates. Empty for events that add nothing (status
 * changes, output, working or done). The one renderer behind the agent's PTY view of `claude -p` and
 * `rclaude run -p`; data is read defensively, as stored events are only as well-formed as their sender,
 * and every string in it comes from the sandbox: its control characters are shown as visible escapes
 * ({@link escapeControlChars}), and a suggested command is shell-quoted ({@link shellCommand}).
 */
export function taskEventLines(event: TaskEventLike, options: TaskEventTextOptions = {}): string[] {
  const c = options.style ?? plainStyle;
  const d = event.data;
  switch (event.type) {
    case 'info':
      // The hibernation warning is meant to be seen: not dimmed like other notes.
      return hibernateWarning(event) ? [`${c.bold('⏾')} ${str(d.message)}`] : [c.dim(str(d.message))];
    case 'checkpoint': {
      const trigger = str(d.trigger) || 'manual';
      if (typeof d.error === 'string') return [c.red(`checkpoint failed (${trigger}): ${str(d.error)}`)];
      const facts = `${formatCount(num(d.files))} files, ${formatBytes(num(d.bytes))} (uploaded ${formatBytes(num(d.uploadedBytes))}) in ${formatRunDuration(num(d.durationMs))}`;
      return [c.dim(`checkpoint ${str(d.checkpointId)}${trigger === 'manual' ? '' : ` (${trigger})`}: ${facts}`)];
    }
    case 'restore': {
      const mismatches = Array.isArray(d.mismatches) ? d.mismatches.filter((m) => typeof m === 'string') : [];
      const facts = `${formatCount(num(d.files))} files, ${formatBytes(num(d.bytes))} in ${formatRunDuration(num(d.durationMs))}`;
      const lines = [c.dim(`restored ${str(d.checkpointId)} from ${formatSpan(num(d.ageMs))} ago: ${facts}`)];
      if (mismatches.length === 0) return lines;
      lines.push(
        c.red(`  ${mismatches.length} ${mismatches.length === 1 ? 'entry' : 'entries'} not restored exactly:`),
        ...mismatches.slice(0, MISMATCHES_SHOWN).map((m) => `    ${str(m)}`),
      );
      if (mismatches.length > MISMATCHES_SHOWN)
        lines.push(c.dim(`    … and ${mismatches.length - MISMATCHES_SHOWN} more`));
      return lines;
    }
    case 'assistant_text': {
      const [first = '', ...rest] = escapeControlChars(typeof d.text === 'string' ? d.text : '', {
        multiline: true,
      }).split('\n');
      return [`${c.bold('●')} ${first}`, ...rest.map((line) => `  ${line}`)];
    }
    case 'tool_use':
      return [`${c.cyan('→')} ${str(d.summary) || str(d.name)}`];
    case 'tool_result':
      return d.ok === false ? [`  ${c.red('✗')} ${str(d.summary)}`] : [];
    case 'result': {
      const usage = (typeof d.usage === 'object' && d.usage !== null ? d.usage : {}) as Record<string, unknown>;
      const input = num(usage.inputTokens) + num(usage.cacheReadTokens) + num(usage.cacheCreationTokens);
      const turns = num(d.turns);
      const facts = [
        `${turns} turn${turns === 1 ? '' : 's'}`,
        formatRunDuration(num(d.durationMs)),
        `${input} in / ${num(usage.outputTokens)} out tokens`,
        formatUsd(num(d.costUsd)),
      ].join(' · ');
      return d.ok === true
        ? [`${c.green('✓ done')} ${c.dim(facts)}`]
        : [c.red(`✗ ${str(d.text) || str(d.subtype) || 'error'}`), c.dim(facts)];
    }
    case 'diff': {
      const path = typeof d.diffPath === 'string' ? d.diffPath : '';
      const where = options.taskId ? shellCommand(['rclaude', 'cp', `${options.taskId}:${path}`, '.']) : str(path);
      const full = num(d.filesChanged) > 0 && path ? ` · full diff: ${where}` : '';
      return [c.dim(`changes: ${str(d.summary)}${full}`)];
    }
    case 'push': {
      const branch = str(d.branch);
      const commit = str(typeof d.commit === 'string' ? d.commit.slice(0, 12) : '');
      const to = d.pushedTo;
      return [
        c.dim(
          typeof to === 'string'
            ? `pushed branch ${branch} (${commit}) to ${str(to)}`
            : `committed to branch ${branch} (${commit}), not pushed`,
        ),
      ];
    }
    case 'pull_request': {
      const what = d.created === false ? 'pushed to the open pull request' : 'opened pull request';
      return [`${c.green('⇡')} ${what} #${num(d.number)} (${str(d.branch)} → ${str(d.base)}): ${str(d.url)}`];
    }
    case 'activity':
      // The bell makes a terminal in another window or tab flag the question.
      return d.activity === 'waiting' ? [`\x07${c.bold('?')} waiting for input: ${str(d.message)}`] : [];
    case 'error':
      return [c.red(`error: ${str(d.message)}`)];
    case 'approval_requested': {
      const id = str(d.approvalId);
      const answer = `${shellCommand(['rclaude', 'approve', id])} or ${shellCommand(['rclaude', 'deny', id])}`;
      const reason = typeof d.reason === 'string' && d.reason ? c.dim(` (${str(d.reason)})`) : '';
      return [`\x07${c.bold('?')} approval ${id}: ${str(d.summary) || str(d.tool)}${reason} · ${answer}`];
    }
    case 'approval_answered': {
      const id = str(d.approvalId);
      if (d.timedOut === true) return [c.red(`✗ approval ${id} timed out: denied`)];
      const by = typeof d.by === 'string' ? ` by ${str(d.by)}` : '';
      return d.decision === 'allow'
        ? [c.green(`✓ approval ${id} allowed${by}`)]
        : [c.red(`✗ approval ${id} denied${by}`)];
    }
    case 'approval_withdrawn':
      return [c.dim(`approval ${str(d.approvalId)} withdrawn: ${str(d.reason)}`)];
    default:
      // `status` and `output`, and types newer than this client.
      return [];
  }
}

/** {@link taskEventLines} as text for a terminal: each line ended by `\n`; '' when the event adds nothing. */
export function taskEventText(event: TaskEventLike, options: TaskEventTextOptions = {}): string {
  return taskEventLines(event, options)
    .map((line) => `${line}\n`)
    .join('');
}

/** A string field of the event for one line: '' when missing, control characters made visible. */
function str(value: unknown): string {
  return typeof value === 'string' ? escapeControlChars(value) : '';
}

function num(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}
