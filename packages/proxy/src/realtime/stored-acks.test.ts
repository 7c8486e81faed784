import { afterEach, describe, expect, it, vi } from 'vitest';
import { StoredAcks } from './stored-acks.js';

afterEach(() => {
  vi.useRealTimers();
});

function setup(delayMs = 25, everyBytes = 1000) {
  const sent: [string, number][] = [];
  const acks = new StoredAcks((sessionId, offset) => sent.push([sessionId, offset]), delayMs, everyBytes);
  return { sent, acks };
}

describe('StoredAcks', () => {
  it('acks the first store at once, then small stores together after the delay, per session', () => {
    vi.useFakeTimers();
    const { sent, acks } = setup();
    acks.stored('s1', 1);
    expect(sent).toEqual([['s1', 1]]);
    acks.stored('s1', 2);
    acks.stored('s1', 3);
    acks.stored('s2', 10);
    expect(sent).toEqual([
      ['s1', 1],
      ['s2', 10],
    ]);
    vi.advanceTimersByTime(24);
    expect(sent).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(sent.at(-1)).toEqual(['s1', 3]);
    expect(sent).toHaveLength(3);
  });

  it('acks at once when a window share is unacknowledged, and never goes backwards', () => {
    vi.useFakeTimers();
    const { sent, acks } = setup();
    acks.stored('s', 100);
    acks.stored('s', 600);
    acks.stored('s', 1100);
    expect(sent).toEqual([
      ['s', 100],
      ['s', 1100],
    ]);
    // An older end arriving late changes nothing.
    acks.stored('s', 500);
    vi.advanceTimersByTime(100);
    expect(sent).toHaveLength(2);
  });

  it('sends nothing more once closed', () => {
    vi.useFakeTimers();
    const { sent, acks } = setup();
    acks.stored('s', 1);
    acks.stored('s', 2);
    acks.close();
    acks.stored('s', 3);
    vi.advanceTimersByTime(100);
    expect(sent).toEqual([['s', 1]]);
  });

  it('with no delay acks every store', () => {
    const { sent, acks } = setup(0);
    acks.stored('s', 1);
    acks.stored('s', 2);
    expect(sent).toEqual([
      ['s', 1],
      ['s', 2],
    ]);
  });
});
