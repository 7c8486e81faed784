import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTestRedis, deleteRedisPrefix, uniqueRedisPrefix } from '../../test/test-redis.js';
import { MemoryOutputLog } from './memory-output-log.js';
import { RedisOutputLog } from './redis-output-log.js';
import type { OutputLog } from './types.js';

// The terminal-streaming hot path: 16 KiB chunks appended one after another, as the session hub does
// per session. Figures are printed for the report; the assertions are about the bytes, never the time.
const CHUNK = 16 * 1024;
const CHUNKS = 1024;
const BLOCK = 64;
const MAX_BYTES = 8 * 1024 * 1024;
const READ_FRAME = 256 * 1024;
const SESSIONS = 8;

function chunkFor(index: number): Buffer {
  return expectedAt(index * CHUNK, CHUNK);
}

/** Bytes `offset..offset+length` of the reference stream: little-endian 32-bit offsets. */
function expectedAt(offset: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += 4) out.writeUInt32LE((offset + i) >>> 0, i);
  return out;
}

interface Harness {
  log: OutputLog;
  /** The bare store operation on the same chunk (a plain XADD), timed alongside to report a ratio. */
  baseline?: (index: number, chunk: Buffer) => Promise<unknown>;
  close(): Promise<void>;
}

const implementations: [string, () => Promise<Harness>][] = [
  ['memory', async () => ({ log: new MemoryOutputLog({ maxBytes: MAX_BYTES }), close: async () => undefined })],
  [
    'redis',
    async () => {
      const redis = await connectTestRedis();
      const prefix = uniqueRedisPrefix();
      return {
        log: new RedisOutputLog(redis, { prefix, maxBytes: MAX_BYTES }),
        baseline: (index, chunk) => redis.xadd(`${prefix}:baseline`, `${index * CHUNK + 1}-1`, 'd', chunk),
        async close() {
          await deleteRedisPrefix(redis, prefix);
          await redis.quit();
        },
      };
    },
  ],
];

function rate(count: number, bytes: number, ms: number): string {
  const mib = ((bytes / ms) * 1000) / (1024 * 1024);
  return `${Math.round((count / ms) * 1000)} appends/s, ${mib.toFixed(1)} MiB/s`;
}

describe.each(implementations)('OutputLog under load (%s)', (name, make) => {
  let h: Harness;
  const chunks = Array.from({ length: CHUNKS }, (_, i) => chunkFor(i));
  beforeAll(async () => {
    h = await make();
  });
  afterAll(async () => {
    await h?.close();
  });

  it(`appends ${CHUNKS} x 16 KiB in sequence, keeps the newest 8 MiB intact and reads them back`, async () => {
    // Blocks of appends alternate with blocks of the baseline, so load from elsewhere hits both alike.
    let appendMs = 0;
    let baselineMs = 0;
    let end = 0;
    for (let block = 0; block < CHUNKS; block += BLOCK) {
      let t = performance.now();
      for (let i = block; i < block + BLOCK; i++) end = await h.log.append('s_load', i * CHUNK, chunks[i]!);
      appendMs += performance.now() - t;
      if (!h.baseline) continue;
      t = performance.now();
      for (let i = block; i < block + BLOCK; i++) await h.baseline(i, chunks[i]!);
      baselineMs += performance.now() - t;
    }
    expect(end).toBe(CHUNKS * CHUNK);
    expect(await h.log.bounds('s_load')).toEqual({ start: end - MAX_BYTES, end });

    const readStarted = performance.now();
    const frames: { offset: number; data: Uint8Array }[] = [];
    for (let pos = end - MAX_BYTES; pos < end; ) {
      const frame = await h.log.read('s_load', pos, READ_FRAME);
      frames.push(frame);
      if (frame.data.byteLength === 0) break;
      pos = frame.offset + frame.data.byteLength;
    }
    const readMs = performance.now() - readStarted;
    let pos = end - MAX_BYTES;
    for (const { offset, data } of frames) {
      expect(offset).toBe(pos);
      const got = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      expect(got.equals(expectedAt(pos, data.byteLength))).toBe(true);
      pos += data.byteLength;
    }
    expect(pos).toBe(end);

    const ratio = h.baseline
      ? ` (${(baselineMs / appendMs).toFixed(2)} x plain XADD at ${Math.round((CHUNKS / baselineMs) * 1000)}/s)`
      : '';
    const readRate = ((MAX_BYTES / readMs) * 1000) / (1024 * 1024);
    console.log(
      `[output-log ${name}] sequential append: ${rate(CHUNKS, CHUNKS * CHUNK, appendMs)}${ratio}; ` +
        `read ${MAX_BYTES >> 20} MiB in ${READ_FRAME >> 10} KiB frames: ${readRate.toFixed(1)} MiB/s`,
    );
  });

  it(`appends to ${SESSIONS} sessions concurrently (one chain per session), losing and doubling nothing`, async () => {
    const perSession = CHUNKS / SESSIONS;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: SESSIONS }, async (_, s) => {
        for (let i = 0; i < perSession; i++) await h.log.append(`s_par${s}`, i * CHUNK, chunks[i]!);
      }),
    );
    const ms = performance.now() - started;
    for (let s = 0; s < SESSIONS; s++) {
      expect(await h.log.bounds(`s_par${s}`)).toEqual({ start: 0, end: perSession * CHUNK });
      const tail = await h.log.read(`s_par${s}`, perSession * CHUNK - 100, 1000);
      expect(Buffer.from(tail.data).equals(expectedAt(perSession * CHUNK - 100, 100))).toBe(true);
    }
    console.log(`[output-log ${name}] ${SESSIONS} sessions in parallel: ${rate(CHUNKS, CHUNKS * CHUNK, ms)} in total`);
  });
});
