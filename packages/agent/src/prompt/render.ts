import type { AgentTaskEvent } from '@rclaude/protocol';

const style = {
  dim: (s: string) => `\x1b[2m${s}\x1b[0m`,
  bold: (s: string) => `\x1b[1m${s}\x1b[0m`,
  red: (s: string) => `\x1b[31m${s}\x1b[0m`,
  green: (s: string) => `\x1b[32m${s}\x1b[0m`,
  cyan: (s: string) => `\x1b[36m${s}\x1b[0m`,
};
const plain = {
  dim: (s: string) => s,
  bold: (s: string) => s,
  red: (s: string) => s,
  green: (s: string) => s,
  cyan: (s: string) => s,
};

/** `1.2s`, `3m04s`. */
export function formatDuration(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const whole = Math.round(s);
  return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
}

export function formatUsd(usd: number): string {
  return usd >= 1 ? `$${usd.toFixed(2)}` : `$${usd.toFixed(4)}`;
}

/**
 * How a prompt task's event reads in its terminal (what `rclaude attach` and `rclaude logs` show): Claude's
 * text as it arrives, one line per tool call, errors of tool results, and a closing summary. Returns '' for
 * events that add nothing on screen.
 */
export function renderEvent(event: AgentTaskEvent, opts: { color: boolean }): string {
  const c = opts.color ? style : plain;
  switch (event.type) {
    case 'info':
      return `${c.dim(event.data.message)}\n`;
    case 'assistant_text':
      return `${c.bold('●')} ${event.data.text.replace(/\n/g, '\n  ')}\n`;
    case 'tool_use':
      return `${c.cyan('→')} ${event.data.summary}\n`;
    case 'tool_result':
      return event.data.ok ? '' : `  ${c.red('✗')} ${event.data.summary}\n`;
    case 'result': {
      const d = event.data;
      const tokens = `${d.usage.inputTokens + d.usage.cacheReadTokens + d.usage.cacheCreationTokens} in / ${d.usage.outputTokens} out tokens`;
      const facts = `${d.turns} turn${d.turns === 1 ? '' : 's'} · ${formatDuration(d.durationMs)} · ${tokens} · ${formatUsd(d.costUsd)}`;
      return d.ok
        ? `${c.green('✓ done')} ${c.dim(facts)}\n`
        : `${c.red(`✗ ${d.text || d.subtype}`)}\n${c.dim(facts)}\n`;
    }
    case 'diff':
      return `${c.dim(`changes: ${event.data.summary}${event.data.filesChanged ? ` (full diff: ${event.data.diffPath})` : ''}`)}\n`;
    case 'push': {
      // The same words as the CLI's -p view (prompt-view.ts).
      const { branch, commit, pushedTo } = event.data;
      const short = commit.slice(0, 12);
      return pushedTo === null
        ? `${c.dim(`committed to branch ${branch} (${short}), not pushed`)}\n`
        : `${c.dim(`pushed branch ${branch} (${short}) to ${pushedTo}`)}\n`;
    }
    case 'error':
      return `${c.red(`error: ${event.data.message}`)}\n`;
    case 'activity':
      return '';
  }
}
