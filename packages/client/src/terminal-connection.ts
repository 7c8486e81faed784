import { AppError, type ErrorCode, OffsetAssembler, type PtySignal } from '@rclaude/protocol';
import type { TerminalExit, TerminalLink, TerminalLinkEvents, TerminalTransport } from './terminal-transport.js';

/** Where the terminal's output goes: xterm in the browser, stdout in the CLI, a recorder in tests. */
export interface TerminalSink {
  /**
   * Clears the screen (and scrollback) before a screen snapshot is drawn, or before output starts over
   * after a hole in what was already drawn. Never called before a plain first attach.
   */
  reset(): void;
  /** Writes output; `rendered` runs once it is on screen (xterm's write callback, stdout's flush). */
  write(data: string | Uint8Array, rendered: () => void): void;
}

export type TerminalStatus = 'connecting' | 'connected' | 'reconnecting' | 'exited' | 'failed' | 'disposed';

export interface TerminalConnectionState {
  status: TerminalStatus;
  /** Failed attempts since the last successful attach. */
  attempt: number;
  /** Why the last attempt failed, or why the terminal gave up (for the banner). */
  error: string | null;
  /** The code of that error when the server gave one (the CLI maps it to an exit code). */
  errorCode: ErrorCode | null;
  /** False while the sandbox's agent is away (output paused). */
  agentConnected: boolean;
  agentReason: string | null;
  exit: TerminalExit | null;
  /** The session has exited and everything it wrote has been rendered: nothing more will come. */
  complete: boolean;
  readOnly: boolean;
}

export interface TerminalConnectionOptions {
  transport: TerminalTransport;
  sink: TerminalSink;
  /** The terminal's current size, read on every (re)attach; null when it has none (output to a pipe). */
  size: () => { cols: number; rows: number } | null;
  readOnly: boolean;
  /**
   * Where the first attach starts: `screen` (the default) draws the current screen then live output; a byte
   * offset replays from there (0 for everything a task printed since it started). A reconnect always resumes
   * from the next offset not yet seen, and falls back to the screen when the server no longer holds it.
   */
  from?: number | 'screen';
  /**
   * Input typed while the session cannot take it (before the attach is answered, before its process exists,
   * while its agent or this connection is away) waits, up to this many UTF-16 units, and goes out in order
   * once the session can take it. 0 (the default) refuses such input instead.
   */
  maxHeldInputChars?: number;
  /** Delay before reconnect attempt `attempt` (1, 2, ...). Defaults to capped exponential backoff. */
  backoffMs?: (attempt: number) => number;
  /** How long after rendering catches up a small amount is acknowledged (default {@link ACK_DELAY_MS}; 0: at once). */
  ackDelayMs?: number;
  onChange?: (state: TerminalConnectionState) => void;
}

/** Errors that retrying cannot fix. */
const fatalCodes: ReadonlySet<ErrorCode> = new Set([
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'ORIGIN_REFUSED',
  'NOT_FOUND',
  'BAD_REQUEST',
]);

/** Send a flow-control ack at once when this many rendered bytes are not acknowledged yet... */
const ACK_EVERY_BYTES = 64 * 1024;
/**
 * ...and less once rendering has caught up: this long after it, one ack for whatever was rendered meanwhile.
 * A keystroke's echo then costs no ack of its own (nor the agent's `pty:consumed` that follows it), and a
 * burst of small frames one ack. Far below the window (2 MiB) and the agent's stale-viewer time (5 s), so the
 * output is paced as before.
 */
export const ACK_DELAY_MS = 25;

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
 * away, or lost by the server) draws the server's screen snapshot instead. Output is acknowledged only after
 * it is rendered, so the server paces a flooding task to what this terminal can draw. The web terminal and
 * `rclaude attach` both run on it, each with its own transport options and sink.
 */
export class TerminalConnection {
  readonly #options: TerminalConnectionOptions;
  readonly #backoffMs: (attempt: number) => number;
  readonly #maxHeldChars: number;
  #state: TerminalConnectionState;
  /** Where the next attach starts when there is no stream yet. */
  #firstFrom: number | 'screen';
  #assembler: OffsetAssembler | null = null;
  /** Output was drawn and then its stream was dropped: the next stream starts on a cleared screen. */
  #restarted = false;
  #link: TerminalLink | null = null;
  /** Bumped for every link so events of a superseded link are ignored. */
  #generation = 0;
  /** Bumped for every new stream (assembler) so render callbacks of an abandoned one are ignored. */
  #epoch = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #written = 0;
  #rendered = 0;
  #acked = 0;
  #ackTimer: ReturnType<typeof setTimeout> | null = null;
  #size: { cols: number; rows: number } | null = null;
  /** The session's process exists and its agent serves it. */
  #running = false;
  #held: string[] = [];
  #heldChars = 0;

