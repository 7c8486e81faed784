import { constants } from 'node:os';
import type { ExitInfo, PtySignal, ScreenSnapshot } from '@rclaude/protocol';
import pty from 'node-pty';
import type { Logger } from 'pino';
import { ExitSentinelScanner, wrapCommand } from './exit-sentinel.js';
import { ScreenMirror } from './screen.js';
import { ScreenFeed } from './screen-feed.js';

/** Flow-control thresholds, in bytes. */
export interface FlowLimits {
  /** Pause the PTY when this much output is not yet stored by the proxy (also bounds agent memory). */
  unstoredHigh: number;
  unstoredLow: number;
  /**
   * Pause when the fastest live viewer is this far behind; resume below the low mark. The window is what a
   * viewer can have in flight, so it caps throughput at window / round trip (256 KiB held a loaded two-core
   * machine to ~3 MB/s) and sets how much old output a Ctrl-C has to wait behind (2 MiB drains in ~0.1 s
   * at the chain's speed). The low mark sits close to the high one so the pipe never runs dry.
   */
  viewerHigh: number;
  viewerLow: number;
  /** A viewer that has not acknowledged anything for this long no longer holds the PTY back. */
  viewerStaleMs: number;
  /** Pause when the screen mirror has this much output left to parse (default 4 MiB); resume below the low mark. */
  mirrorHigh?: number;
  mirrorLow?: number;
}

export const defaultFlowLimits: FlowLimits = {
  unstoredHigh: 8 * 1024 * 1024,
  unstoredLow: 2 * 1024 * 1024,
  viewerHigh: 2 * 1024 * 1024,
  viewerLow: 1536 * 1024,
  viewerStaleMs: 5000,
  mirrorHigh: 4 * 1024 * 1024,
  mirrorLow: 1024 * 1024,
};

/** Lines of scrollback the screen mirror keeps (what a reattaching client sees above the screen). */
const SCROLLBACK_LINES = 1000;

export interface PtySessionOptions {
  id: string;
  command: string[];
  env: Record<string, string>;
  cwd: string;
  cols: number;
  rows: number;
  /** Offset of the first byte this process will produce (non-zero only when re-creating a numbering). */
  startOffset: number;
  limits: FlowLimits;
  log: Logger;
  /** New output is retained and ready to send. */
  onReadable: () => void;
  /** The process exited and all its output is retained. Called once. */
  onExit: (info: ExitInfo) => void;
}

/** Pending output is sent at once when it reaches this size. */
const FRAME_TARGET_BYTES = 64 * 1024;
/** Output arriving within this long of a send of at least STREAM_MIN_BYTES counts as a stream, and is batched... */
const STREAM_GAP_MS = 8;
const STREAM_MIN_BYTES = 2048;
/** ...for at most this long. */
const STREAM_BATCH_MS = 2;

interface Chunk {
  offset: number;
  data: Buffer;
  /** When its first byte was read (ms since the epoch): the session's recording keeps it. */
  at: number;
}

/**
 * One PTY process and the bytes it produced that the proxy has not stored yet. Owns flow control: pauses
 * the PTY when the proxy or the fastest viewer falls too far behind.
 */
export class PtySession {
  readonly id: string;
  private readonly proc: pty.IPty;
  private readonly scanner: ExitSentinelScanner;
  private readonly mirror: ScreenMirror;
  private readonly screen: ScreenFeed;
  private readonly opts: PtySessionOptions;
  private readonly retained: Chunk[] = [];
  /** When the first of the pending (not yet flushed) bytes was read. */
  private pendingAt = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The flush waiting to run (at most one): an immediate after quiet, a short timer while output streams. */
  private flushPending: { cancel: () => void } | null = null;
  private lastFlushAt = 0;
  private lastFlushBytes = 0;
  private readonly viewers = new Map<string, { offset: number; at: number }>();
  private paused = false;
  private staleTimer: NodeJS.Timeout | undefined;

  /** Total bytes produced (offset of the next byte). */
  produced: number;
  /** Bytes the proxy has acknowledged as stored. */
  stored: number;
  /** Bytes sent on the current connection. */
  sent: number;
  exit: ExitInfo | null = null;
  private exitReported = false;

