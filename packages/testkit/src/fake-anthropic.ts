/**
 * A fake Anthropic Messages API on loopback, good enough to drive the real Claude Code CLI in tests
 * (`ANTHROPIC_BASE_URL=fake.url`). It answers `/v1/messages` (streaming SSE and plain JSON),
 * `/v1/messages/count_tokens`, `/v1/models`, and the `HEAD /api/hello` connectivity check; any other
 * path gets a 404 in the API's error shape. Every request is logged in `requests`.
 *
 * Claude Code sends two kinds of `/v1/messages` calls: the conversation itself ("main": it carries the
 * tool list) and small side requests (session titles, topic detection, summaries; no tools). Side calls are
 * answered by a separate responder so a test's script of replies is consumed by the conversation only.
 */
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Why the model stopped, as the Messages API reports it. */
export type StopReason = 'end_turn' | 'tool_use' | 'max_tokens' | 'stop_sequence' | 'pause_turn' | 'refusal';

/** A content block the fake model answers with. `id` of a tool_use is generated when omitted. */
export type ReplyBlock =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; name: string; input: Record<string, unknown>; id?: string };

/** Token counts reported for one reply. Omitted fields default to {@link DEFAULT_FAKE_USAGE}. */
export interface FakeUsage {
  inputTokens: number;
  outputTokens: number;
  cacheReadInputTokens: number;
  cacheCreationInputTokens: number;
}

/** Usage reported when a reply does not say otherwise. */
export const DEFAULT_FAKE_USAGE: Readonly<FakeUsage> = {
  inputTokens: 10,
  outputTokens: 5,
  cacheReadInputTokens: 0,
  cacheCreationInputTokens: 0,
};

/** One answer of the fake model to one `/v1/messages` call. */
export interface FakeReply {
  content?: ReplyBlock[];
  /** Defaults to `tool_use` when the content has a tool_use block, else `end_turn`. */
  stopReason?: StopReason;
  usage?: Partial<FakeUsage>;
  /** Wait this long (ms) before answering, e.g. to observe the CLI while the model "thinks". */
  delayMs?: number;
  /**
   * Answer with an HTTP error in the API's error shape instead. Mind that Claude Code retries 429, 5xx and
   * 529 with backoff; a 400 (`invalid_request_error`) is not retried.
   */
  error?: { status: number; type: string; message: string };
}

/** A reply as tests write it: a bare string is a text-only reply. */
export type ReplyInput = string | FakeReply;

/** A block of a request message (`text`, `tool_use`, `tool_result`, `image`, ...); loosely typed on purpose. */
export interface ApiBlock {
  type: string;
  [key: string]: unknown;
}

/** A message as Claude Code sends it. Claude Code also puts `system` role messages in the list. */
export interface ApiMessage {
  role: string;
  content: string | ApiBlock[];
}

/** The fields of a `/v1/messages` body the fake reads; everything else is kept in the request log. */
export interface MessagesBody {
  model: string;
  messages: ApiMessage[];
  system?: string | ApiBlock[];
  tools?: { name: string; [key: string]: unknown }[];
  stream?: boolean;
  max_tokens?: number;
  [key: string]: unknown;
}

/** Whether a `/v1/messages` call belongs to the conversation or is a side request (title, topic...). */
export type MessagesKind = 'main' | 'side';

/** One HTTP request the fake received. */
export interface FakeAnthropicRequest {
  /** Arrival order, from 0. */
  seq: number;
  method: string;
  /** Path without the query string, e.g. `/v1/messages`. */
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body; the raw text when it is not JSON; null when empty. */
  body: unknown;
  /** For `POST /v1/messages`: how the call was routed. Null for every other request. */
  kind: MessagesKind | null;
}

/** What a responder is given for one `/v1/messages` call. */
export interface MessagesCall {
  request: FakeAnthropicRequest;
  body: MessagesBody;
  kind: MessagesKind;
  /** How many calls of the same kind came before this one. */
  index: number;
}

/**
 * Decides the reply to one call. Returning undefined falls through to the default text reply. A responder
 * that throws makes the fake answer 400 (not retried by Claude Code) and records the error in `errors`.
 */
