import { AppError, type ErrorCode, OffsetAssembler } from '@rclaude/protocol';
import type { TerminalExit, TerminalLink, TerminalLinkEvents, TerminalTransport } from './terminal-transport.js';

/** Where the terminal's output goes: the xterm instance, or a recorder in tests. */
export interface TerminalSink {
  /** Clears the screen and scrollback before a fresh screen snapshot is drawn. */
  reset(): void;
  /** Writes output; `rendered` runs once it is on screen (xterm's write callback). */
  write(data: string | Uint8Array, rendered: () => void): void;
}

export type TerminalStatus = 'connecting' | 'connected' | 'reconnecting' | 'exited' | 'failed' | 'disposed';

export interface TerminalConnectionState {
  status: TerminalStatus;
  /** Failed attempts since the last successful attach. */
  attempt: number;
  /** Why the last attempt failed, or why the terminal gave up (for the banner). */
  error: string | null;
  /** False while the sandbox's agent is away (output paused). */
  agentConnected: boolean;
  agentReason: string | null;
  exit: TerminalExit | null;
  readOnly: boolean;
}

export interface TerminalConnectionOptions {
  transport: TerminalTransport;
  sink: TerminalSink;
  /** The terminal's current size, read on every (re)attach. */
  size: () => { cols: number; rows: number };
  readOnly: boolean;
  /** Delay before reconnect attempt `attempt` (1, 2, ...). Defaults to capped exponential backoff. */
  backoffMs?: (attempt: number) => number;
  onChange?: (state: TerminalConnectionState) => void;
}

/** Errors that retrying cannot fix. */
const fatalCodes: ReadonlySet<ErrorCode> = new Set(['UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND', 'BAD_REQUEST']);

/** Send a flow-control ack at least every this many rendered bytes, and whenever rendering catches up. */
const ACK_EVERY_BYTES = 64 * 1024;

/** Largest input chunk in UTF-16 units; 3 bytes each at most in UTF-8 keeps a chunk under the 64 KiB frame. */
const INPUT_CHUNK_CHARS = 16 * 1024;

