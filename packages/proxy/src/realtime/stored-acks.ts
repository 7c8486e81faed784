/** `pty:stored` goes out at once when this much stored output is not acknowledged yet... */
export const STORED_ACK_EVERY_BYTES = 64 * 1024;
/**
 * ...and otherwise this long after the first unacknowledged store, for all stored meanwhile: a keystroke's echo
 * costs the agent no `pty:stored` of its own. The agent keeps unstored output (up to 8 MiB before it pauses
 * the PTY) and resends from the proxy's own figure after a reconnect, so a later ack loses nothing.
 */
export const STORED_ACK_DELAY_MS = 25;

/** Coalesces one agent connection's `pty:stored` acknowledgements per session. */
export class StoredAcks {
  readonly #pending = new Map<string, { sent: number; end: number; timer: ReturnType<typeof setTimeout> | null }>();
  #closed = false;

  constructor(
    private readonly send: (sessionId: string, offset: number) => void,
    private readonly delayMs = STORED_ACK_DELAY_MS,
    private readonly everyBytes = STORED_ACK_EVERY_BYTES,
  ) {}

  /** The session's output is stored up to `end`. */
  stored(sessionId: string, end: number): void {
    if (this.#closed) return;
    let p = this.#pending.get(sessionId);
    if (!p) {
      p = { sent: -1, end, timer: null };
      this.#pending.set(sessionId, p);
    }
    if (end > p.end) p.end = end;
    if (p.sent >= 0 && p.end - p.sent < this.everyBytes && this.delayMs > 0) {
      p.timer ??= setTimeout(() => this.#flush(sessionId), this.delayMs);
    } else {
      this.#flush(sessionId);
    }
  }

  #flush(sessionId: string): void {
    const p = this.#pending.get(sessionId);
    if (!p) return;
    if (p.timer !== null) clearTimeout(p.timer);
    p.timer = null;
    if (this.#closed || p.end <= p.sent) return;
    p.sent = p.end;
    this.send(sessionId, p.end);
  }

  /** The connection is gone: nothing more is sent. */
  close(): void {
    this.#closed = true;
    for (const p of this.#pending.values()) if (p.timer !== null) clearTimeout(p.timer);
    this.#pending.clear();
  }
}