export type Responder = (call: MessagesCall) => ReplyInput | undefined | Promise<ReplyInput | undefined>;

export interface FakeAnthropicOptions {
  /** Decides replies to main calls once the queue of {@link FakeAnthropic.reply} is empty. */
  responder?: Responder;
  /**
   * Decides replies to side calls. By default they get {@link FakeAnthropicOptions.sideText}, shaped as
   * JSON when the call asks for a JSON schema (titles do).
   */
  sideResponder?: Responder;
  /** Text of the default main reply. Default `Hello from the fake model.` */
  defaultText?: string;
  /** Text of the default side reply. Default `Fake side answer` */
  sideText?: string;
  /** Routes calls; default {@link classifyMessagesCall}. */
  classify?: (body: MessagesBody) => MessagesKind;
  /** Characters per `text_delta` / `input_json_delta` event when streaming. Default 24. */
  chunkChars?: number;
  /** Model ids listed by `GET /v1/models`. */
  models?: string[];
}

/** A running fake. */
export interface FakeAnthropic {
  /** Base URL for `ANTHROPIC_BASE_URL`, e.g. `http://127.0.0.1:41234` (no trailing slash). */
  readonly url: string;
  /** Every request received, in order (a live array). */
  readonly requests: readonly FakeAnthropicRequest[];
  /** Errors thrown by responders (each was answered with a 400). */
  readonly errors: readonly Error[];
  /** The `/v1/messages` calls routed to the conversation, in order. */
  mainCalls(): MessagesCall[];
  /** The `/v1/messages` side calls, in order. */
  sideCalls(): MessagesCall[];
  /** Queues replies for the next main calls, consumed first-in first-out before the responder is asked. */
  reply(...replies: ReplyInput[]): void;
  /** Replaces the main responder (null: only the queue and the default text). */
  respond(responder: Responder | null): void;
  /**
   * Resolves with the first request (already received or future) that matches, or rejects after
   * `timeoutMs` (default 30 000) listing the paths received so far.
   */
  waitForRequest(predicate: (req: FakeAnthropicRequest) => boolean, timeoutMs?: number): Promise<FakeAnthropicRequest>;
  /** Stops listening, drops open connections and pending delayed replies. Idempotent. */
  close(): Promise<void>;
}

/** A text-only reply. */
export function textReply(text: string, extra: Omit<FakeReply, 'content'> = {}): FakeReply {
  return { ...extra, content: [{ type: 'text', text }] };
}

/** A reply that calls one tool, optionally after some text. Its stop reason is `tool_use`. */
export function toolUseReply(
  name: string,
  input: Record<string, unknown>,
  options: { text?: string; id?: string } & Omit<FakeReply, 'content'> = {},
): FakeReply {
  const { text, id, ...extra } = options;
  const content: ReplyBlock[] = [];
  if (text !== undefined) content.push({ type: 'text', text });
  content.push(id === undefined ? { type: 'tool_use', name, input } : { type: 'tool_use', name, input, id });
  return { ...extra, content };
}

/** An HTTP error reply, e.g. `errorReply(400, 'invalid_request_error', 'prompt is too long')`. */
export function errorReply(status: number, type: string, message: string): FakeReply {
  return { error: { status, type, message } };
}

/**
 * Default routing: a call that offers tools is the conversation (the main agent or a subagent); one without
 * tools is a side request. Claude Code 2.1 sends its titles and topic checks without tools.
 */
export function classifyMessagesCall(body: MessagesBody): MessagesKind {
  return Array.isArray(body.tools) && body.tools.length > 0 ? 'main' : 'side';
}

function blocksOf(message: ApiMessage | undefined): ApiBlock[] {
  if (!message) return [];
  return typeof message.content === 'string' ? [{ type: 'text', text: message.content }] : message.content;
}

function lastUserMessage(body: MessagesBody): ApiMessage | undefined {
  return body.messages.findLast((m) => m.role === 'user');
}

