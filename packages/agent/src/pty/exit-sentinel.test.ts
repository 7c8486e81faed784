import { describe, expect, it } from 'vitest';
import { ExitSentinelScanner } from './exit-sentinel.js';

const marker = (nonce: string, code: number) => `\x1b]7777;rclaude-exit;${nonce};${code}\x07`;

describe('ExitSentinelScanner', () => {
  it('passes output through, strips the marker and reads the exit code', () => {
    const s = new ExitSentinelScanner('abc');
    const r = s.push(Buffer.from(`hello\n${marker('abc', 3)}junk`));
    expect(r.output.toString()).toBe('hello\n');
    expect(r.exitCode).toBe(3);
    expect(s.done).toBe(true);
  });

  it('finds a marker split across reads at every position, holding back only the partial match', () => {
    const full = `some output ${marker('n0nce', 42)}`;
    for (let cut = 1; cut < full.length; cut++) {
      const s = new ExitSentinelScanner('n0nce');
      const a = s.push(Buffer.from(full.slice(0, cut)));
      const b = s.push(Buffer.from(full.slice(cut)));
      expect(a.output.toString() + b.output.toString()).toBe('some output ');
      expect(b.exitCode ?? a.exitCode).toBe(42);
    }
  });

  it('ignores a marker with another nonce (a program cannot fake its exit)', () => {
    const s = new ExitSentinelScanner('real');
    const fake = marker('fake', 0);
    const r = s.push(Buffer.from(`x${fake}y`));
    expect(r.exitCode).toBeNull();
    expect(r.output.toString()).toBe(`x${fake}y`);
  });

  it('releases a held-back escape sequence that turns out not to be the marker', () => {
    const s = new ExitSentinelScanner('nonce');
    const a = s.push(Buffer.from('text\x1b]77'));
    expect(a.output.toString()).toBe('text');
    const b = s.push(Buffer.from('x not a marker'));
    expect(b.output.toString()).toBe('\x1b]77x not a marker');
  });
});