  constructor(opts: PtySessionOptions) {
    this.opts = opts;
    this.id = opts.id;
    this.produced = opts.startOffset;
    this.stored = opts.startOffset;
    this.sent = opts.startOffset;
    const wrapped = wrapCommand(opts.command);
    this.scanner = new ExitSentinelScanner(wrapped.nonce);
    this.mirror = new ScreenMirror(opts.cols, opts.rows, SCROLLBACK_LINES);
    this.screen = new ScreenFeed(this.mirror, {
      rows: opts.rows,
      scrollback: SCROLLBACK_LINES,
      // Parse at once well before the lag would pause the PTY.
      eagerAtBytes: Math.min(1024 * 1024, (opts.limits.mirrorHigh ?? defaultFlowLimits.mirrorHigh ?? 0) / 2),
      onCaughtUp: () => this.updateFlow(),
    });
    this.proc = pty.spawn(wrapped.file, wrapped.args, {
      name: opts.env.TERM ?? 'xterm-256color',
      cols: opts.cols,
      rows: opts.rows,
      cwd: opts.cwd,
      env: { ...opts.env, RCLAUDE_EXIT_NONCE: wrapped.nonce },
      // Raw bytes: offsets count bytes, and a UTF-8 sequence split across reads must not be mangled.
      encoding: null,
    } as pty.IPtyForkOptions);
    this.proc.onData((data) => this.onData(data as unknown as Buffer));
    this.proc.onExit(({ exitCode, signal }) => this.onProcessExit(exitCode, signal));
  }

  get pid(): number {
    return this.proc.pid;
  }

  private onData(data: Buffer): void {
    const { output, exitCode } = this.scanner.push(data);
    if (output.length) {
      if (this.pendingBytes === 0) this.pendingAt = Date.now();
      this.pending.push(output);
      this.pendingBytes += output.length;
      if (this.pendingBytes >= FRAME_TARGET_BYTES) this.flush();
      else this.scheduleFlush();
    }
    if (exitCode !== null) {
      this.flush();
      this.finish({ exitCode, signal: null });
      // The wrapper now sleeps as session leader; everything of interest has been read.
      this.killGroup('SIGKILL');
    }
  }

  private onProcessExit(exitCode: number, signal: number | undefined): void {
    if (this.exit) return;
    // The wrapper died without printing the marker (killed from outside): report what node-pty saw.
    this.flush();
    const signalName = signal ? (Object.entries(constants.signals).find(([, n]) => n === signal)?.[0] ?? null) : null;
    this.finish({ exitCode: signalName ? 128 + (signal ?? 0) : exitCode, signal: signalName });
  }

  private finish(result: { exitCode: number; signal: string | null }): void {
    if (this.exit) return;
    this.exit = { sessionId: this.id, exitCode: result.exitCode, signal: result.signal, endOffset: this.produced };
    this.opts.log.info({ sessionId: this.id, ...result, bytes: this.produced }, 'session exited');
    this.maybeReportExit();
  }

  /** Exit is reported only after every byte before it has been handed out, so clients never miss the tail. */
  private maybeReportExit(): void {
    if (this.exit && !this.exitReported && this.pendingBytes === 0) {
      this.exitReported = true;
      this.opts.onExit(this.exit);
    }
  }

  /**
   * Output after a quiet spell or a small send (a keystroke's echo, even typed fast) goes out after one
   * macrotask; output that keeps coming in bulk (a flood reads as many PTY reads of ~4 KiB each) is held a
   * couple of milliseconds so it travels in frames of tens of KiB, since every later hop pays per frame.
   */
  private scheduleFlush(): void {
    if (this.flushPending) return;
    const run = () => {
      this.flushPending = null;
      this.flush();
    };
    if (this.lastFlushBytes >= STREAM_MIN_BYTES && performance.now() - this.lastFlushAt < STREAM_GAP_MS) {
      const timer = setTimeout(run, STREAM_BATCH_MS);
      this.flushPending = { cancel: () => clearTimeout(timer) };
    } else {
      const immediate = setImmediate(run);
      this.flushPending = { cancel: () => clearImmediate(immediate) };
    }
  }

  private flush(): void {
    this.flushPending?.cancel();
    this.flushPending = null;
    if (this.pendingBytes === 0) return;
    this.lastFlushAt = performance.now();
    this.lastFlushBytes = this.pendingBytes;
    const data =
      this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.retained.push({ offset: this.produced, data, at: this.pendingAt });
    this.produced += data.length;
    this.screen.write(data);
    this.updateFlow();
    this.opts.onReadable();
    this.maybeReportExit();
  }