/**
 * The person's words in the last user message: its text blocks joined with newlines, leaving out the
 * `<system-reminder>` blocks Claude Code adds. Empty when the last user message only carries tool results.
 */
export function lastUserText(body: MessagesBody): string {
  return blocksOf(lastUserMessage(body))
    .filter(
      (b) => b.type === 'text' && typeof b.text === 'string' && !b.text.trimStart().startsWith('<system-reminder>'),
    )
    .map((b) => b.text as string)
    .join('\n');
}

/** A tool result Claude Code sent back, with its content flattened to text. */
export interface ToolResult {
  toolUseId: string;
  isError: boolean;
  text: string;
}

/** The tool_result blocks of the last user message (what the tools answered to the previous tool_use). */
export function lastToolResults(body: MessagesBody): ToolResult[] {
  return blocksOf(lastUserMessage(body))
    .filter((b) => b.type === 'tool_result')
    .map((b) => ({
      toolUseId: String(b.tool_use_id),
      isError: b.is_error === true,
      text:
        typeof b.content === 'string'
          ? b.content
          : Array.isArray(b.content)
            ? (b.content as ApiBlock[])
                .filter((c) => c.type === 'text')
                .map((c) => String(c.text))
                .join('\n')
            : '',
    }));
}

/** Text of every system block, joined; handy to recognise a side request by its instructions. */
export function systemText(body: MessagesBody): string {
  if (typeof body.system === 'string') return body.system;
  if (!Array.isArray(body.system)) return '';
  return body.system.map((b) => (typeof b.text === 'string' ? b.text : '')).join('\n');
}

/**
 * The JSON schema a call asks its answer to follow (`output_config.format` of type `json_schema`), if any.
 * Claude Code asks for session titles this way: `{"title": string}`.
 */
export function requestedJsonSchema(body: MessagesBody): Record<string, unknown> | null {
  const config = body.output_config;
  if (typeof config !== 'object' || config === null) return null;
  const format = (config as Record<string, unknown>).format;
  if (typeof format !== 'object' || format === null) return null;
  const f = format as Record<string, unknown>;
  return f.type === 'json_schema' && typeof f.schema === 'object' && f.schema !== null
    ? (f.schema as Record<string, unknown>)
    : null;
}

/** A small value that satisfies a JSON schema: strings become `text`, numbers 0, arrays empty. */
function sampleOf(schema: unknown, text: string): unknown {
  if (typeof schema !== 'object' || schema === null) return text;
  const s = schema as Record<string, unknown>;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0];
  if ('const' in s) return s.const;
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case 'object': {
      const props = (typeof s.properties === 'object' && s.properties !== null ? s.properties : {}) as Record<
        string,
        unknown
      >;
      const required = Array.isArray(s.required) ? (s.required as string[]) : Object.keys(props);
      return Object.fromEntries(required.map((k) => [k, sampleOf(props[k], text)]));
    }
    case 'array':
      return [];
    case 'number':
    case 'integer':
      return 0;
    case 'boolean':
      return false;
    case 'null':
      return null;
    default:
      return text;
  }
}

/** The default side answer: `text`, or a JSON value that fits the schema the call asks for. */
function defaultSideText(body: MessagesBody, text: string): string {
  const schema = requestedJsonSchema(body);
  return schema ? JSON.stringify(sampleOf(schema, text)) : text;
}

const DEFAULT_MODELS = ['claude-opus-5-5', 'claude-sonnet-5', 'claude-haiku-4-5'];

function sendJson(res: ServerResponse, status: number, value: unknown, requestId: string): void {
  const text = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'request-id': requestId,
  });
  res.end(text);
}

function apiError(res: ServerResponse, status: number, type: string, message: string, requestId: string): void {
  sendJson(res, status, { type: 'error', error: { type, message }, request_id: requestId }, requestId);
}