  constructor(options: TerminalConnectionOptions) {
    this.#options = options;
    this.#backoffMs = options.backoffMs ?? defaultBackoffMs;
    this.#maxHeldChars = options.maxHeldInputChars ?? 0;
    this.#firstFrom = options.from ?? 'screen';
    this.#state = {
      status: 'connecting',
      attempt: 0,
      error: null,
      errorCode: null,
      agentConnected: true,
      agentReason: null,
      exit: null,
      complete: false,
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

  /**
   * Sends keystrokes or pasted text, or holds them until the session can take them (see
   * `maxHeldInputChars`). Returns false when they were dropped: read-only, ended, or nothing may be held.
   */
  input(data: string): boolean {
    const { status, readOnly } = this.#state;
    if (readOnly || status === 'exited' || status === 'failed' || status === 'disposed') return false;
    if (this.#inputReady()) {
      this.#send(data);
      return true;
    }
    if (this.#heldChars + data.length > this.#maxHeldChars) return false;
    if (data.length > 0) {
      this.#held.push(data);
      this.#heldChars += data.length;
    }
    return true;
  }

  /** Sends a signal to the session's foreground process. Returns false unless attached and writable. */
  signal(signal: PtySignal): boolean {
    if (!this.#link || this.#state.status !== 'connected' || this.#state.readOnly) return false;
    this.#link.signal(signal);
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
    if (readOnly) this.#dropHeld();
    if (readOnly !== this.#state.readOnly) this.#setState({ readOnly });
  }

  dispose(): void {
    if (this.#state.status === 'disposed') return;
    this.#generation += 1;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#cancelAck();
    this.#dropHeld();
    this.#link?.close();
    this.#link = null;
    this.#setState({ status: 'disposed' });
  }

  async #connect(): Promise<void> {
    this.#timer = null;
    if (this.#state.status === 'disposed') return;
    const generation = ++this.#generation;
    const from = this.#assembler ? this.#assembler.next : this.#firstFrom;
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
        if (current()) this.#onAgent(status.connected, status.reason);
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
      const code = error instanceof AppError ? error.code : null;
      if (code === 'SESSION_EXITED') {
        this.#dropHeld();
        this.#setState({
          status: 'exited',
          error: null,
          errorCode: null,
          exit: this.#state.exit ?? { exitCode: null, signal: null, endOffset: null },
        });
        this.#checkComplete();
        return;
      }
      if (code === 'BAD_REQUEST' && typeof from === 'number') {
        // The server holds less than we asked to resume from (its log restarted empty): start over from
        // its screen. A refusal of that attach is final.
        this.#dropStream();
        void this.#connect();
        return;
      }
      if (code !== null && fatalCodes.has(code)) {
        this.#dropHeld();
        this.#setState({ status: 'failed', error: message, errorCode: code });
        return;
      }
      this.#scheduleReconnect(message, code);
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
      this.#dropStream();
      void this.#connect();
      return;
    }

    this.#link = link;
    if (!this.#assembler || attachment.screen) {
      // An empty snapshot (a session that has printed nothing yet) leaves the terminal as it is.
      const screen = attachment.screen?.data ? attachment.screen : null;
      if (screen || this.#restarted) this.#options.sink.reset();
      this.#restarted = false;
      const epoch = this.#beginStream(attachment.from);
      if (screen) {
        const end = attachment.from;
        this.#options.sink.write(screen.data, () => this.#onRendered(epoch, end));
      }
    }
    attached = true;
    this.#running = attachment.running;
    const exit = attachment.exit ?? this.#state.exit;
    this.#setState({
      status: exit ? 'exited' : 'connected',
      attempt: 0,
      error: null,
      errorCode: null,
      agentConnected: true,
      agentReason: null,
      exit,
    });
    if (exit) this.#dropHeld();
    if (!this.#state.readOnly && !exit) {
      // The terminal may have changed size while disconnected; the session gets the size it is shown at.
      const now = this.#options.size();
      if (now) {
        this.#size = now;
        link.resize(now.cols, now.rows);
      }
    }
    this.#flushHeld();
    for (const [offset, data] of pending) {
      if (!current()) break;
      this.#onOutput(offset, data);
    }
    this.#checkComplete();
  }

  /** Starts a new numbered stream at `from`; what was rendered before belongs to the old one. */
  #beginStream(from: number): number {
    this.#epoch += 1;
    this.#assembler = new OffsetAssembler(from);
    this.#written = from;
    this.#rendered = from;
    this.#acked = from;
    this.#cancelAck();
    return this.#epoch;
  }