  /** Hands out retained bytes from `sent` onward, in frames of at most `maxFrame` bytes. */
  drain(send: (offset: number, data: Buffer, at: number) => void, maxFrame = 256 * 1024): void {
    for (const chunk of this.retained) {
      const end = chunk.offset + chunk.data.length;
      if (end <= this.sent) continue;
      let from = this.sent - chunk.offset;
      while (from < chunk.data.length) {
        const piece = chunk.data.subarray(from, Math.min(chunk.data.length, from + maxFrame));
        send(chunk.offset + from, piece, chunk.at);
        from += piece.length;
        this.sent = chunk.offset + from;
      }
    }
  }

  /** After a reconnect: the proxy has `stored` bytes; resend from there. */
  rewind(stored: number): void {
    this.onStored(stored);
    this.sent = Math.max(this.stored, this.retainedFrom);
  }

  get retainedFrom(): number {
    return this.retained[0]?.offset ?? this.produced;
  }

  onStored(offset: number): void {
    if (offset <= this.stored) return;
    this.stored = Math.min(offset, this.produced);
    while (this.retained.length) {
      const first = this.retained[0] as Chunk;
      if (first.offset + first.data.length > this.stored) break;
      this.retained.shift();
    }
    this.updateFlow();
  }

  onConsumed(viewerId: string, offset: number): void {
    this.viewers.set(viewerId, { offset: Math.min(offset, this.produced), at: Date.now() });
    this.updateFlow();
  }

  viewerGone(viewerId: string): void {
    this.viewers.delete(viewerId);
    this.updateFlow();
  }

  private updateFlow(): void {
    const unstored = this.produced - this.stored;
    let behind = 0;
    if (this.viewers.size > 0) {
      let fastest = 0;
      for (const v of this.viewers.values()) fastest = Math.max(fastest, v.offset);
      behind = this.produced - fastest;
    }
    const { limits } = this.opts;
    const lag = this.screen.lagBytes;
    const mirrorHigh = limits.mirrorHigh ?? defaultFlowLimits.mirrorHigh ?? Number.POSITIVE_INFINITY;
    const mirrorLow = limits.mirrorLow ?? defaultFlowLimits.mirrorLow ?? Number.POSITIVE_INFINITY;
    if (!this.paused && (unstored > limits.unstoredHigh || behind > limits.viewerHigh || lag > mirrorHigh)) {
      this.paused = true;
      this.proc.pause();
      this.armStaleTimer();
    } else if (this.paused && unstored < limits.unstoredLow && behind < limits.viewerLow && lag < mirrorLow) {
      this.paused = false;
      this.proc.resume();
      clearTimeout(this.staleTimer);
    }
  }

  /** A viewer that vanished without saying so (its proxy died) must not pause the PTY forever. */
  private armStaleTimer(): void {
    clearTimeout(this.staleTimer);
    this.staleTimer = setTimeout(() => {
      const now = Date.now();
      for (const [id, v] of this.viewers) {
        if (now - v.at >= this.opts.limits.viewerStaleMs) this.viewers.delete(id);
      }
      this.updateFlow();
      if (this.paused) this.armStaleTimer();
    }, this.opts.limits.viewerStaleMs);
    this.staleTimer.unref();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  write(data: string): void {
    if (!this.exit) this.proc.write(data);
  }

  resize(cols: number, rows: number): void {
    if (this.exit) return;
    this.proc.resize(cols, rows);
    this.screen.resize(cols, rows);
  }

  /** Signals the session's process group (the wrapper shell survives INT/TERM/HUP/QUIT and reports the exit). */
  signal(signal: PtySignal): void {
    if (!this.exit) this.killGroup(signal);
  }

  snapshot(): Promise<ScreenSnapshot> {
    return this.screen.snapshot(this.opts.startOffset);
  }

  private killGroup(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.proc.pid, signal);
    } catch {
      // Already gone.
    }
  }

  /** Ends the process (if running) and releases everything. */
  dispose(): void {
    clearTimeout(this.staleTimer);
    this.flushPending?.cancel();
    this.flushPending = null;
    if (!this.exit) this.killGroup('SIGHUP');
    this.killGroup('SIGKILL');
    this.screen.dispose();
    this.mirror.dispose();
  }
}
