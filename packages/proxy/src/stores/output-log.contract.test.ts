import { AppError } from '@rclaude/protocol';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTestRedis, deleteRedisPrefix, uniqueRedisPrefix } from '../../test/test-redis.js';
import { MemoryOutputLog } from './memory-output-log.js';
import { RedisOutputLog } from './redis-output-log.js';
import type { OutputLog } from './types.js';

interface Harness {
  make(maxBytes: number): OutputLog;
  close(): Promise<void>;
}

const implementations: [string, () => Promise<Harness>][] = [
  ['memory', async () => ({ make: (maxBytes) => new MemoryOutputLog({ maxBytes }), close: async () => undefined })],
  [
    'redis',
    async () => {
      const redis = await connectTestRedis();
      const prefix = uniqueRedisPrefix();
      return {
        make: (maxBytes) => new RedisOutputLog(redis, { prefix, maxBytes }),
        async close() {
          await deleteRedisPrefix(redis, prefix);
          await redis.quit();
        },
      };
    },
  ],
];

/** Bytes `from..to` of the reference stream: byte i is `i * 7 mod 256`, so every value occurs. */
function bytes(from: number, to: number): Uint8Array {
  const out = new Uint8Array(Math.max(0, to - from));
  for (let i = from; i < to; i++) out[i - from] = (i * 7) % 256;
  return out;
}

/** A plain Uint8Array copy, to compare contents whatever the implementation returns (Buffer or not). */
function plain(data: Uint8Array): Uint8Array {
  return new Uint8Array(data);
}

let counter = 0;
function sessionId(): string {
  counter += 1;
  return `s_${process.pid}_${counter}`;
}

