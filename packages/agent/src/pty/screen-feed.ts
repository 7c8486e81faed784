import type { ScreenSnapshot } from '@rclaude/protocol';
import type { ScreenMirror } from './screen.js';

/** Tuning of {@link ScreenFeed}; the defaults suit interactive sessions and floods alike. */
export interface ScreenFeedOptions {
  rows: number;
  /** Scrollback lines the mirror keeps (what a snapshot can show above the screen). */
  scrollback: number;
  /** While output streams, the terminal is fed at most this often (default 250 ms; a snapshot always feeds at once). */
  feedIntervalMs?: number;
  /** A backlog over this many bytes is compacted as it grows, which bounds memory during a flood. */
  compactAtBytes?: number;
  /**
   * A backlog that stays over this many bytes after compaction (output the mirror may not skip, such as
   * coloured lines) is fed without waiting for the interval: the parse is then the pace (default 1 MiB).
   */
  eagerAtBytes?: number;
  /** Called when the parse lag falls (the PTY may have been paused on it). */
  onCaughtUp?: () => void;
}

const CRLF = Buffer.from('\r\n');

/**
 * Feeds PTY output to the session's headless terminal without paying for what can never show. Parsing is
 * the agent's biggest per-byte cost (~40 ms per MB here, more than relaying the bytes), and during a flood
 * almost all of it scrolls past: so output waits in a backlog, the terminal is fed in batches, and before
 * a batch is fed the middle of a long run of plain text is dropped.
 *
 * The cut is exact for the screen and scrollback a snapshot shows: it removes only whole CRLF-terminated
 * lines of printable ASCII (plus tab) lying between a prefix that is fed as is (it ends in CRLF after a
 * byte that ends any pending escape sequence, so the parser is back in its ground state at column 0) and a
 * tail of more than `scrollback + 2 * rows` lines. Plain text changes no terminal mode, and that many lines
 * overwrite every row the snapshot can show with rows the tail itself creates, wherever the cursor was.
 * Two cases stay approximate, both far-fetched: a string sequence (OSC/DCS) left open across the dropped
 * lines absorbs fewer bytes, and a cursor parked below a partial scroll region keeps different residue.
 */
export class ScreenFeed {
  private backlog: Buffer[] = [];
  private backlogBytes = 0;
  /** Index into the concatenated backlog of its last byte that is not plain text, or -1. */
  private lastUnsafe = -1;
  /** Bytes handed to the terminal and not parsed yet. */
  private parsing = 0;
  /** Original bytes accepted so far (what snapshot offsets count). */
  private accepted = 0;
  /** The height compaction keeps enough lines for (the tallest of the current and any pending size). */
  private rows: number;
  /** Resizes requested and not applied yet. */
  private resizing = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private lastFeedAt = 0;
  private disposed = false;
  /** Bytes dropped by compaction (diagnostics and tests). */
  dropped = 0;

  constructor(
    private readonly mirror: ScreenMirror,
    private readonly opts: ScreenFeedOptions,
  ) {
    this.rows = opts.rows;
  }

  /** Bytes accepted but not parsed yet (flow control pauses the PTY when this grows too large). */
  get lagBytes(): number {
    return this.backlogBytes + this.parsing;
  }

  write(data: Buffer): void {
    if (this.disposed || data.length === 0) return;
    this.accepted += data.length;
    const at = lastUnsafeIndex(data);
    if (at >= 0) this.lastUnsafe = this.backlogBytes + at;
    this.backlog.push(data);
    this.backlogBytes += data.length;
    if (this.backlogBytes - (this.lastUnsafe + 1) >= (this.opts.compactAtBytes ?? 256 * 1024)) this.compact();
    this.schedule();
  }

  /** Applies after everything written before it is parsed, so no output is laid out at the wrong size. */
  resize(cols: number, rows: number): void {
    if (this.disposed) return;
    this.resizing++;
    // Until it applies, output may be laid out at the old height or the new one: compact for the taller.
    this.rows = Math.max(this.rows, rows);
    this.feed(() => {
      this.mirror.resize(cols, rows);
      this.resizing--;
      if (this.resizing === 0) this.rows = rows;
      this.schedule();
    });
  }

