import { checkOffset, outputGapError } from './output-gap.js';
import { MAX_RECORDED_RESIZES, type OutputLog, type RecordedResize, type TimedChunk } from './types.js';

interface Chunk {
  offset: number;
  at: number;
  data: Uint8Array;
}

/** One session's retained output: `chunks[head..]` cover `start..end` contiguously. */
interface Ring {
  chunks: Chunk[];
  head: number;
  start: number;
  end: number;
}

export interface MemoryOutputLogOptions {
  /** Bytes kept per session; the oldest chunks go first, but the newest chunk is always kept. */
  maxBytes: number;
}

/** {@link OutputLog} in this process (embedded mode): a ring of chunks per session. */
/** The longest delay setTimeout takes. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class MemoryOutputLog implements OutputLog {
  private readonly rings = new Map<string, Ring>();
  private readonly resizeLists = new Map<string, RecordedResize[]>();
  /** Logs due to be deleted (an ended task's, after its retention), by session. */
  private readonly expiries = new Map<string, NodeJS.Timeout>();
  private readonly maxBytes: number;

  constructor(options: MemoryOutputLogOptions) {
    this.maxBytes = options.maxBytes;
  }

  async append(sessionId: string, offset: number, data: Uint8Array, at = 0): Promise<number> {
    checkOffset('offset', offset);
    const ring = this.ring(sessionId);
    if (offset > ring.end) throw outputGapError(sessionId, ring.end, offset);
    const skip = ring.end - offset;
    if (skip >= data.byteLength) return ring.end;
    // A copy: the caller may reuse its buffer (socket.io and node-pty both do).
    ring.chunks.push({ offset: ring.end, at, data: data.slice(skip) });
    ring.end += data.byteLength - skip;
    this.trim(ring);
    return ring.end;
  }

  async bounds(sessionId: string): Promise<{ start: number; end: number }> {
    const ring = this.rings.get(sessionId);
    return ring ? { start: ring.start, end: ring.end } : { start: 0, end: 0 };
  }

  async read(sessionId: string, from: number, maxBytes: number): Promise<{ offset: number; data: Uint8Array }> {
    checkOffset('from', from);
    const ring = this.rings.get(sessionId);
    if (!ring) return { offset: 0, data: new Uint8Array(0) };
    const offset = Math.min(Math.max(from, ring.start), ring.end);
    const want = Math.max(0, Math.min(maxBytes, ring.end - offset));
    const out = new Uint8Array(want);
    let filled = 0;
    for (let i = this.find(ring, offset); i < ring.chunks.length && filled < want; i++) {
      const chunk = ring.chunks[i]!;
      const begin = Math.max(0, offset + filled - chunk.offset);
      const piece = chunk.data.subarray(begin, begin + (want - filled));
      out.set(piece, filled);
      filled += piece.byteLength;
    }
    return { offset, data: out };
  }

  async readTimed(
    sessionId: string,
    from: number,
    maxBytes: number,
  ): Promise<{ offset: number; chunks: TimedChunk[] }> {
    checkOffset('from', from);
    const ring = this.rings.get(sessionId);
    if (!ring) return { offset: 0, chunks: [] };
    const offset = Math.min(Math.max(from, ring.start), ring.end);
    const want = Math.max(0, Math.min(maxBytes, ring.end - offset));
    const chunks: TimedChunk[] = [];
    let filled = 0;
    for (let i = this.find(ring, offset); i < ring.chunks.length && filled < want; i++) {
      const chunk = ring.chunks[i]!;
      const begin = Math.max(0, offset + filled - chunk.offset);
      const piece = chunk.data.slice(begin, begin + (want - filled));
      if (piece.byteLength === 0) continue;
      chunks.push({ offset: chunk.offset + begin, at: chunk.at, data: piece });
      filled += piece.byteLength;
    }
    return { offset, chunks };
  }

  async recordResize(sessionId: string, resize: RecordedResize): Promise<void> {
    let list = this.resizeLists.get(sessionId);
    if (!list) {
      list = [];
      this.resizeLists.set(sessionId, list);
    }
    list.push({ ...resize });
    if (list.length > MAX_RECORDED_RESIZES) list.splice(0, list.length - MAX_RECORDED_RESIZES);
  }

  async resizes(sessionId: string): Promise<RecordedResize[]> {
    return (this.resizeLists.get(sessionId) ?? []).map((r) => ({ ...r }));
  }

  async skipTo(sessionId: string, offset: number): Promise<number> {
    checkOffset('offset', offset);
    const ring = this.ring(sessionId);
    if (offset <= ring.end) return ring.end;
    ring.chunks = [];
    ring.head = 0;
    ring.start = offset;
    ring.end = offset;
    return offset;
  }

  async retain(sessionId: string, ms: number | null): Promise<void> {
    clearTimeout(this.expiries.get(sessionId));
    this.expiries.delete(sessionId);
    if (ms === null) return;
    // setTimeout takes at most 2^31-1 ms (~24.8 days); a longer retention is re-armed when that runs out.
    const step = Math.min(Math.max(1, ms), MAX_TIMER_MS);
    const timer = setTimeout(() => {
      this.expiries.delete(sessionId);
      if (ms > step) void this.retain(sessionId, ms - step);
      else this.forget(sessionId);
    }, step);
    timer.unref();
    this.expiries.set(sessionId, timer);
  }

  async delete(sessionId: string): Promise<void> {
    clearTimeout(this.expiries.get(sessionId));
    this.expiries.delete(sessionId);
    this.forget(sessionId);
  }

  private forget(sessionId: string): void {
    this.rings.delete(sessionId);
    this.resizeLists.delete(sessionId);
  }

  private ring(sessionId: string): Ring {
    let ring = this.rings.get(sessionId);
    if (!ring) {
      ring = { chunks: [], head: 0, start: 0, end: 0 };
      this.rings.set(sessionId, ring);
    }
    return ring;
  }

  private trim(ring: Ring): void {
    while (ring.end - ring.start > this.maxBytes && ring.chunks.length - ring.head > 1) {
      ring.chunks[ring.head] = EMPTY_CHUNK;
      ring.head++;
      ring.start = ring.chunks[ring.head]!.offset;
    }
    // Compact now and then rather than shift() per drop, which is O(n) each time.
    if (ring.head > 64 && ring.head * 2 > ring.chunks.length) {
      ring.chunks = ring.chunks.slice(ring.head);
      ring.head = 0;
    }
  }

  /** Index of the retained chunk holding byte `offset` (binary search; chunk offsets increase). */
  private find(ring: Ring, offset: number): number {
    let lo = ring.head;
    let hi = ring.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (ring.chunks[mid]!.offset <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

const EMPTY_CHUNK: Chunk = { offset: 0, at: 0, data: new Uint8Array(0) };
