import type { Redis } from 'ioredis';
import { checkOffset, outputGapError } from './output-gap.js';
import { MAX_RECORDED_RESIZES, type OutputLog, type RecordedResize, type TimedChunk } from './types.js';

export interface RedisOutputLogOptions {
  /** Key prefix, e.g. `rclaude` (streams become `rclaude:output:<sessionId>`). */
  prefix: string;
  /** Bytes kept per session; the oldest entries go first, but the newest entry is always kept. */
  maxBytes: number;
}

// Entry ids encode offsets: a chunk starting at byte N is `N-1` (`0-0` is not a legal id); a
// skipTo marker, which holds no bytes, is `N-0` so a chunk at the same offset still sorts after it.
// Each entry has the field `d`, holding the raw bytes, and `t`, when they were produced (ms; absent or 0: unknown). Lua numbers are doubles: exact up to 2^53,
// and `%d` formats them without an exponent.
const LUA_HELPERS = `
local function offset_of(id) return tonumber(string.match(id, '^(%d+)')) end
local function end_of(key)
  local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
  if #last == 0 then return nil end
  return offset_of(last[1][1]) + #last[1][2][2]
end
-- Drops whole entries from the front until at most max_bytes remain, but never the newest entry
-- (which starts at newest_offset): MINID evicts exactly the entries that start before the cut.
local function trim(key, new_end, max_bytes, newest_offset)
  local cut = math.min(new_end - max_bytes, newest_offset)
  if cut > 0 then redis.call('XTRIM', key, 'MINID', string.format('%d-0', cut)) end
end
`;

// KEYS[1] stream; ARGV offset, bytes, maxBytes, time. Returns the new end, or an error `RCLAUDE_GAP <end>`.
const LUA_APPEND = `${LUA_HELPERS}
local key = KEYS[1]
local offset = tonumber(ARGV[1])
local data = ARGV[2]
local stored_end = end_of(key) or 0
if offset > stored_end then return redis.error_reply('RCLAUDE_GAP ' .. string.format('%d', stored_end)) end
local skip = stored_end - offset
if skip >= #data then return stored_end end
if skip > 0 then data = string.sub(data, skip + 1) end
local id = string.format('%d-1', stored_end)
redis.call('XADD', key, id, 'd', data, 't', ARGV[4])
local new_end = stored_end + #data
trim(key, new_end, tonumber(ARGV[3]), stored_end)
return new_end`;

// KEYS[1] stream; ARGV offset. Returns the new end.
const LUA_SKIP_TO = `${LUA_HELPERS}
local key = KEYS[1]
local offset = tonumber(ARGV[1])
local stored_end = end_of(key) or 0
if offset <= stored_end then return stored_end end
local id = string.format('%d-0', offset)
redis.call('XADD', key, id, 'd', '')
redis.call('XTRIM', key, 'MINID', id)
return offset`;

// KEYS[1] stream. Returns {start, end}; the bytes themselves never leave Redis.
const LUA_BOUNDS = `${LUA_HELPERS}
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if #first == 0 then return {0, 0} end
return {offset_of(first[1][1]), end_of(KEYS[1])}`;

// KEYS[1] resize list, KEYS[2] stream; ARGV the resize, most kept. The list takes the stream's expiry, so resizes
// noted after an ended task's retention was set go with its output.
const LUA_RESIZE = `
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
local ttl = redis.call('PTTL', KEYS[2])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1`;

interface OutputLogCommands {
  rclaudeOutputAppend(key: string, offset: number, data: Buffer, maxBytes: number, at: number): Promise<number>;
  rclaudeRecordResize(listKey: string, streamKey: string, entry: string, max: number): Promise<number>;
  rclaudeOutputSkipTo(key: string, offset: number): Promise<number>;
  rclaudeOutputBounds(key: string): Promise<[number, number]>;
}

/** Entries fetched per XRANGE round trip while reading. */
const READ_BATCH = 128;

/**
 * {@link OutputLog} on Redis Streams, one stream per session (`<prefix>:output:<id>`). Appends are one
 * Lua script each (read the end, drop a resent prefix, refuse a gap, XADD, trim by MINID), so
 * concurrent appends from two proxies cannot interleave. Bytes travel and rest as raw binary.
 */