  /** The screen after every byte accepted so far; `offset` is `baseOffset` plus those bytes. */
  snapshot(baseOffset: number): Promise<ScreenSnapshot> {
    const offset = baseOffset + this.accepted;
    this.feed();
    return this.mirror.snapshot(0).then((s) => ({ ...s, offset }));
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.backlog = [];
    this.backlogBytes = 0;
  }

  private schedule(): void {
    // While a batch is being parsed, its callback schedules the next one.
    if (this.immediate || this.resizing > 0 || this.parsing > 0 || this.backlogBytes === 0) return;
    const eager = this.backlogBytes >= (this.opts.eagerAtBytes ?? 1024 * 1024);
    const wait = eager ? 0 : (this.opts.feedIntervalMs ?? 250) - (performance.now() - this.lastFeedAt);
    if (wait <= 0) {
      // Quiet until now (typing, a prompt), or too much to leave waiting: feed now.
      clearTimeout(this.timer);
      this.timer = undefined;
      this.immediate = setImmediate(() => {
        this.immediate = undefined;
        this.feed();
      });
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (this.parsing === 0) this.feed();
      }, wait);
    }
  }

  /** Hands the (compacted) backlog to the terminal; `then` runs once it is parsed. */
  private feed(then?: () => void): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
    if (this.disposed) return;
    this.compact();
    const data =
      this.backlog.length === 1 ? (this.backlog[0] as Buffer) : Buffer.concat(this.backlog, this.backlogBytes);
    const bytes = data.length;
    this.backlog = [];
    this.backlogBytes = 0;
    this.lastUnsafe = -1;
    this.lastFeedAt = performance.now();
    this.parsing += bytes;
    this.mirror.write(data, () => {
      this.parsing -= bytes;
      then?.();
      if (this.parsing === 0) {
        this.schedule();
        this.opts.onCaughtUp?.();
      }
    });
  }

  /** Drops the middle of the backlog's trailing run of plain lines, when it holds more than can show. */
  private compact(): void {
    const plainStart = this.lastUnsafe + 1;
    const keepLines = this.opts.scrollback + 2 * this.rows + 1;
    if (this.backlogBytes - plainStart < keepLines * CRLF.length) return;
    // Only the trailing plain run is copied: what precedes it is kept as it is.
    const head: Buffer[] = [];
    let skip = plainStart;
    let i = 0;
    for (; i < this.backlog.length; i++) {
      const b = this.backlog[i] as Buffer;
      if (skip < b.length) break;
      head.push(b);
      skip -= b.length;
    }
    const first = this.backlog[i] as Buffer;
    if (skip > 0) head.push(first.subarray(0, skip));
    const run = Buffer.concat([first.subarray(skip), ...this.backlog.slice(i + 1)]);
    // The tail: from just after the keepLines-th CRLF counted from the end.
    let pos = run.length;
    for (let n = 0; n < keepLines; n++) {
      pos = pos > 0 ? run.lastIndexOf(CRLF, pos - 1) : -1;
      if (pos < 0) {
        this.backlog = [...head, run];
        return;
      }
    }
    const cutEnd = pos + CRLF.length;
    // The prefix: up to the first CRLF after a byte that ends any escape sequence still open before the run.
    let letter = 0;
    while (letter < cutEnd && !((run[letter] as number) >= 0x40 && (run[letter] as number) <= 0x7e)) letter++;
    const crlf = run.indexOf(CRLF, letter);
    const cutStart = crlf < 0 ? cutEnd : crlf + CRLF.length;
    if (cutStart >= cutEnd) {
      this.backlog = [...head, run];
      return;
    }
    this.backlog = [...head, Buffer.concat([run.subarray(0, cutStart), run.subarray(cutEnd)])];
    this.backlogBytes -= cutEnd - cutStart;
    this.dropped += cutEnd - cutStart;
  }
}

/** Index of the last byte that is not printable ASCII, tab, CR or LF; -1 if there is none. */
function lastUnsafeIndex(data: Buffer): number {
  for (let i = data.length - 1; i >= 0; i--) {
    const b = data[i] as number;
    if (b > 0x7e || (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d)) return i;
  }
  return -1;
}
