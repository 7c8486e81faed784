import { describe, expect, it } from 'vitest';
import { castTimeline, formatClock, framesDue } from './cast-timeline.js';

describe('castTimeline', () => {
  const cast = {
    header: { version: 2 as const, width: 80, height: 24 },
    events: [
      [0, 'o', 'a'],
      [30, 'm', 'Bash npm test'],
      [31, 'r', '120x40'],
      [31.5, 'o', 'b'],
    ] as [number, 'o' | 'r' | 'm', string][],
  };

  it('compresses pauses to the idle limit and splits frames from markers', () => {
    const tl = castTimeline(cast, 2);
    expect(tl.frames).toEqual([
      { t: 0, text: 'a' },
      { t: 3, cols: 120, rows: 40 },
      { t: 3.5, text: 'b' },
    ]);
    expect(tl.markers).toEqual([{ t: 2, label: 'Bash npm test' }]);
    expect(tl.duration).toBe(3.5);
    expect(castTimeline(cast, 0).duration).toBe(31.5);
  });

  it('counts the frames due at a time', () => {
    const tl = castTimeline(cast, 2);
    expect([framesDue(tl, -1), framesDue(tl, 0), framesDue(tl, 3.2), framesDue(tl, 10)]).toEqual([0, 1, 2, 3]);
    expect(formatClock(125.7)).toBe('2:05');
  });
});
