import { EVENT_SUMMARY_MAX_CHARS, EVENT_TEXT_MAX_CHARS, parseAgentTaskEvent } from '@rclaude/protocol';
import { describe, expect, it } from 'vitest';
import { renderEvent } from './render.js';
import { eventsFromStreamLine, parseStreamLine, summarizeToolUse } from './stream-json.js';

const ws = '/workspace';
const events = (line: unknown) => eventsFromStreamLine(line, { workspace: ws });

/** Lines as Claude Code 2.1.329 prints them (shapes from claude/claude-cli.test.ts), trimmed to what matters. */
const init = {
  type: 'system',
  subtype: 'init',
  cwd: ws,
  session_id: '31098d9e-523e-417f-bbe0-f42f3910f1d9',
  model: 'claude-opus-5-5',
  permissionMode: 'bypassPermissions',
  claude_code_version: '2.1.329',
  tools: ['Write', 'Bash'],
};
const result = {
  type: 'result',
  subtype: 'success',
  is_error: false,
  num_turns: 2,
  result: 'All done.',
  duration_ms: 1234,
  duration_api_ms: 456,
  total_cost_usd: 0.00028,
  session_id: init.session_id,
  usage: { input_tokens: 300, output_tokens: 50, cache_read_input_tokens: 40, cache_creation_input_tokens: 2 },
};

describe('eventsFromStreamLine', () => {
  it('turns the init line into an info event with model, version and conversation id', () => {
    expect(events(init)).toEqual([
      {
        type: 'info',
        data: {
          message: 'Claude Code 2.1.329 started (claude-opus-5-5, bypassPermissions mode)',
          model: 'claude-opus-5-5',
          claudeSessionId: init.session_id,
          version: '2.1.329',
        },
      },
    ]);
  });

  it('turns each text and tool_use block of an assistant message into its own event, in order', () => {
    const line = {
      type: 'assistant',
      message: {
        content: [
          { type: 'thinking', thinking: 'hmm' },
          { type: 'text', text: '  Writing the proof.\n' },
          {
            type: 'tool_use',
            id: 'toolu_1',
            name: 'Write',
            input: { file_path: '/workspace/src/proof.txt', content: 'x'.repeat(9999) },
          },
          { type: 'text', text: '   ' },
        ],
      },
    };
    expect(events(line)).toEqual([
      { type: 'assistant_text', data: { text: 'Writing the proof.' } },
      {
        type: 'tool_use',
        // The file content never goes on the timeline; the path is shown relative to the workspace.
        data: { id: 'toolu_1', name: 'Write', summary: 'Write src/proof.txt', input: { file_path: 'src/proof.txt' } },
      },
    ]);
  });

  it('turns tool results into ok/error events with their first line', () => {
    const line = {
      type: 'user',
      message: {
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', content: '\nFile created successfully at: /workspace/p\n' },
          {
            type: 'tool_result',
            tool_use_id: 'toolu_2',
            is_error: true,
            content: [{ type: 'text', text: 'Exit code 2\nls: cannot access' }],
          },
          { type: 'text', text: 'not a tool result' },
        ],
      },
    };
    expect(events(line)).toEqual([
      {
        type: 'tool_result',
        data: { toolUseId: 'toolu_1', ok: true, summary: 'File created successfully at: /workspace/p' },
      },
      { type: 'tool_result', data: { toolUseId: 'toolu_2', ok: false, summary: 'Exit code 2' } },
    ]);
  });

  it('turns the result line into turns, duration, usage and cost', () => {
    expect(events(result)).toEqual([
      {
        type: 'result',
        data: {
          ok: true,
          subtype: 'success',
          turns: 2,
          durationMs: 1234,
          durationApiMs: 456,
          costUsd: 0.00028,
          usage: { inputTokens: 300, outputTokens: 50, cacheReadTokens: 40, cacheCreationTokens: 2 },
          text: 'All done.',
          claudeSessionId: init.session_id,
        },
      },
    ]);
  });

  it('marks an error result as not ok, with its error text', () => {
    const [apiError] = events({ ...result, is_error: true, result: 'API Error: 400 fake refusal' });
    expect(apiError?.data).toMatchObject({ ok: false, subtype: 'success', text: 'API Error: 400 fake refusal' });
    const [maxTurns] = events({
      type: 'result',
      subtype: 'error_max_turns',
      is_error: false,
      errors: ['too many turns'],
    });
    expect(maxTurns?.data).toMatchObject({
      ok: false,
      subtype: 'error_max_turns',
      text: 'too many turns',
      turns: 0,
      costUsd: 0,
    });
  });

  it('produces data every event schema of the protocol accepts, even from hostile or huge lines', () => {
    const huge = 'y'.repeat(EVENT_TEXT_MAX_CHARS * 2);
    const lines = [
      init,
      result,
      { type: 'assistant', message: { content: [{ type: 'text', text: huge }] } },
      { type: 'assistant', message: { content: [{ type: 'tool_use', name: 'Bash', input: { command: huge } }] } },
      { type: 'user', message: { content: [{ type: 'tool_result', content: huge }] } },
      {
        type: 'result',
        usage: { input_tokens: -5, output_tokens: 'many' },
        total_cost_usd: Number.NaN,
        num_turns: 1.5,
      },
    ];
    for (const line of lines) {
      for (const event of events(line)) {
        expect(parseAgentTaskEvent(event.type, event.data), JSON.stringify(event).slice(0, 200)).toEqual(event);
      }
    }
    const [text] = events(lines[2]);
    expect(text?.type).toBe('assistant_text');
    expect(text?.type === 'assistant_text' ? text.data.text : '').toHaveLength(EVENT_TEXT_MAX_CHARS);
  });

  it('skips what it does not know', () => {
    expect(events({ type: 'stream_event', event: {} })).toEqual([]);
    expect(events({ type: 'system', subtype: 'compact_boundary' })).toEqual([]);
    expect(events({ type: 'assistant', message: { content: 'not a list' } })).toEqual([]);
    expect(events(null)).toEqual([]);
    expect(events([1, 2])).toEqual([]);
  });
});

