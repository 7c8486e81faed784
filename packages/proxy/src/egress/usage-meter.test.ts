import { describe, expect, it } from 'vitest';
import { modelCostUsd, priceOf, UsageReader } from './usage-meter.js';

const enc = new TextEncoder();

/** Feeds `text` to a reader in pieces of `size` bytes (so events and UTF-8 sequences split anywhere). */
function read(contentType: string, text: string, size: number) {
  const reader = new UsageReader(contentType);
  const bytes = enc.encode(text);
  for (let i = 0; i < bytes.length; i += size) reader.push(bytes.subarray(i, i + size));
  return reader.finish();
}

const sse = (events: Record<string, unknown>[], eol = '\n') =>
  events.map((e) => `event: ${String(e.type)}${eol}data: ${JSON.stringify(e)}${eol}${eol}`).join('');

const stream = [
  {
    type: 'message_start',
    message: {
      model: 'claude-sonnet-4-5-20250929',
      usage: { input_tokens: 1200, output_tokens: 1, cache_read_input_tokens: 300, cache_creation_input_tokens: 40 },
    },
  },
  { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'héllo — “quoted” ✓' } },
  { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 57 } },
  { type: 'message_stop' },
];

describe('UsageReader', () => {
  it('reads a stream: the model and input counts from message_start, the final output from message_delta', () => {
    for (const size of [1, 3, 7, 64, 100_000]) {
      for (const eol of ['\n', '\r\n']) {
        expect(read('text/event-stream; charset=utf-8', sse(stream, eol), size)).toEqual({
          model: 'claude-sonnet-4-5-20250929',
          usage: { inputTokens: 1200, outputTokens: 57, cacheReadTokens: 300, cacheCreationTokens: 40 },
        });
      }
    }
  });

  it('counts what a stream cut short had reported, and takes later cumulative counts over earlier ones', () => {
    const cut = sse(stream.slice(0, 2)).slice(0, -5);
    expect(read('text/event-stream', cut, 10)?.usage).toEqual({
      inputTokens: 1200,
      outputTokens: 1,
      cacheReadTokens: 300,
      cacheCreationTokens: 40,
    });
    const twice = sse([
      stream[0] as Record<string, unknown>,
      { type: 'message_delta', usage: { output_tokens: 10, input_tokens: 1300 } },
      { type: 'message_delta', usage: { output_tokens: 20 } },
    ]);
    expect(read('text/event-stream', twice, 5)?.usage).toMatchObject({ inputTokens: 1300, outputTokens: 20 });
  });

  it('reads a JSON message', () => {
    const body = JSON.stringify({
      type: 'message',
      model: 'claude-haiku-4-5',
      content: [{ type: 'text', text: 'ok' }],
      usage: { input_tokens: 9, output_tokens: 4 },
    });
    expect(read('application/json', body, 4)).toEqual({
      model: 'claude-haiku-4-5',
      usage: { inputTokens: 9, outputTokens: 4, cacheReadTokens: 0, cacheCreationTokens: 0 },
    });
  });

  it('gives null for answers without usage and ignores junk and forged counts', () => {
    expect(read('application/json', 'not json', 3)).toBeNull();
    expect(read('text/event-stream', 'data: {oops\n\ndata: []\n\n', 2)).toBeNull();
    expect(
      read('application/json', JSON.stringify({ usage: { input_tokens: -5, output_tokens: 1.5, x: 1 } }), 9),
    ).toBeNull();
  });
});

describe('modelCostUsd', () => {
  it('prices by model family, cache writes at 1.25x and reads at 0.1x the input price', () => {
    const usage = { inputTokens: 1_000_000, outputTokens: 1_000_000, cacheReadTokens: 0, cacheCreationTokens: 0 };
    expect(modelCostUsd({ model: 'claude-sonnet-4-5-20250929', usage })).toBe(18);
    expect(modelCostUsd({ model: 'claude-opus-4-1-20250805', usage })).toBe(90);
    expect(modelCostUsd({ model: 'claude-opus-4-5-20251101', usage })).toBe(30);
    expect(modelCostUsd({ model: 'claude-haiku-4-5-20251001', usage })).toBe(6);
    expect(modelCostUsd({ model: 'claude-3-5-haiku-20241022', usage })).toBe(4.8);
    expect(modelCostUsd({ model: 'some-future-model', usage })).toBe(18);
    expect(modelCostUsd({ model: null, usage })).toBe(18);
    expect(
      modelCostUsd({
        model: 'claude-sonnet-4-5',
        usage: { inputTokens: 0, outputTokens: 0, cacheReadTokens: 1_000_000, cacheCreationTokens: 1_000_000 },
      }),
    ).toBe(0.3 + 3.75);
    expect(priceOf('CLAUDE-OPUS-4-1')).toEqual({ input: 15, output: 75 });
  });
});
