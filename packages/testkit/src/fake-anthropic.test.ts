import { afterEach, describe, expect, it } from 'vitest';
import {
  type FakeAnthropic,
  type FakeAnthropicOptions,
  lastToolResults,
  lastUserText,
  startFakeAnthropic,
  textReply,
  toolUseReply,
} from './fake-anthropic.js';

interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

function parseSse(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((frame) => frame.trim() !== '')
    .map((frame) => {
      const lines = frame.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? '';
      const data = JSON.parse(lines.find((l) => l.startsWith('data: '))?.slice(6) ?? 'null') as Record<string, unknown>;
      return { event, data };
    });
}

const mainTools = [{ name: 'Write', input_schema: { type: 'object' } }];

function userBody(text: string, extra: Record<string, unknown> = {}) {
  return {
    model: 'claude-opus-5-5',
    max_tokens: 1024,
    tools: mainTools,
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: '<system-reminder>\nnoise\n</system-reminder>\n' },
          { type: 'text', text },
        ],
      },
    ],
    ...extra,
  };
}

describe('fake Anthropic API', () => {
  let fake: FakeAnthropic | undefined;
  const start = async (options?: FakeAnthropicOptions) => {
    fake = await startFakeAnthropic(options);
    return fake;
  };
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  const post = (f: FakeAnthropic, path: string, body: unknown) =>
    fetch(`${f.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'sk-ant-test' },
      body: JSON.stringify(body),
    });

  it('answers a non-streaming call with a JSON message and logs the request', async () => {
    const f = await start();
    const res = await post(f, '/v1/messages?beta=true', userBody('hi'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    const msg = (await res.json()) as Record<string, unknown>;
    expect(msg).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'claude-opus-5-5',
      content: [{ type: 'text', text: 'Hello from the fake model.' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 10, output_tokens: 5 },
    });
    expect(f.requests).toHaveLength(1);
    expect(f.requests[0]).toMatchObject({
      method: 'POST',
      path: '/v1/messages',
      query: { beta: 'true' },
      kind: 'main',
    });
    expect(f.requests[0]?.headers['x-api-key']).toBe('sk-ant-test');
  });

  it('streams text as SSE in the Messages API event order', async () => {
    const f = await start({ chunkChars: 4 });
    f.reply(textReply('streamed words here', { usage: { inputTokens: 42, outputTokens: 7 } }));
    const res = await post(f, '/v1/messages', userBody('hi', { stream: true }));
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const events = parseSse(await res.text());
    expect(events.map((e) => e.event)).toEqual([
      'message_start',
      'ping',
      'content_block_start',
      ...Array(5).fill('content_block_delta'),
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    for (const e of events) expect(e.data.type).toBe(e.event);
    expect(events[0]?.data.message).toMatchObject({ role: 'assistant', content: [], usage: { input_tokens: 42 } });
    const text = events
      .filter((e) => e.event === 'content_block_delta')
      .map((e) => (e.data.delta as { text: string }).text)
      .join('');
    expect(text).toBe('streamed words here');
    expect(events.at(-2)?.data).toMatchObject({ delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 7 } });
  });

  it('streams a tool_use with input_json_delta pieces that rebuild the input', async () => {
    const f = await start({ chunkChars: 5 });
    const input = { file_path: '/w/proof.txt', content: 'proof\nline two\n' };
    f.reply(toolUseReply('Write', input, { text: 'Writing.' }));
    const events = parseSse(await (await post(f, '/v1/messages', userBody('go', { stream: true }))).text());
    const starts = events.filter((e) => e.event === 'content_block_start').map((e) => e.data.content_block);
    expect(starts).toEqual([
      { type: 'text', text: '' },
      { type: 'tool_use', id: expect.stringMatching(/^toolu_/), name: 'Write', input: {} },
    ]);
    const json = events
      .filter((e) => e.event === 'content_block_delta' && e.data.index === 1)
      .map((e) => e.data.delta as { type: string; partial_json: string });
    expect(json.length).toBeGreaterThan(1);
    expect(json.every((d) => d.type === 'input_json_delta')).toBe(true);
    expect(JSON.parse(json.map((d) => d.partial_json).join(''))).toEqual(input);
    expect(events.find((e) => e.event === 'message_delta')?.data.delta).toMatchObject({ stop_reason: 'tool_use' });
  });

  it('serves main calls from the queue, then the responder, then the default text', async () => {
    const f = await start({
      responder: ({ body }) => {
        const results = lastToolResults(body);
        if (results.length > 0) return `saw ${results[0]?.toolUseId}: ${results[0]?.text}`;
        return lastUserText(body).includes('magic') ? 'responder answer' : undefined;
      },
    });
    f.reply('first', 'second');
    const texts: string[] = [];
    const ask = async (body: unknown) => {
      const msg = (await (await post(f, '/v1/messages', body)).json()) as { content: { text: string }[] };
      texts.push(msg.content[0]?.text ?? '');
    };
    await ask(userBody('magic'));
    await ask(userBody('magic'));
    await ask(userBody('magic'));
    await ask(userBody('plain'));
    await ask({
      model: 'm',
      tools: mainTools,
      messages: [
        { role: 'user', content: 'write it' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'Write', input: {} }] },
        {
          role: 'user',
          content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'File created' }] }],
        },
      ],
    });
    expect(texts).toEqual([
      'first',
      'second',
      'responder answer',
      'Hello from the fake model.',
      'saw toolu_1: File created',
    ]);
    expect(f.mainCalls().map((c) => c.index)).toEqual([0, 1, 2, 3, 4]);
    expect(lastUserText(f.mainCalls()[0]!.body)).toBe('magic');
  });

  it('routes calls without tools to the side responder without consuming the queue', async () => {
    const f = await start();
    f.reply('for the conversation');
    const title = (await (
      await post(f, '/v1/messages', {
        model: 'claude-opus-5-5',
        tools: [],
        messages: [{ role: 'user', content: '<session>\nhi\n</session>' }],
        output_config: {
          format: {
            type: 'json_schema',
            schema: { type: 'object', properties: { title: { type: 'string' } }, required: ['title'] },
          },
        },
      })
    ).json()) as { content: { text: string }[] };
    expect(JSON.parse(title.content[0]?.text ?? '')).toEqual({ title: 'Fake side answer' });
    const side = (await (
      await post(f, '/v1/messages', { model: 'm', messages: [{ role: 'user', content: 'topic?' }] })
    ).json()) as {
      content: { text: string }[];
    };
    expect(side.content[0]?.text).toBe('Fake side answer');
    const main = (await (await post(f, '/v1/messages', userBody('hi'))).json()) as { content: { text: string }[] };
    expect(main.content[0]?.text).toBe('for the conversation');
    expect(f.sideCalls()).toHaveLength(2);
    expect(f.mainCalls()).toHaveLength(1);
  });

  it('answers errors in the API shape; a throwing responder gives a 400 and is recorded', async () => {
    const f = await start({
      responder: () => {
        throw new Error('boom');
      },
    });
    f.reply({ error: { status: 529, type: 'overloaded_error', message: 'Overloaded' } });
    const overloaded = await post(f, '/v1/messages', userBody('x'));
    expect(overloaded.status).toBe(529);
    expect(await overloaded.json()).toMatchObject({
      type: 'error',
      error: { type: 'overloaded_error', message: 'Overloaded' },
    });
    const broken = await post(f, '/v1/messages', userBody('x'));
    expect(broken.status).toBe(400);
    expect(await broken.json()).toMatchObject({ error: { type: 'invalid_request_error' } });
    expect(f.errors.map((e) => e.message)).toEqual(['boom']);
    const bad = await post(f, '/v1/messages', { nope: true });
    expect(bad.status).toBe(400);
  });

  it('serves count_tokens, models, the hello check, and 404s anything else', async () => {
    const f = await start();
    const count = (await (await post(f, '/v1/messages/count_tokens', userBody('hello'))).json()) as {
      input_tokens: number;
    };
    expect(count.input_tokens).toBeGreaterThan(0);
    const models = (await (await fetch(`${f.url}/v1/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toContain('claude-opus-5-5');
    expect((await fetch(`${f.url}/v1/models/claude-opus-5-5`)).status).toBe(200);
    expect((await fetch(`${f.url}/v1/models/nope`)).status).toBe(404);
    expect((await fetch(`${f.url}/api/hello`, { method: 'HEAD' })).status).toBe(200);
    const missing = await fetch(`${f.url}/v1/files`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
    expect(f.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /v1/messages/count_tokens',
      'GET /v1/models',
      'GET /v1/models/claude-opus-5-5',
      'GET /v1/models/nope',
      'HEAD /api/hello',
      'GET /v1/files',
    ]);
  });

  it('waits for past and future requests, and times out with what it saw', async () => {
    const f = await start();
    await fetch(`${f.url}/api/hello`);
    await expect(f.waitForRequest((r) => r.path === '/api/hello')).resolves.toMatchObject({ seq: 0 });
    const later = f.waitForRequest((r) => r.kind === 'main', 5_000);
    await post(f, '/v1/messages', userBody('x'));
    await expect(later).resolves.toMatchObject({ seq: 1, kind: 'main' });
    await expect(f.waitForRequest((r) => r.path === '/never', 50)).rejects.toThrow(
      /GET \/api\/hello, POST \/v1\/messages \(main\)/,
    );
  });

  it('closes while a delayed reply is pending', async () => {
    const f = await start();
    f.reply(textReply('late', { delayMs: 60_000 }));
    const pending = post(f, '/v1/messages', userBody('x')).then(
      (r) => r.status,
      () => 'dropped',
    );
    await f.waitForRequest((r) => r.kind === 'main');
    await f.close();
    await f.close();
    expect(await pending).toBe('dropped');
  });
});