export class RedisOutputLog implements OutputLog {
  private readonly redis: Redis & OutputLogCommands;
  private readonly prefix: string;
  private readonly maxBytes: number;

  constructor(redis: Redis, options: RedisOutputLogOptions) {
    redis.defineCommand('rclaudeOutputAppend', { numberOfKeys: 1, lua: LUA_APPEND });
    redis.defineCommand('rclaudeOutputSkipTo', { numberOfKeys: 1, lua: LUA_SKIP_TO });
    redis.defineCommand('rclaudeOutputBounds', { numberOfKeys: 1, lua: LUA_BOUNDS, readOnly: true });
    redis.defineCommand('rclaudeRecordResize', { numberOfKeys: 2, lua: LUA_RESIZE });
    this.redis = redis as Redis & OutputLogCommands;
    this.prefix = options.prefix;
    this.maxBytes = options.maxBytes;
  }

  private key(sessionId: string): string {
    return `${this.prefix}:output:${sessionId}`;
  }

  private recKey(sessionId: string): string {
    return `${this.prefix}:rec:${sessionId}`;
  }

  async append(sessionId: string, offset: number, data: Uint8Array, at = 0): Promise<number> {
    checkOffset('offset', offset);
    const time = Number.isSafeInteger(at) && at > 0 ? at : 0;
    try {
      // ioredis sends a Buffer as raw bytes but stringifies any other Uint8Array ("104,105"): wrap, no copy.
      return await this.redis.rclaudeOutputAppend(this.key(sessionId), offset, asBuffer(data), this.maxBytes, time);
    } catch (err) {
      const gap = err instanceof Error ? /^RCLAUDE_GAP (\d+)/.exec(err.message) : null;
      if (gap) throw outputGapError(sessionId, Number(gap[1]), offset);
      throw err;
    }
  }

  async bounds(sessionId: string): Promise<{ start: number; end: number }> {
    const [start, end] = await this.redis.rclaudeOutputBounds(this.key(sessionId));
    return { start, end };
  }

  async read(sessionId: string, from: number, maxBytes: number): Promise<{ offset: number; data: Uint8Array }> {
    const { offset, parts, got } = await this.scan(sessionId, from, maxBytes);
    if (got === 0) return { offset, data: new Uint8Array(0) };
    // Buffer.concat copies, so the result does not pin ioredis' reply buffers.
    return { offset, data: Buffer.concat(parts, got) };
  }

  async readTimed(
    sessionId: string,
    from: number,
    maxBytes: number,
  ): Promise<{ offset: number; chunks: TimedChunk[] }> {
    const { offset, parts, times } = await this.scan(sessionId, from, maxBytes);
    const chunks: TimedChunk[] = [];
    let pos = offset;
    parts.forEach((part, i) => {
      // A copy, as in read: the reply buffers are not pinned.
      chunks.push({ offset: pos, at: times[i] ?? 0, data: Buffer.from(part) });
      pos += part.byteLength;
    });
    return { offset, chunks };
  }

  async recordResize(sessionId: string, resize: RecordedResize): Promise<void> {
    const entry = `${Math.round(resize.at)} ${resize.cols} ${resize.rows}`;
    await this.redis.rclaudeRecordResize(this.recKey(sessionId), this.key(sessionId), entry, MAX_RECORDED_RESIZES);
  }

  async resizes(sessionId: string): Promise<RecordedResize[]> {
    const entries = await this.redis.lrange(this.recKey(sessionId), 0, -1);
    const out: RecordedResize[] = [];
    for (const entry of entries) {
      const [at, cols, rows] = entry.split(' ').map(Number);
      if (Number.isFinite(at) && Number.isInteger(cols) && Number.isInteger(rows)) {
        out.push({ at: at as number, cols: cols as number, rows: rows as number });
      }
    }
    return out;
  }