describe('parseStreamLine', () => {
  it('parses JSON objects and refuses anything else', () => {
    expect(parseStreamLine(' {"type":"result"} ')).toEqual({ type: 'result' });
    expect(parseStreamLine('Error: something broke')).toBeNull();
    expect(parseStreamLine('{not json')).toBeNull();
    expect(parseStreamLine('')).toBeNull();
  });
});

describe('summarizeToolUse', () => {
  it('names the tool and the input that says what it does', () => {
    expect(summarizeToolUse('Bash', { command: 'npm test\nnpm run lint', description: 'Run tests' }, ws)).toBe(
      'Bash npm test',
    );
    expect(summarizeToolUse('Grep', { pattern: 'TODO', path: '/workspace/src' }, ws)).toBe('Grep TODO');
    expect(summarizeToolUse('LS', { path: '/workspace/src' }, ws)).toBe('LS src');
    expect(summarizeToolUse('Read', { file_path: '/etc/hosts' }, ws)).toBe('Read /etc/hosts');
    expect(summarizeToolUse('Read', { file_path: '/workspace-other/x' }, ws)).toBe('Read /workspace-other/x');
    expect(summarizeToolUse('WebFetch', { url: 'https://example.com', prompt: 'x' }, ws)).toBe(
      'WebFetch https://example.com',
    );
    expect(summarizeToolUse('TodoWrite', { todos: [{}, {}, {}] }, ws)).toBe('TodoWrite (3 items)');
    expect(summarizeToolUse('Mystery', { n: 1 }, ws)).toBe('Mystery');
    expect(summarizeToolUse('Bash', { command: 'z'.repeat(2000) }, ws).length).toBe(EVENT_SUMMARY_MAX_CHARS);
  });
});

describe('renderEvent', () => {
  it('shows text, one line per tool call, failed tools, and the closing summary', () => {
    const plain = (line: unknown) =>
      events(line)
        .map((e) => renderEvent(e, { color: false }))
        .join('');
    expect(plain({ type: 'assistant', message: { content: [{ type: 'text', text: 'one\ntwo' }] } })).toBe(
      '● one\n  two\n',
    );
    expect(
      plain({
        type: 'assistant',
        message: { content: [{ type: 'tool_use', name: 'Bash', input: { command: 'ls' } }] },
      }),
    ).toBe('→ Bash ls\n');
    expect(plain({ type: 'user', message: { content: [{ type: 'tool_result', content: 'fine' }] } })).toBe('');
    expect(
      plain({ type: 'user', message: { content: [{ type: 'tool_result', is_error: true, content: 'boom' }] } }),
    ).toBe('  ✗ boom\n');
    expect(plain(result)).toBe('✓ done 2 turns · 1.2s · 342 in / 50 out tokens · $0.0003\n');
    expect(plain({ ...result, is_error: true, result: 'API Error' })).toBe(
      '✗ API Error\n2 turns · 1.2s · 342 in / 50 out tokens · $0.0003\n',
    );
    const colored = renderEvent({ type: 'error', data: { message: 'clone failed' } }, { color: true });
    expect(colored).toBe('\x1b[31merror: clone failed\x1b[0m\n');
  });
});