function chunks(text: string, size: number): string[] {
  if (text.length === 0) return [''];
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

function isMessagesBody(value: unknown): value is MessagesBody {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.model === 'string' && Array.isArray(v.messages);
}

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Starts a fake Anthropic API on 127.0.0.1 with a free port. */
export async function startFakeAnthropic(options: FakeAnthropicOptions = {}): Promise<FakeAnthropic> {
  const requests: FakeAnthropicRequest[] = [];
  const errors: Error[] = [];
  const calls: MessagesCall[] = [];
  const queue: ReplyInput[] = [];
  const waiters = new Set<{
    predicate: (r: FakeAnthropicRequest) => boolean;
    resolve: (r: FakeAnthropicRequest) => void;
  }>();
  const lifetime = new AbortController();
  const classify = options.classify ?? classifyMessagesCall;
  const chunkChars = Math.max(1, options.chunkChars ?? 24);
  const models = options.models ?? DEFAULT_MODELS;
  let responder: Responder | null = options.responder ?? null;
  let ids = 0;
  const nextId = (prefix: string): string => `${prefix}_fake${String(++ids).padStart(6, '0')}`;

  const record = (req: FakeAnthropicRequest): void => {
    requests.push(req);
    for (const w of waiters) {
      if (w.predicate(req)) {
        waiters.delete(w);
        w.resolve(req);
      }
    }
  };

  const decide = async (call: MessagesCall): Promise<FakeReply> => {
    let input: ReplyInput | undefined;
    if (call.kind === 'main') {
      input = queue.shift();
      if (input === undefined && responder) input = await responder(call);
      input ??= options.defaultText ?? 'Hello from the fake model.';
    } else {
      if (options.sideResponder) input = await options.sideResponder(call);
      input ??= defaultSideText(call.body, options.sideText ?? 'Fake side answer');
    }
    return typeof input === 'string' ? textReply(input) : input;
  };

  const answerMessages = async (res: ServerResponse, call: MessagesCall, requestId: string): Promise<void> => {
    let reply: FakeReply;
    try {
      reply = await decide(call);
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      errors.push(error);
      apiError(res, 400, 'invalid_request_error', `fake responder failed: ${error.message}`, requestId);
      return;
    }
    if (reply.delayMs !== undefined && reply.delayMs > 0) await abortableDelay(reply.delayMs, lifetime.signal);
    if (reply.error) {
      apiError(res, reply.error.status, reply.error.type, reply.error.message, requestId);
      return;
    }
    const usage = { ...DEFAULT_FAKE_USAGE, ...reply.usage };
    const content = (reply.content ?? []).map((b) =>
      b.type === 'tool_use' ? { ...b, id: b.id ?? nextId('toolu') } : b,
    );
    const stopReason = reply.stopReason ?? (content.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn');
    const id = nextId('msg');
    const apiUsage = (outputTokens: number) => ({
      input_tokens: usage.inputTokens,
      cache_creation_input_tokens: usage.cacheCreationInputTokens,
      cache_read_input_tokens: usage.cacheReadInputTokens,
      output_tokens: outputTokens,
    });
    const fullBlock = (b: (typeof content)[number]) =>
      b.type === 'text' ? { type: 'text', text: b.text } : { type: 'tool_use', id: b.id, name: b.name, input: b.input };

    if (call.body.stream !== true) {
      sendJson(
        res,
        200,
        {
          id,
          type: 'message',
          role: 'assistant',
          model: call.body.model,
          content: content.map(fullBlock),
          stop_reason: stopReason,
          stop_sequence: null,
          usage: apiUsage(usage.outputTokens),
        },
        requestId,
      );
      return;
    }

    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'request-id': requestId,
    });
    const event = (type: string, data: Record<string, unknown>): void => {
      res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    };
    event('message_start', {
      message: {
        id,
        type: 'message',
        role: 'assistant',
        model: call.body.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: apiUsage(1),
      },
    });
    event('ping', {});
    content.forEach((b, index) => {
      if (b.type === 'text') {
        event('content_block_start', { index, content_block: { type: 'text', text: '' } });
        for (const piece of chunks(b.text, chunkChars)) {
          event('content_block_delta', { index, delta: { type: 'text_delta', text: piece } });
        }
      } else {
        event('content_block_start', { index, content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} } });
        for (const piece of chunks(JSON.stringify(b.input), chunkChars)) {
          event('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: piece } });
        }
      }
      event('content_block_stop', { index });
    });
    event('message_delta', {
      delta: { stop_reason: stopReason, stop_sequence: null },
      usage: { output_tokens: usage.outputTokens },
    });
    event('message_stop', {});
    res.end();
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const parts: Buffer[] = [];
    for await (const part of req) parts.push(part as Buffer);
    const raw = Buffer.concat(parts).toString('utf8');
    let body: unknown = null;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw);
      } catch {
        body = raw;
      }
    }
    const url = new URL(req.url ?? '/', 'http://fake.invalid');
    const method = req.method ?? 'GET';
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const requestId = nextId('req');
    const isMessages = method === 'POST' && path === '/v1/messages';
    const kind = isMessages && isMessagesBody(body) ? classify(body) : null;
    const entry: FakeAnthropicRequest = {
      seq: requests.length,
      method,
      path,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      body,
      kind,
    };
    record(entry);

    if (isMessages) {
      if (!isMessagesBody(body) || kind === null) {
        apiError(res, 400, 'invalid_request_error', 'body must be JSON with model and messages', requestId);
        return;
      }
      const call: MessagesCall = { request: entry, body, kind, index: calls.filter((c) => c.kind === kind).length };
      calls.push(call);
      await answerMessages(res, call, requestId);
      return;
    }
    if (method === 'POST' && path === '/v1/messages/count_tokens') {
      // A rough 4-characters-per-token estimate; Claude Code only uses it to size its context.
      const size = isMessagesBody(body) ? JSON.stringify([body.system, body.messages, body.tools]).length : raw.length;
      sendJson(res, 200, { input_tokens: Math.max(1, Math.ceil(size / 4)) }, requestId);
      return;
    }
    if (method === 'GET' && path === '/v1/models') {
      const data = models.map((m) => ({ type: 'model', id: m, display_name: m, created_at: '2026-01-01T00:00:00Z' }));
      sendJson(
        res,
        200,
        { data, has_more: false, first_id: models[0] ?? null, last_id: models.at(-1) ?? null },
        requestId,
      );
      return;
    }
    if (method === 'GET' && path.startsWith('/v1/models/')) {
      const model = decodeURIComponent(path.slice('/v1/models/'.length));
      if (models.includes(model)) {
        sendJson(
          res,
          200,
          { type: 'model', id: model, display_name: model, created_at: '2026-01-01T00:00:00Z' },
          requestId,
        );
      } else {
        apiError(res, 404, 'not_found_error', `model: ${model}`, requestId);
      }
      return;
    }
    if ((method === 'HEAD' || method === 'GET') && path === '/api/hello') {
      // Claude Code's connectivity check.
      sendJson(res, 200, { message: 'hello' }, requestId);
      return;
    }
    apiError(res, 404, 'not_found_error', `the fake Anthropic API has no ${method} ${path}`, requestId);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // Only a closed connection or the fake shutting down get here.
      if (!res.headersSent && !res.destroyed) {
        apiError(res, 500, 'api_error', err instanceof Error ? err.message : 'fake failure', 'req_fake_error');
      } else {
        res.destroy();
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | null = null;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    errors,
    mainCalls: () => calls.filter((c) => c.kind === 'main'),
    sideCalls: () => calls.filter((c) => c.kind === 'side'),
    reply: (...replies) => {
      queue.push(...replies);
    },
    respond: (next) => {
      responder = next;
    },
    waitForRequest: (predicate, timeoutMs = 30_000) => {
      const seen = requests.find(predicate);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const waiter = {
          predicate,
          resolve: (r: FakeAnthropicRequest) => {
            clearTimeout(timer);
            resolve(r);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          const seenPaths = requests.map((r) => `${r.method} ${r.path}${r.kind ? ` (${r.kind})` : ''}`).join(', ');
          reject(new Error(`no matching request within ${timeoutMs} ms; received: ${seenPaths || 'nothing'}`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        lifetime.abort(new Error('fake Anthropic API closed'));
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
