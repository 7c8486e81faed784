/**
 * Turns the lines `claude -p --output-format stream-json --verbose` prints (Claude Code 2.1; shapes pinned
 * by claude/claude-cli.test.ts) into task events:
 * - `{type:'system', subtype:'init', model, claude_code_version, session_id, ...}` -> `info`
 * - `{type:'assistant', message:{content:[{type:'text'}|{type:'tool_use', id, name, input}]}}` ->
 *   `assistant_text` / `tool_use`, one per block
 * - `{type:'user', message:{content:[{type:'tool_result', tool_use_id, content, is_error}]}}` -> `tool_result`
 * - `{type:'result', subtype, is_error, num_turns, duration_ms, total_cost_usd, usage, result}` -> `result`
 * Anything else (thinking blocks, partial-message stream events, future line types) is skipped.
 */
import { isAbsolute, relative } from 'node:path';
import {
  type AgentTaskEvent,
  type AgentTaskEventData,
  EVENT_SUMMARY_MAX_CHARS,
  EVENT_TEXT_MAX_CHARS,
  type TaskUsage,
} from '@rclaude/protocol';

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0;
}

/** Cuts text to `max` characters, marking the cut. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** First non-empty line, clipped to a summary. */
export function firstLine(text: string, max = EVENT_SUMMARY_MAX_CHARS): string {
  const line = text.split('\n').find((l) => l.trim() !== '') ?? '';
  return clip(line.trim(), max);
}

/** Tool input fields worth showing, in order of preference. */
const SHOWN_INPUT_FIELDS = ['file_path', 'notebook_path', 'command', 'pattern', 'url', 'query', 'path', 'description'];

/** A path as the person thinks of it: relative to the workspace when inside it. */
function displayPath(path: string, workspace: string): string {
  if (!isAbsolute(path)) return path;
  const rel = relative(workspace, path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

/** `Write proof.txt`, `Bash npm test`, `Grep TODO`: the tool and the one input that says what it does. */
export function summarizeToolUse(name: string, input: Json, workspace: string): string {
  for (const field of SHOWN_INPUT_FIELDS) {
    const value = str(input[field]);
    if (!value?.trim()) continue;
    const shown = field.endsWith('path') ? displayPath(value, workspace) : value;
    return firstLine(`${name} ${shown}`);
  }
  if (Array.isArray(input.todos)) return `${name} (${input.todos.length} items)`;
  return name;
}

function shownInput(input: Json, workspace: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const field of SHOWN_INPUT_FIELDS) {
    const value = str(input[field]);
    if (value === null) continue;
    out[field] = clip(field.endsWith('path') ? displayPath(value, workspace) : value, EVENT_SUMMARY_MAX_CHARS);
  }
  return out;
}

function toolResultText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part) => (isObject(part) && part.type === 'text' ? (str(part.text) ?? '') : ''))
      .filter(Boolean)
      .join('\n');
  }
  return '';
}

/** Claude Code's usage object (API field names) as the task's usage. */
export function usageOf(u: unknown): TaskUsage {
  const usage = isObject(u) ? u : {};
  return {
    inputTokens: Math.round(num(usage.input_tokens)),
    outputTokens: Math.round(num(usage.output_tokens)),
    cacheReadTokens: Math.round(num(usage.cache_read_input_tokens)),
    cacheCreationTokens: Math.round(num(usage.cache_creation_input_tokens)),
  };
}

function resultEvent(line: Json): AgentTaskEventData<'result'> {
  const subtype = str(line.subtype) ?? 'unknown';
  const isError = line.is_error === true || subtype !== 'success';
  const errors = Array.isArray(line.errors) ? line.errors.filter((e): e is string => typeof e === 'string') : [];
  const text = str(line.result) ?? (errors.length ? errors.join('\n') : isError ? `Claude Code ended: ${subtype}` : '');
  return {
    ok: !isError,
    subtype: clip(subtype, 64),
    turns: Math.round(num(line.num_turns)),
    durationMs: num(line.duration_ms),
    durationApiMs: typeof line.duration_api_ms === 'number' ? num(line.duration_api_ms) : null,
    costUsd: num(line.total_cost_usd),
    usage: usageOf(line.usage),
    text: clip(text, EVENT_TEXT_MAX_CHARS),
    claudeSessionId: str(line.session_id)?.slice(0, 128) ?? null,
  };
}

/** The task events one parsed stream-json line stands for (often none). */
export function eventsFromStreamLine(line: unknown, ctx: { workspace: string }): AgentTaskEvent[] {
  if (!isObject(line)) return [];
  switch (line.type) {
    case 'system': {
      if (line.subtype !== 'init') return [];
      const model = str(line.model);
      const version = str(line.claude_code_version);
      const sessionId = str(line.session_id);
      const mode = str(line.permissionMode);
      const parts = [model, mode ? `${mode} mode` : null].filter(Boolean).join(', ');
      return [
        {
          type: 'info',
          data: {
            message: clip(`Claude Code${version ? ` ${version}` : ''} started${parts ? ` (${parts})` : ''}`, 2000),
            ...(model ? { model: clip(model, 128) } : {}),
            ...(sessionId ? { claudeSessionId: sessionId.slice(0, 128) } : {}),
            ...(version ? { version: clip(version, 64) } : {}),
          },
        },
      ];
    }
    case 'assistant': {
      const content = isObject(line.message) && Array.isArray(line.message.content) ? line.message.content : [];
      const events: AgentTaskEvent[] = [];
      for (const block of content) {
        if (!isObject(block)) continue;
        if (block.type === 'text') {
          const text = str(block.text)?.trim();
          if (text) events.push({ type: 'assistant_text', data: { text: clip(text, EVENT_TEXT_MAX_CHARS) } });
        } else if (block.type === 'tool_use') {
          const name = clip(str(block.name) || 'tool', 128);
          const input = isObject(block.input) ? block.input : {};
          events.push({
            type: 'tool_use',
            data: {
              id: str(block.id)?.slice(0, 128) ?? null,
              name,
              summary: summarizeToolUse(name, input, ctx.workspace),
              input: shownInput(input, ctx.workspace),
            },
          });
        }
      }
      return events;
    }
    case 'user': {
      const content = isObject(line.message) && Array.isArray(line.message.content) ? line.message.content : [];
      const events: AgentTaskEvent[] = [];
      for (const block of content) {
        if (!isObject(block) || block.type !== 'tool_result') continue;
        events.push({
          type: 'tool_result',
          data: {
            toolUseId: str(block.tool_use_id)?.slice(0, 128) ?? null,
            ok: block.is_error !== true,
            summary: firstLine(toolResultText(block.content)),
          },
        });
      }
      return events;
    }
    case 'result':
      return [{ type: 'result', data: resultEvent(line) }];
    default:
      return [];
  }
}

/** Parses one line of output; null when it is not JSON (Claude Code printed something else). */
export function parseStreamLine(text: string): unknown | null {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{')) return null;
  try {
    return JSON.parse(trimmed) as unknown;
  } catch {
    return null;
  }
}
