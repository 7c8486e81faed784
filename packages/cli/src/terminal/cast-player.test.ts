import { PassThrough } from 'node:stream';
import type { Cast } from '@rclaude/protocol';
import { describe, expect, it } from 'vitest';
import { playCast, playSteps } from './cast-player.js';

const cast: Cast = {
  header: { version: 2, width: 80, height: 24 },
  events: [
    [0.5, 'o', 'a'],
    [1, 'r', '100x30'],
    [11, 'm', 'checkpoint'],
    [12, 'o', 'b'],
    [12.25, 'o', 'c'],
  ],
};

describe('playSteps', () => {
  it('cuts each pause to the idle limit, counts pauses before skipped events, and divides by the speed', () => {
    expect(playSteps(cast, { speed: 1, idleLimitS: 2 })).toEqual([
      { waitMs: 500, text: 'a' },
      // 0.5 s to the resize, 10 s cut to 2 to the marker, 1 s to b.
      { waitMs: 3500, text: 'b' },
      { waitMs: 250, text: 'c' },
    ]);
    expect(playSteps(cast, { speed: 2, idleLimitS: 2 }).map((s) => s.waitMs)).toEqual([250, 1750, 125]);
  });
});

describe('playCast', () => {
  it('writes every step in order, and stops at q', async () => {
    const out = new PassThrough();
    let written = '';
    out.on('data', (d: Buffer) => {
      written += d.toString();
    });
    expect(await playCast(playSteps(cast, { speed: 1000, idleLimitS: 2 }), { out })).toBe('done');
    expect(written).toBe('abc');
    const keys = new PassThrough();
    const quit = playCast([{ waitMs: 60_000, text: 'never' }], { out, keys });
    keys.write('q');
    expect(await quit).toBe('quit');
    expect(written).toBe('abc');
  });
});
