import { describe, expect, it } from 'vitest';
import { describeKeys, KeyWatcher, parseDetachKeys } from './keys.js';

const feed = (w: KeyWatcher, s: string) =>
  w
    .feed(Buffer.from(s, 'latin1'))
    .map((a) => ('send' in a ? a.send.toString('latin1') : 'detach' in a ? '<detach>' : '<drop>'));

describe('detach keys', () => {
  it('parses Docker-style specs', () => {
    expect(parseDetachKeys('ctrl-p,ctrl-q')).toEqual([16, 17]);
    expect(parseDetachKeys('ctrl-a,d')).toEqual([1, 100]);
    expect(describeKeys([16, 17])).toBe('Ctrl-P Ctrl-Q');
    expect(() => parseDetachKeys('ctrl-,x')).toThrow(/invalid/);
  });

  it('detaches on the full sequence, even split across reads, and passes everything else through', () => {
    const w = new KeyWatcher([16, 17]);
    expect(feed(w, 'ls\r')).toEqual(['ls\r']);
    expect(feed(w, '\x10')).toEqual([]);
    expect(feed(w, '\x11')).toEqual(['<detach>']);
  });

  it('sends a held Ctrl-P on when the next key is not Ctrl-Q (shell history still works)', () => {
    const w = new KeyWatcher([16, 17]);
    expect(feed(w, '\x10a')).toEqual(['\x10a']);
    expect(feed(w, '\x10\x10\x11')).toEqual(['\x10', '<detach>']);
  });

  it('drops the connection on ~. after a newline only; ~~ sends one ~', () => {
    const w = new KeyWatcher([16, 17]);
    expect(feed(w, '~.')).toEqual(['<drop>']);
    const x = new KeyWatcher([16, 17]);
    expect(feed(x, 'a~.')).toEqual(['a~.']);
    expect(feed(x, '\r~~')).toEqual(['\r~']);
    expect(feed(x, '\r~x')).toEqual(['\r~x']);
  });
});