describe.each(implementations)('OutputLog contract (%s)', (_name, makeHarness) => {
  let h: Harness;
  beforeAll(async () => {
    h = await makeHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('starts empty, appends, and reads back', async () => {
    const log = h.make(1 << 20);
    const id = sessionId();
    expect(await log.bounds(id)).toEqual({ start: 0, end: 0 });
    expect(await log.read(id, 0, 100)).toEqual({ offset: 0, data: new Uint8Array(0) });
    expect(await log.append(id, 0, bytes(0, 10))).toBe(10);
    expect(await log.append(id, 10, bytes(10, 25))).toBe(25);
    expect(await log.bounds(id)).toEqual({ start: 0, end: 25 });
    const read = await log.read(id, 0, 1000);
    expect(read.offset).toBe(0);
    expect(plain(read.data)).toEqual(bytes(0, 25));
  });

  it('drops a log its retention ran out on, appends or not, and keeps one retained for good again', async () => {
    const log = h.make(1 << 20);
    const [gone, kept, untouched] = [sessionId(), sessionId(), sessionId()];
    for (const id of [gone, kept, untouched]) await log.append(id, 0, bytes(0, 10));
    await log.retain(gone, 60);
    await log.retain(kept, 60);
    await log.append(gone, 10, bytes(10, 20));
    await log.retain(kept, null);
    await new Promise((r) => setTimeout(r, 250)); // the test is about time running out: 60 ms
    expect(await log.bounds(gone)).toEqual({ start: 0, end: 0 });
    expect(await log.bounds(kept)).toEqual({ start: 0, end: 10 });
    expect(await log.bounds(untouched)).toEqual({ start: 0, end: 10 });
  });

  it('round-trips every byte value 0x00-0xff, from Buffers, plain Uint8Arrays and subarray views', async () => {
    const log = h.make(1 << 20);
    const id = sessionId();
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    await log.append(id, 0, Buffer.from(all));
    // Regression: ioredis stringified a non-Buffer Uint8Array ("0,1,2,...") instead of sending bytes.
    await log.append(id, 256, Uint8Array.from(all));
    const backing = new Uint8Array(600).fill(0xee);
    backing.set(all, 100);
    // A view into a larger buffer: only its own 256 bytes may be stored.
    await log.append(id, 512, backing.subarray(100, 356));
    const read = await log.read(id, 0, 10_000);
    expect(read.data.byteLength).toBe(768);
    expect(plain(read.data)).toEqual(Uint8Array.from({ length: 768 }, (_, i) => i % 256));
  });

  it('is not affected by the caller reusing its buffer after an append', async () => {
    const log = h.make(1 << 20);
    const id = sessionId();
    const chunk = bytes(0, 8);
    await log.append(id, 0, chunk);
    chunk.fill(0);
    expect(plain((await log.read(id, 0, 8)).data)).toEqual(bytes(0, 8));
  });

  it('stores each byte once when chunks are resent whole or overlapping', async () => {
    const log = h.make(1 << 20);
    const id = sessionId();
    await log.append(id, 0, bytes(0, 10));
    expect(await log.append(id, 0, bytes(0, 10))).toBe(10);
    expect(await log.append(id, 4, bytes(4, 8))).toBe(10);
    expect(await log.append(id, 5, bytes(5, 18))).toBe(18);
    expect(await log.append(id, 18, new Uint8Array(0))).toBe(18);
    expect(await log.bounds(id)).toEqual({ start: 0, end: 18 });
    expect(plain((await log.read(id, 0, 100)).data)).toEqual(bytes(0, 18));
  });

  it('stores each byte once when two writers append the same chunk at the same moment', async () => {
    const log = h.make(1 << 20);
    const id = sessionId();
    await log.append(id, 0, bytes(0, 5));
    const ends = await Promise.all([log.append(id, 5, bytes(5, 40)), log.append(id, 5, bytes(5, 40))]);
    expect(ends).toEqual([40, 40]);
    expect(plain((await log.read(id, 0, 100)).data)).toEqual(bytes(0, 40));
  });

  it('refuses a gap with CONFLICT and stores nothing of it', async () => {
    const log = h.make(1 << 20);
    const id = sessionId();
    await log.append(id, 0, bytes(0, 10));
    const err = await log.append(id, 11, bytes(11, 20)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('CONFLICT');
    expect((err as AppError).details).toEqual({ end: 10, offset: 11 });
    expect(await log.bounds(id)).toEqual({ start: 0, end: 10 });
    const fresh = await log.append(sessionId(), 3, bytes(3, 4)).catch((e: unknown) => e);
    expect((fresh as AppError).code).toBe('CONFLICT');
  });

  it('refuses offsets that are not non-negative integers', async () => {
    const log = h.make(1 << 20);
    await expect(log.append(sessionId(), -1, bytes(0, 1))).rejects.toThrow(/non-negative integer/);
    await expect(log.append(sessionId(), 1.5, bytes(0, 1))).rejects.toThrow(/non-negative integer/);
  });

  it('stays within maxBytes by dropping the oldest chunks', async () => {
    const log = h.make(100);
    const id = sessionId();
    for (let off = 0; off < 300; off += 10) await log.append(id, off, bytes(off, off + 10));
    expect(await log.bounds(id)).toEqual({ start: 200, end: 300 });
    // Chunks that do not divide maxBytes: retained bytes never exceed it.
    const odd = sessionId();
    for (let off = 0; off < 300; off += 30) await log.append(odd, off, bytes(off, off + 30));
    const b = await log.bounds(odd);
    expect(b.end).toBe(300);
    expect(b.end - b.start).toBeLessThanOrEqual(100);
    expect(b).toEqual({ start: 210, end: 300 });
  });

  it('keeps the newest chunk even when it alone exceeds maxBytes', async () => {
    const log = h.make(100);
    const id = sessionId();
    await log.append(id, 0, bytes(0, 50));
    await log.append(id, 50, bytes(50, 300));
    expect(await log.bounds(id)).toEqual({ start: 50, end: 300 });
    expect(plain((await log.read(id, 0, 1000)).data)).toEqual(bytes(50, 300));
  });

  it('reads across chunk boundaries, from inside a chunk, up to maxBytes', async () => {
    const log = h.make(1 << 20);
    const id = sessionId();
    for (let off = 0; off < 70; off += 7) await log.append(id, off, bytes(off, off + 7));
    for (const [from, max] of [
      [5, 20],
      [0, 7],
      [7, 7],
      [13, 1],
      [69, 50],
      [1, 68],
    ] as const) {
      const read = await log.read(id, from, max);
      expect(read.offset).toBe(from);
      expect(plain(read.data)).toEqual(bytes(from, Math.min(70, from + max)));
    }
  });

  it('reads from the oldest retained byte when asked for a trimmed offset', async () => {
    const log = h.make(30);
    const id = sessionId();
    for (let off = 0; off < 100; off += 10) await log.append(id, off, bytes(off, off + 10));
    const read = await log.read(id, 15, 1000);
    expect(read.offset).toBe(70);
    expect(plain(read.data)).toEqual(bytes(70, 100));
  });

  it('returns empty data at the end, and clamps reads beyond it', async () => {
    const log = h.make(1 << 20);
    const id = sessionId();
    await log.append(id, 0, bytes(0, 10));
    expect(await log.read(id, 10, 100)).toEqual({ offset: 10, data: new Uint8Array(0) });
    expect(await log.read(id, 50, 100)).toEqual({ offset: 10, data: new Uint8Array(0) });
    expect(await log.read(id, 3, 0)).toEqual({ offset: 3, data: new Uint8Array(0) });
  });

  it('clamps a zero-length read from before the start to the start, not past it', async () => {
    // Found by the model test below: chunks at 15 and 16 remain of 17 bytes, and a read of 0 bytes from 0
    // must say 15 (where reading would begin), not the start of a later chunk.
    const log = h.make(2);
    const id = sessionId();
    await log.append(id, 0, bytes(0, 15));
    await log.append(id, 0, bytes(0, 16));
    await log.append(id, 8, bytes(8, 17));
    expect(await log.bounds(id)).toEqual({ start: 15, end: 17 });
    expect(await log.read(id, 0, 0)).toEqual({ offset: 15, data: new Uint8Array(0) });
  });

  it('reads many small chunks in one call', async () => {
    const log = h.make(1 << 20);
    const id = sessionId();
    for (let off = 0; off < 600; off++) await log.append(id, off, bytes(off, off + 1));
    const read = await log.read(id, 1, 598);
    expect(read.offset).toBe(1);
    expect(plain(read.data)).toEqual(bytes(1, 599));
  });

  it('skips to a later offset when earlier bytes are lost for good, then continues from there', async () => {
    const log = h.make(1 << 20);
    const id = sessionId();
    await log.append(id, 0, bytes(0, 10));
    expect(await log.skipTo(id, 5)).toBe(10);
    expect(await log.skipTo(id, 40)).toBe(40);
    expect(await log.bounds(id)).toEqual({ start: 40, end: 40 });
    expect(await log.read(id, 0, 100)).toEqual({ offset: 40, data: new Uint8Array(0) });
    await expect(log.append(id, 41, bytes(41, 42))).rejects.toThrow(/gap/);
    expect(await log.append(id, 30, bytes(30, 50))).toBe(50);
    const read = await log.read(id, 0, 100);
    expect(read.offset).toBe(40);
    expect(plain(read.data)).toEqual(bytes(40, 50));
    // Works on a log that never held anything (Redis lost the whole stream).
    const empty = sessionId();
    expect(await log.skipTo(empty, 7)).toBe(7);
    expect(await log.append(empty, 7, bytes(7, 9))).toBe(9);
    expect(await log.bounds(empty)).toEqual({ start: 7, end: 9 });
  });

  it('deletes a session log', async () => {
    const log = h.make(1 << 20);
    const id = sessionId();
    await log.append(id, 0, bytes(0, 10));
    await log.delete(id);
    expect(await log.bounds(id)).toEqual({ start: 0, end: 0 });
    expect(await log.append(id, 0, bytes(0, 3))).toBe(3);
  });

  it('matches a reference model under random appends, resends and reads', async () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('append' as const), back: fc.nat(40), length: fc.integer({ min: 0, max: 60 }) }),
      fc.record({ kind: fc.constant('read' as const), from: fc.nat(400), max: fc.integer({ min: 0, max: 200 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 150 }), fc.array(step, { maxLength: 25 }), async (maxBytes, steps) => {
        const log = h.make(maxBytes);
        const id = sessionId();
        let end = 0;
        // Where each stored chunk starts (a resend adds a chunk only for its new bytes).
        const chunkStarts: number[] = [];
        for (const s of steps) {
          if (s.kind === 'append') {
            const offset = Math.max(0, end - s.back);
            const newEnd = Math.max(end, offset + s.length);
            expect(await log.append(id, offset, bytes(offset, offset + s.length))).toBe(newEnd);
            if (newEnd > end) chunkStarts.push(end);
            end = newEnd;
          } else {
            // The oldest chunk that fits in maxBytes with everything after it; the newest one at least.
            const expectedStart = chunkStarts.find((c) => end - c <= maxBytes) ?? chunkStarts.at(-1) ?? 0;
            expect(await log.bounds(id)).toEqual({ start: expectedStart, end });
            const start = expectedStart;
            const read = await log.read(id, s.from, s.max);
            const expectedOffset = Math.min(Math.max(s.from, start), end);
            expect(read.offset).toBe(expectedOffset);
            expect(plain(read.data)).toEqual(bytes(expectedOffset, Math.min(end, expectedOffset + s.max)));
          }
        }
        await log.delete(id);
      }),
      { numRuns: 40 },
    );
  });

  // ---- recording data: each chunk's time, and the resizes ----------------------------------------

  it('keeps the time of each chunk, cut to the range read, and 0 for bytes appended without one', async () => {
    const log = h.make(1 << 20);
    const id = sessionId();
    await log.append(id, 0, bytes(0, 10), 1_700_000_000_000);
    // A resend overlapping what is stored keeps only the new bytes, with the resend's time.
    await log.append(id, 5, bytes(5, 20), 1_700_000_000_500);
    await log.append(id, 20, bytes(20, 30));
    const all = await log.readTimed(id, 0, 1000);
    expect(all.offset).toBe(0);
    expect(all.chunks.map((c) => ({ offset: c.offset, at: c.at, data: plain(c.data) }))).toEqual([
      { offset: 0, at: 1_700_000_000_000, data: bytes(0, 10) },
      { offset: 10, at: 1_700_000_000_500, data: bytes(10, 20) },
      { offset: 20, at: 0, data: bytes(20, 30) },
    ]);
    const part = await log.readTimed(id, 7, 8);
    expect(part.offset).toBe(7);
    expect(part.chunks.map((c) => ({ offset: c.offset, at: c.at, data: plain(c.data) }))).toEqual([
      { offset: 7, at: 1_700_000_000_000, data: bytes(7, 10) },
      { offset: 10, at: 1_700_000_000_500, data: bytes(10, 15) },
    ]);
    // The plain read is unchanged by the times stored beside the bytes.
    expect(plain((await log.read(id, 0, 1000)).data)).toEqual(bytes(0, 30));
    expect(await log.readTimed(sessionId(), 0, 100)).toEqual({ offset: 0, chunks: [] });
  });

  it('reads timed chunks from the oldest retained byte when the log was trimmed', async () => {
    const log = h.make(16);
    const id = sessionId();
    for (let i = 0; i < 5; i++) await log.append(id, i * 10, bytes(i * 10, i * 10 + 10), 1000 + i);
    // 16 bytes kept of 10-byte chunks: the newest chunk alone.
    expect(await log.bounds(id)).toEqual({ start: 40, end: 50 });
    const read = await log.readTimed(id, 0, 1000);
    expect(read.offset).toBe(40);
    expect(read.chunks.map((c) => ({ offset: c.offset, at: c.at, data: plain(c.data) }))).toEqual([
      { offset: 40, at: 1004, data: bytes(40, 50) },
    ]);
  });

  it('keeps resizes in order, the newest 1000 of them, and deletes them with the log', async () => {
    const log = h.make(1 << 20);
    const id = sessionId();
    expect(await log.resizes(id)).toEqual([]);
    await log.recordResize(id, { at: 1000, cols: 80, rows: 24 });
    await log.recordResize(id, { at: 2000, cols: 120, rows: 40 });
    expect(await log.resizes(id)).toEqual([
      { at: 1000, cols: 80, rows: 24 },
      { at: 2000, cols: 120, rows: 40 },
    ]);
    // Sent together (one connection keeps their order), so the test does not wait a round trip per resize.
    await Promise.all(
      Array.from({ length: 1005 }, (_, i) => log.recordResize(id, { at: 3000 + i, cols: 10 + (i % 50), rows: 5 })),
    );
    const kept = await log.resizes(id);
    expect(kept).toHaveLength(1000);
    expect(kept[0]).toEqual({ at: 3005, cols: 10 + (5 % 50), rows: 5 });
    expect(kept.at(-1)).toEqual({ at: 4004, cols: 10 + (1004 % 50), rows: 5 });
    await log.append(id, 0, bytes(0, 4), 5000);
    await log.delete(id);
    expect(await log.resizes(id)).toEqual([]);
    expect(await log.readTimed(id, 0, 100)).toEqual({ offset: 0, chunks: [] });
  });

  it("drops a session's resizes with its output when its retention runs out", async () => {
    const log = h.make(1 << 20);
    const [gone, kept] = [sessionId(), sessionId()];
    for (const id of [gone, kept]) {
      await log.append(id, 0, bytes(0, 10), 1000);
      await log.recordResize(id, { at: 1000, cols: 80, rows: 24 });
    }
    await log.retain(gone, 60);
    // Noted after the retention was set: goes with the rest.
    await log.recordResize(gone, { at: 2000, cols: 100, rows: 30 });
    await new Promise((r) => setTimeout(r, 250)); // the test is about time running out: 60 ms
    expect(await log.resizes(gone)).toEqual([]);
    expect(await log.readTimed(gone, 0, 100)).toEqual({ offset: 0, chunks: [] });
    expect(await log.resizes(kept)).toEqual([{ at: 1000, cols: 80, rows: 24 }]);
  });
});
