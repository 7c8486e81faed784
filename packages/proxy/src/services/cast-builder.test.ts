import { parseCast } from '@rclaude/protocol';
import { describe, expect, it } from 'vitest';
import type { TimedChunk } from '../stores/types.js';
import { type CastSource, castLines } from './cast-builder.js';

const T0 = 1_750_000_000_000;

function chunks(parts: [at: number, data: Uint8Array | string][]): TimedChunk[] {
  let offset = 0;
  return parts.map(([at, raw]) => {
    const data = typeof raw === 'string' ? new TextEncoder().encode(raw) : raw;
    const chunk = { offset, at, data };
    offset += data.byteLength;
    return chunk;
  });
}

async function build(src: Partial<CastSource> & Pick<CastSource, 'chunks'>) {
  const lines: string[] = [];
  for await (const line of castLines({ cols: 80, rows: 24, resizes: [], markers: [], now: T0 + 3_600_000, ...src }))
    lines.push(line);
  // Every line is one JSON value; the whole parses as asciicast v2.
  return parseCast(lines.join('\n'));
}

describe('castLines', () => {
  it('emits a v2 header and output events timed from the first output', async () => {
    const cast = await build({
      title: 'demo',
      chunks: chunks([
        [T0, 'a'],
        [T0 + 1250, 'b'],
      ]),
    });
    expect(cast.header).toEqual({ version: 2, width: 80, height: 24, timestamp: Math.floor(T0 / 1000), title: 'demo' });
    expect(cast.events).toEqual([
      [0, 'o', 'a'],
      [1.25, 'o', 'b'],
    ]);
  });

  it('keeps a UTF-8 character split between two frames whole, with no U+FFFD', async () => {
    const euro = new TextEncoder().encode('x€y'); // € is 3 bytes: e2 82 ac
    const emoji = new TextEncoder().encode('😀'); // 4 bytes
    const cast = await build({
      chunks: chunks([
        [T0, euro.subarray(0, 2)],
        [T0 + 10, euro.subarray(2)],
        [T0 + 20, emoji.subarray(0, 1)],
        [T0 + 30, emoji.subarray(1, 3)],
        [T0 + 40, emoji.subarray(3)],
      ]),
    });
    const text = cast.events.map((e) => e[2]).join('');
    expect(text).toBe('x€y😀');
    expect(text).not.toContain('\uFFFD');
    // The character is emitted with the frame that completes it.
    expect(cast.events).toEqual([
      [0, 'o', 'x'],
      [0.01, 'o', '€y'],
      [0.04, 'o', '😀'],
    ]);
  });

  it('ends a character cut off at the very end of the log as U+FFFD', async () => {
    const cast = await build({ chunks: chunks([[T0, new Uint8Array([0x61, 0xe2, 0x82])]]) });
    expect(cast.events.map((e) => e[2]).join('')).toBe('a\uFFFD');
  });

  it('clamps hostile times: never after now, never backwards, unknown times take the previous one', async () => {
    const now = T0 + 10_000;
    const cast = await build({
      now,
      chunks: chunks([
        [T0, 'a'],
        [T0 + 5_000_000_000, 'b'], // far in the future: now
        [T0 - 86_400_000, 'c'], // before the previous: the previous
        [0, 'd'], // unknown: the previous
        [Number.NaN, 'e'],
      ]),
    });
    expect(cast.events).toEqual([
      [0, 'o', 'a'],
      [10, 'o', 'b'],
      [10, 'o', 'c'],
      [10, 'o', 'd'],
      [10, 'o', 'e'],
    ]);
  });

  it('takes the size in effect at the first output for the header, later resizes as r events', async () => {
    const cast = await build({
      cols: 80,
      rows: 24,
      resizes: [
        { at: T0 + 2000, cols: 132, rows: 50 },
        { at: T0 - 5, cols: 100, rows: 30 },
      ],
      chunks: chunks([
        [T0, 'a'],
        [T0 + 3000, 'b'],
      ]),
    });
    expect(cast.header.width).toBe(100);
    expect(cast.header.height).toBe(30);
    expect(cast.events).toEqual([
      [0, 'o', 'a'],
      [2, 'r', '132x50'],
      [3, 'o', 'b'],
    ]);
  });

  it('places markers in time order among the output, clamped to the start and to now', async () => {
    const now = T0 + 60_000;
    const cast = await build({
      now,
      markers: [
        { at: T0 + 1500, label: 'Bash npm test' },
        { at: T0 - 10_000, label: 'early' },
        { at: T0 + 5_000_000, label: 'checkpoint' },
      ],
      chunks: chunks([
        [T0, 'a'],
        [T0 + 2000, 'b'],
      ]),
    });
    expect(cast.events).toEqual([
      [0, 'm', 'early'],
      [0, 'o', 'a'],
      [1.5, 'm', 'Bash npm test'],
      [2, 'o', 'b'],
      [60, 'm', 'checkpoint'],
    ]);
  });

  it('escapes control characters in output as JSON, so every event is one line', async () => {
    const cast = await build({ chunks: chunks([[T0, 'line\r\n\u001b[31mred\u001b[0m\n"q"\\']]) });
    expect(cast.events).toEqual([[0, 'o', 'line\r\n\u001b[31mred\u001b[0m\n"q"\\']]);
  });

  it('gives a header and no events for a session with no output', async () => {
    const cast = await build({ chunks: [], cols: 90, rows: 20 });
    expect(cast.header).toMatchObject({ version: 2, width: 90, height: 20 });
    expect(cast.events).toEqual([]);
  });
});
