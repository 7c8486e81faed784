import type { TaskUsage } from '@rclaude/protocol';

/** What one model answer used: the model that answered and its token counts. */
export interface ModelUsage {
  model: string | null;
  usage: TaskUsage;
}

/** USD per million tokens. Cache writes and reads are priced from `input` (x1.25 and x0.1, 5-minute cache). */
export interface ModelPrice {
  input: number;
  output: number;
}

/**
 * List prices of the Anthropic API per million tokens (at the time of writing), matched on the model id in
 * order; a model matching none is priced as Sonnet. Claude Code's own cost display uses its own table; the
 * gateway's count is what the budget and the task's cost use, because the sandbox cannot forge it.
 */
export const MODEL_PRICES: readonly { match: RegExp; price: ModelPrice }[] = [
  { match: /opus-4-[5-9]|opus-[5-9]/, price: { input: 5, output: 25 } },
  { match: /opus/, price: { input: 15, output: 75 } },
  { match: /haiku-4|haiku-[5-9]/, price: { input: 1, output: 5 } },
  { match: /3-5-haiku/, price: { input: 0.8, output: 4 } },
  { match: /haiku/, price: { input: 0.25, output: 1.25 } },
  { match: /sonnet/, price: { input: 3, output: 15 } },
];
const DEFAULT_PRICE: ModelPrice = { input: 3, output: 15 };

export function priceOf(model: string | null): ModelPrice {
  const id = (model ?? '').toLowerCase();
  return MODEL_PRICES.find((p) => p.match.test(id))?.price ?? DEFAULT_PRICE;
}

/** Cost of one answer in USD, rounded to a millionth of a dollar. */
export function modelCostUsd({ model, usage }: ModelUsage): number {
  const p = priceOf(model);
  const usd =
    (usage.inputTokens * p.input +
      usage.outputTokens * p.output +
      usage.cacheCreationTokens * p.input * 1.25 +
      usage.cacheReadTokens * p.input * 0.1) /
    1e6;
  return Math.round(usd * 1e6) / 1e6;
}

/** Longest answer body (JSON) or single SSE event the reader keeps to parse; beyond it, it stops reading. */
const MAX_KEPT_BYTES = 8 * 1024 * 1024;

/**
 * Reads the token usage of one Messages API answer as its bytes pass: a JSON message (`usage` at the top), or
 * an SSE stream (`message_start` carries the model and the input counts, each `message_delta` the cumulative
 * counts so far). Never throws on what it cannot parse; what it read up to there is the answer.
 */
export class UsageReader {
  private readonly sse: boolean;
  private buffered = '';
  private overflow = false;
  private model: string | null = null;
  private usage: Partial<Record<keyof TaskUsage, number>> | null = null;
  private readonly decoder = new TextDecoder();

  constructor(contentType: string | undefined) {
    this.sse = (contentType ?? '').toLowerCase().includes('text/event-stream');
  }

  push(chunk: Uint8Array): void {
    if (this.overflow) return;
    this.buffered += this.decoder.decode(chunk, { stream: true });
    if (this.sse) this.drainEvents();
    if (this.buffered.length > MAX_KEPT_BYTES) {
      this.overflow = true;
      this.buffered = '';
    }
  }

  /** The usage read, once the answer has ended (or stopped early); null when it carried none. */
  finish(): ModelUsage | null {
    if (!this.overflow) {
      this.buffered += this.decoder.decode();
      if (this.sse) this.drainEvents(true);
      else this.readMessage(parseJson(this.buffered));
    }
    this.buffered = '';
    if (!this.usage) return null;
    const n = (v: number | undefined) => v ?? 0;
    return {
      model: this.model,
      usage: {
        inputTokens: n(this.usage.inputTokens),
        outputTokens: n(this.usage.outputTokens),
        cacheReadTokens: n(this.usage.cacheReadTokens),
        cacheCreationTokens: n(this.usage.cacheCreationTokens),
      },
    };
  }

  private drainEvents(final = false): void {
    const events = this.buffered.replace(/\r\n/g, '\n').split('\n\n');
    this.buffered = final ? '' : (events.pop() ?? '');
    for (const event of events) {
      const data = event
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trimStart())
        .join('\n');
      const parsed = parseJson(data);
      if (!isObject(parsed)) continue;
      if (parsed.type === 'message_start') this.readMessage(parsed.message);
      else if (parsed.type === 'message_delta') this.mergeUsage(parsed.usage);
    }
  }

  private readMessage(message: unknown): void {
    if (!isObject(message)) return;
    if (typeof message.model === 'string') this.model = message.model.slice(0, 128);
    this.mergeUsage(message.usage);
  }

  /** Counts are cumulative in every event that has them: a later value replaces an earlier one. */
  private mergeUsage(usage: unknown): void {
    if (!isObject(usage)) return;
    const fields: [keyof TaskUsage, string][] = [
      ['inputTokens', 'input_tokens'],
      ['outputTokens', 'output_tokens'],
      ['cacheReadTokens', 'cache_read_input_tokens'],
      ['cacheCreationTokens', 'cache_creation_input_tokens'],
    ];
    for (const [ours, theirs] of fields) {
      const v = usage[theirs];
      if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) {
        this.usage ??= {};
        this.usage[ours] = v;
      }
    }
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
