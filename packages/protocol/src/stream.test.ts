import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OffsetAssembler } from './stream.js';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe('OffsetAssembler', () => {
  it('passes new bytes, drops duplicates, trims overlaps and reports gaps', () => {
    const a = new OffsetAssembler();
    expect(text(a.accept(0, bytes('hello')) as Uint8Array)).toBe('hello');
    expect((a.accept(0, bytes('hello')) as Uint8Array).byteLength).toBe(0);
    expect(text(a.accept(3, bytes('lo world')) as Uint8Array)).toBe(' world');
    expect(a.accept(20, bytes('x'))).toBe('gap');
    expect(a.next).toBe(11);
  });

  it('reassembles any split of a stream, delivered with resends, into the stream exactly once', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 300 }),
        fc.array(fc.nat(300), { maxLength: 20 }),
        (stream, cuts) => {
          const points = [...new Set([0, ...cuts.map((c) => c % stream.length), stream.length])].sort((x, y) => x - y);
          const a = new OffsetAssembler();
          const out: number[] = [];
          for (let i = 0; i + 1 < points.length; i++) {
            const from = points[i] as number;
            const to = points[i + 1] as number;
            // Deliver each piece twice, and once more overlapping the previous one (a resend after reconnect).
            for (const start of [from, from, Math.max(0, from - 3)]) {
              const got = a.accept(start, stream.subarray(start, to));
              if (got !== 'gap') out.push(...got);
            }
          }
          expect(Uint8Array.from(out)).toEqual(stream);
        },
      ),
    );
  });
});
