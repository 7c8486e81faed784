import type { PtySignal, ScreenSnapshot } from '@rclaude/protocol';

/**
 * A terminal's view of "a connection to a session". {@link TerminalConnection} only ever talks to this, so
 * it knows nothing of Socket.io; tests drive it with a fake. `createSocketTerminalTransport` is the real one.
 */
export interface TerminalTransport {
  /**
   * Connects (if needed) and attaches to the session. Rejects with an AppError when it cannot; the
   * caller decides whether to retry. Events for this link arrive through `events` until `closed` fires
   * or `close()` is called.
   */
  open(request: TerminalAttachRequest, events: TerminalLinkEvents): Promise<TerminalLink>;
}

export interface TerminalAttachRequest {
  /** A byte offset to replay from (after a reconnect), or `screen` for the current screen then live output. */
  from: number | 'screen';
  /** The terminal's size in character cells; absent when it has none (output piped to a file). */
  cols?: number;
  rows?: number;
  /** A read-only viewer's input and resizes are refused by the server. */
  readOnly: boolean;
}

/** What attaching returned. */
export interface TerminalAttachment {
  /** The screen to draw first, when `screen` was asked and the server had one. */
  screen: ScreenSnapshot | null;
  /** Output for this link starts at this byte offset. */
  from: number;
  /** Set when the session had already ended when attaching. */
  exit: TerminalExit | null;
  /**
   * The session's process exists and its agent is connected, so typed input reaches it. False while the
   * session is starting or its sandbox is away; an `agent` event with `connected: true` says it is ready.
   */
  running: boolean;
}

export interface TerminalExit {
  exitCode: number | null;
  signal: string | null;
  /** Total bytes the session produced; null when unknown. */
  endOffset: number | null;
}

/** Pushed by the transport while a link is open. */
export interface TerminalLinkEvents {
  /** PTY output starting at byte `offset` (may overlap what was seen before). */
  output(offset: number, data: Uint8Array): void;
  exit(exit: TerminalExit): void;
  /**
   * The sandbox's agent went away (output pauses, input waits) or is serving the session again; the latter
   * also tells that a session that was starting now has its process.
   */
  agent(status: { connected: boolean; reason: string | null }): void;
  /** The link is gone (connection dropped). The terminal reconnects. */
  closed(reason: string): void;
}

/** One attachment to a session. */
export interface TerminalLink {
  readonly attachment: TerminalAttachment;
  /** Text of at most MAX_INPUT_FRAME_BYTES bytes of UTF-8 (the connection splits larger input). */
  input(data: string): void;
  resize(cols: number, rows: number): void;
  /** Sends a signal to the session's foreground process group. */
  signal(signal: PtySignal): void;
  /** Flow control: output up to `offset` has been rendered. */
  ack(offset: number): void;
  /** Detaches; no event fires afterwards. */
  close(): void;
}