/** 0.5 s, 1 s, 2 s, ... capped at 10 s, with a little jitter so many tabs do not reconnect in step. */
export function defaultBackoffMs(attempt: number): number {
  const base = Math.min(10_000, 500 * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/**
 * Keeps one terminal attached to one session through any number of reconnects, with nothing lost and
 * nothing doubled: output is numbered by byte offset, duplicates are dropped by an OffsetAssembler, and a
 * reconnect resumes from the next offset not yet seen. A fresh attach (or one whose history was trimmed
 * away) draws the server's screen snapshot instead. Output is acknowledged only after it is rendered, so
 * the server paces a flooding task to what this tab can draw.
 */
export class TerminalConnection {
  readonly #options: TerminalConnectionOptions;
  readonly #backoffMs: (attempt: number) => number;
  #state: TerminalConnectionState;
  #assembler: OffsetAssembler | null = null;
  #link: TerminalLink | null = null;
  /** Bumped for every link so events of a superseded link are ignored. */
  #generation = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #written = 0;
  #rendered = 0;
  #acked = 0;
  #size: { cols: number; rows: number } | null = null;

  constructor(options: TerminalConnectionOptions) {
    this.#options = options;
    this.#backoffMs = options.backoffMs ?? defaultBackoffMs;
    this.#state = {
      status: 'connecting',
      attempt: 0,
      error: null,
      agentConnected: true,
      agentReason: null,
      exit: null,
      readOnly: options.readOnly,
    };
  }

  get state(): TerminalConnectionState {
    return this.#state;
  }

  /** The next output offset expected (what a reconnect resumes from). */
  get nextOffset(): number | null {
    return this.#assembler?.next ?? null;
  }

  start(): void {
    void this.#connect();
  }

  /** Sends keystrokes or pasted text. Returns false (and drops them) unless attached and writable. */
  input(data: string): boolean {
    const link = this.#link;
    if (!link || this.#state.status !== 'connected' || this.#state.readOnly) return false;
    for (const chunk of chunkInput(data)) link.input(chunk);
    return true;
  }

  /** Records the terminal's size and tells the session, unless read-only or unchanged. */
  resize(cols: number, rows: number): void {
    const changed = this.#size?.cols !== cols || this.#size?.rows !== rows;
    this.#size = { cols, rows };
    if (changed && this.#link && this.#state.status === 'connected' && !this.#state.readOnly) {
      this.#link.resize(cols, rows);
    }
  }

  /** Turns input and resizes off (e.g. once the task has ended); the attachment stays for viewing. */
  setReadOnly(readOnly: boolean): void {
    if (readOnly !== this.#state.readOnly) this.#setState({ readOnly });
  }

  dispose(): void {
    if (this.#state.status === 'disposed') return;
    this.#generation += 1;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#link?.close();
    this.#link = null;
    this.#setState({ status: 'disposed' });
  }

  async #connect(): Promise<void> {
    this.#timer = null;
    if (this.#state.status === 'disposed') return;
    const generation = ++this.#generation;
    const from = this.#assembler ? this.#assembler.next : 'screen';
    const size = this.#options.size();
    const pending: [number, Uint8Array][] = [];
    let attached = false;
    const current = () => generation === this.#generation;
    const events: TerminalLinkEvents = {
      output: (offset, data) => {
        if (!current()) return;
        if (attached) this.#onOutput(offset, data);
        else pending.push([offset, data]);
      },
      exit: (exit) => {
        if (current()) this.#onExit(exit);
      },
      agent: (status) => {
        if (current()) this.#setState({ agentConnected: status.connected, agentReason: status.reason });
      },
      closed: (reason) => {
        if (current()) this.#onClosed(reason);
      },
    };

    let link: TerminalLink;
    try {
      link = await this.#options.transport.open({ from, ...size, readOnly: this.#state.readOnly }, events);
    } catch (error) {
      if (!current()) return;
      const message = error instanceof Error ? error.message : String(error);
      if (error instanceof AppError && error.code === 'SESSION_EXITED') {
        this.#setState({
          status: 'exited',
          error: null,
          exit: this.#state.exit ?? { exitCode: null, signal: null, endOffset: null },
        });
        return;
      }
      if (error instanceof AppError && fatalCodes.has(error.code)) {
        this.#setState({ status: 'failed', error: message });
        return;
      }
      this.#scheduleReconnect(message);
      return;
    }
    if (!current()) {
      link.close();
      return;
    }

    const { attachment } = link;
    if (typeof from === 'number' && attachment.from > from && !attachment.screen) {
      // The bytes between what we have and what the server still holds were trimmed from its log:
      // replaying would leave a hole in the screen, so start over from a snapshot.
      link.close();
      this.#assembler = null;
      void this.#connect();
      return;
    }

    this.#link = link;
    if (from === 'screen' || attachment.screen) {
      this.#options.sink.reset();
      this.#assembler = new OffsetAssembler(attachment.from);
      this.#written = attachment.from;
      const screen = attachment.screen;
      if (screen) {
        const end = attachment.from;
        this.#options.sink.write(screen.data, () => this.#onRendered(end));
      }
    }
    attached = true;
    const exit = attachment.exit ?? this.#state.exit;
    this.#setState({
      status: exit ? 'exited' : 'connected',
      attempt: 0,
      error: null,
      agentConnected: true,
      agentReason: null,
      exit,
    });
    if (!this.#state.readOnly && !exit) {
      // The pane may have changed size while disconnected; the session gets the size it is shown at.
      const now = this.#options.size();
      this.#size = now;
      link.resize(now.cols, now.rows);
    }
    for (const [offset, data] of pending) {
      if (!current()) break;
      this.#onOutput(offset, data);
    }
  }

  #onOutput(offset: number, data: Uint8Array): void {
    const assembler = this.#assembler;
    if (!assembler) return;
    const fresh = assembler.accept(offset, data);
    if (fresh === 'gap') {
      // Bytes went missing in transit: re-attach from the first one we lack. Through the backoff, so a
      // server that keeps skipping cannot spin this into a tight loop.
      this.#link?.close();
      this.#link = null;
      this.#generation += 1;
      this.#scheduleReconnect('output arrived out of order');
      return;
    }
    if (fresh.byteLength === 0) return;
    const end = assembler.next;
    this.#written = end;
    this.#options.sink.write(fresh, () => this.#onRendered(end));
  }

  #onRendered(offset: number): void {
    if (offset > this.#rendered) this.#rendered = offset;
    const caughtUp = this.#rendered >= this.#written;
    if (this.#rendered > this.#acked && (caughtUp || this.#rendered - this.#acked >= ACK_EVERY_BYTES)) {
      this.#acked = this.#rendered;
      this.#link?.ack(this.#rendered);
    }
  }

  #onExit(exit: TerminalExit): void {
    this.#setState({ status: 'exited', exit });
  }

  #onClosed(reason: string): void {
    this.#link = null;
    this.#generation += 1;
    const exit = this.#state.exit;
    const complete = exit !== null && (exit.endOffset === null || (this.#assembler?.next ?? 0) >= exit.endOffset);
    if (this.#state.status === 'exited' && complete) return;
    this.#scheduleReconnect(reason);
  }

  #scheduleReconnect(reason: string): void {
    if (this.#state.status === 'disposed') return;
    const attempt = this.#state.attempt + 1;
    const status = this.#state.status === 'exited' ? 'exited' : this.#assembler ? 'reconnecting' : 'connecting';
    this.#setState({ status, attempt, error: reason });
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#connect(), this.#backoffMs(attempt));
  }

  #setState(patch: Partial<TerminalConnectionState>): void {
    this.#state = { ...this.#state, ...patch };
    this.#options.onChange?.(this.#state);
  }
}

/** Splits input into frames the server accepts, never between the halves of a surrogate pair. */
export function chunkInput(data: string, maxChars = INPUT_CHUNK_CHARS): string[] {
  if (data.length <= maxChars) return data.length > 0 ? [data] : [];
  const chunks: string[] = [];
  let start = 0;
  while (start < data.length) {
    let end = Math.min(data.length, start + maxChars);
    const last = data.charCodeAt(end - 1);
    if (end < data.length && last >= 0xd800 && last <= 0xdbff) end -= 1;
    chunks.push(data.slice(start, end));
    start = end;
  }
  return chunks;
}