  /** Forgets the stream so the next attach asks for the screen. */
  #dropStream(): void {
    if (this.#assembler) this.#restarted = true;
    this.#assembler = null;
    this.#firstFrom = 'screen';
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
      this.#running = false;
      this.#generation += 1;
      this.#scheduleReconnect('output arrived out of order', null);
      return;
    }
    if (fresh.byteLength === 0) return;
    const end = assembler.next;
    const epoch = this.#epoch;
    this.#written = end;
    this.#options.sink.write(fresh, () => this.#onRendered(epoch, end));
  }

  #onRendered(epoch: number, offset: number): void {
    if (epoch !== this.#epoch) return;
    if (offset > this.#rendered) this.#rendered = offset;
    const caughtUp = this.#rendered >= this.#written;
    if (this.#rendered - this.#acked >= ACK_EVERY_BYTES) this.#ack();
    else if (caughtUp && this.#rendered > this.#acked && this.#ackTimer === null) {
      const delay = this.#options.ackDelayMs ?? ACK_DELAY_MS;
      if (delay <= 0) this.#ack();
      else this.#ackTimer = setTimeout(() => this.#ack(), delay);
    }
    this.#checkComplete();
  }

  /** Acknowledges everything rendered of the current stream. */
  #ack(): void {
    this.#cancelAck();
    if (this.#rendered <= this.#acked) return;
    this.#acked = this.#rendered;
    this.#link?.ack(this.#rendered);
  }

  #cancelAck(): void {
    if (this.#ackTimer !== null) clearTimeout(this.#ackTimer);
    this.#ackTimer = null;
  }

  #onExit(exit: TerminalExit): void {
    this.#dropHeld();
    this.#setState({ status: 'exited', exit });
    this.#checkComplete();
  }

  #onAgent(connected: boolean, reason: string | null): void {
    // The agent serving the session again also means a session that was starting now has its process.
    this.#running = connected;
    this.#setState({ agentConnected: connected, agentReason: reason });
    this.#flushHeld();
  }

  #onClosed(reason: string): void {
    this.#link = null;
    this.#running = false;
    this.#generation += 1;
    const exit = this.#state.exit;
    const complete = exit !== null && (exit.endOffset === null || (this.#assembler?.next ?? 0) >= exit.endOffset);
    if (this.#state.status === 'exited' && complete) return;
    this.#scheduleReconnect(reason, null);
  }

  #checkComplete(): void {
    const exit = this.#state.exit;
    if (!exit || this.#state.complete) return;
    const rendered = this.#assembler !== null && this.#rendered >= (exit.endOffset ?? 0);
    if (exit.endOffset === null || rendered) this.#setState({ complete: true });
  }

  #scheduleReconnect(reason: string, code: ErrorCode | null): void {
    if (this.#state.status === 'disposed') return;
    const attempt = this.#state.attempt + 1;
    const status = this.#state.status === 'exited' ? 'exited' : this.#assembler ? 'reconnecting' : 'connecting';
    this.#setState({ status, attempt, error: reason, errorCode: code });
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#connect(), this.#backoffMs(attempt));
  }

  #inputReady(): boolean {
    return this.#link !== null && this.#state.status === 'connected' && !this.#state.readOnly && this.#running;
  }

  #send(data: string): void {
    const link = this.#link;
    if (!link) return;
    for (const chunk of chunkInput(data)) link.input(chunk);
  }

  #flushHeld(): void {
    if (this.#held.length === 0 || !this.#inputReady()) return;
    const queued = this.#held;
    this.#dropHeld();
    for (const data of queued) this.#send(data);
  }

  #dropHeld(): void {
    this.#held = [];
    this.#heldChars = 0;
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
