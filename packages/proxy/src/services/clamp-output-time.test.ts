import { describe, expect, it } from 'vitest';
import { clampOutputTime } from './session-hub.js';

describe('clampOutputTime (an agent stamp, from a sandbox that may lie)', () => {
  const received = 1_750_000_010_000;
  const previous = 1_750_000_000_000;

  it("keeps an honest stamp between the previous frame's and the receive time", () => {
    expect(clampOutputTime(1_750_000_005_000, received, previous)).toBe(1_750_000_005_000);
  });

  it('never takes a stamp later than the proxy received the frame', () => {
    expect(clampOutputTime(received + 86_400_000, received, previous)).toBe(received);
  });

  it('never lets time run backwards from the previous frame', () => {
    expect(clampOutputTime(0.5, received, previous)).toBe(previous);
    expect(clampOutputTime(previous - 1, received, previous)).toBe(previous);
  });

  it('takes the receive time for a missing or malformed stamp', () => {
    for (const stamp of [undefined, null, 'soon', Number.NaN, Number.POSITIVE_INFINITY, -5, 0, {}]) {
      expect(clampOutputTime(stamp, received, previous)).toBe(received);
    }
  });
});