  /** The contiguous pieces of stored entries from `from` (clamped to what is held), at most `maxBytes` in all. */
  private async scan(
    sessionId: string,
    from: number,
    maxBytes: number,
  ): Promise<{ offset: number; parts: Buffer[]; times: number[]; got: number }> {
    checkOffset('from', from);
    if (maxBytes <= 0) {
      // Only where `from` clamps to. (The scan below would walk on past the clamp, taking nothing.)
      const { start, end } = await this.bounds(sessionId);
      return { offset: Math.min(Math.max(from, start), end), parts: [], times: [], got: 0 };
    }
    const key = this.key(sessionId);
    let pos = from;
    let got = 0;
    let storedEnd = 0;
    let typicalEntry = 0;
    const parts: Buffer[] = [];
    const times: number[] = [];
    /** Takes what `entry` holds at `pos`; false when the log is not contiguous from here (trimmed meanwhile). */
    const take = ([id, fields]: [Buffer, Buffer[]]): boolean => {
      const start = offsetOfId(id);
      const bytes = fields[1] ?? EMPTY;
      storedEnd = start + bytes.byteLength;
      typicalEntry = Math.max(typicalEntry, bytes.byteLength);
      if (start > pos) {
        // Trimmed away before (or while) we read: start from what is left, unless bytes are already taken.
        if (got > 0) return false;
        pos = start;
      }
      if (storedEnd > pos && got < maxBytes) {
        const piece = bytes.subarray(pos - start, pos - start + (maxBytes - got));
        parts.push(piece);
        times.push(timeOf(fields));
        got += piece.byteLength;
        pos += piece.byteLength;
      }
      return true;
    };

    // The entry holding `from` is the last one starting at or before it.
    const [holder] = await this.redis.xrevrangeBuffer(key, `${from}-1`, '-', 'COUNT', 1);
    if (holder) take(holder);
    let cursor = holder ? `(${holder[0].toString('latin1')}` : '-';
    // Without a holder `from` is before the start (or the log is empty): one pass learns where it clamps to.
    let mustLook = !holder;
    while (got < maxBytes || mustLook) {
      mustLook = false;
      // Ask for about as many entries as the bytes still wanted need, not a fixed batch of 16 KiB entries.
      const want = typicalEntry > 0 ? Math.ceil((maxBytes - got) / typicalEntry) + 1 : 8;
      const count = Math.min(Math.max(want, 1), READ_BATCH);
      const entries = await this.redis.xrangeBuffer(key, cursor, '+', 'COUNT', count);
      let contiguous = true;
      for (const entry of entries) {
        contiguous = take(entry);
        if (!contiguous) break;
      }
      const last = entries[entries.length - 1];
      if (!last || !contiguous || entries.length < count) break;
      cursor = `(${last[0].toString('latin1')}`;
    }
    if (got === 0) return { offset: Math.min(pos, storedEnd), parts: [], times: [], got: 0 };
    return { offset: pos - got, parts, times, got };
  }

  async skipTo(sessionId: string, offset: number): Promise<number> {
    checkOffset('offset', offset);
    return this.redis.rclaudeOutputSkipTo(this.key(sessionId), offset);
  }

  async retain(sessionId: string, ms: number | null): Promise<void> {
    const keys = [this.key(sessionId), this.recKey(sessionId)];
    if (ms === null) await Promise.all(keys.map((k) => this.redis.persist(k)));
    else await Promise.all(keys.map((k) => this.redis.pexpire(k, Math.max(1, Math.round(ms)))));
  }

  async delete(sessionId: string): Promise<void> {
    await this.redis.del(this.key(sessionId), this.recKey(sessionId));
  }
}

const EMPTY = Buffer.alloc(0);

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** An entry's `t` field (fields alternate name, value); 0 when absent or not a time. */
function timeOf(fields: Buffer[]): number {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i]?.toString('latin1') === 't') {
      const at = Number(fields[i + 1]?.toString('latin1'));
      return Number.isFinite(at) && at > 0 ? at : 0;
    }
  }
  return 0;
}

function offsetOfId(id: Buffer): number {
  const text = id.toString('latin1');
  return Number(text.slice(0, text.indexOf('-')));
}
