/**
 * What one agent connection may send. A sandbox runs the user's code (and whatever that code downloads), so
 * its agent connection is treated as hostile: without these, a flood of frames, events or session ids would
 * grow the proxy's memory without bound. The defaults are far above what a real agent sends: a terminal
 * flood (`cat` of a big file) is held back by the agent itself, which pauses its PTY while 8 MiB of a
 * session's output is not yet stored, so a connection never has more than that per busy session in flight.
 */
import { TokenBucket } from '../services/token-bucket.js';

export interface AgentLimits {
  /** Socket.io packets per second, sustained (AGENT_MAX_MESSAGES_PER_SEC); bursts of two seconds' worth. */
  messagesPerSec: number;
  /** Bytes per second, sustained (AGENT_MAX_BYTES_PER_SEC); bursts of two seconds' worth. */
  bytesPerSec: number;
  /** Largest `agent:event`, in bytes of its JSON (AGENT_MAX_EVENT_BYTES). */
  eventMaxBytes: number;
  /** Output and events received but not yet stored, in bytes (AGENT_MAX_PENDING_BYTES). */
  pendingMaxBytes: number;
  /** Events of one sandbox waiting to be recorded (AGENT_MAX_QUEUED_EVENTS). */
  queuedEventsMax: number;
  /** Distinct session ids one connection may name (its own sessions, and any it only claims). */
  sessionsMax: number;
}

export const defaultAgentLimits: AgentLimits = {
  // A shell loop printing one short line at a time made the real agent send at most ~1,900 packets a second
  // on a loaded two-core machine; ten times that leaves room for fast machines.
  messagesPerSec: 20_000,
  bytesPerSec: 256 * 1024 * 1024,
  eventMaxBytes: 256 * 1024,
  pendingMaxBytes: 128 * 1024 * 1024,
  queuedEventsMax: 1000,
  sessionsMax: 4096,
};

/** Which limit a connection went over; the label of `rclaude_agent_limit_drops_total`. */
export type AgentLimitName = 'messages' | 'bytes' | 'event_size' | 'pending_bytes' | 'queued_events' | 'sessions';

/** Why an agent was cut off, as its task's timeline says it (what happened, what follows, what to check). */
export function agentLimitMessage(limit: AgentLimitName, limits: AgentLimits, detail?: number): string {
  const what = {
    messages: `sent more than ${limits.messagesPerSec} messages per second (AGENT_MAX_MESSAGES_PER_SEC)`,
    bytes: `sent more than ${limits.bytesPerSec} bytes per second (AGENT_MAX_BYTES_PER_SEC)`,
    event_size: `sent an event of ${detail ?? 'more than'} bytes, over the limit of ${limits.eventMaxBytes} (AGENT_MAX_EVENT_BYTES)`,
    pending_bytes: `sent more than ${limits.pendingMaxBytes} bytes faster than they could be stored (AGENT_MAX_PENDING_BYTES)`,
    queued_events: `sent events faster than they could be recorded: more than ${limits.queuedEventsMax} waited (AGENT_MAX_QUEUED_EVENTS)`,
    sessions: `named more than ${limits.sessionsMax} sessions`,
  }[limit];
  return (
    `the sandbox's agent ${what}, so the server disconnected it. The agent reconnects by itself and resumes ` +
    'its sessions without losing output; if this repeats, something in the sandbox is flooding the server.'
  );
}

/**
 * The meter of one agent connection: rates of what arrives, and bytes held until stored. The first limit
 * crossed calls `exceeded` once; every check after that fails, so the caller drops what it was given.
 */
export class AgentMeter {
  private readonly messages: TokenBucket;
  private readonly bytes: TokenBucket;
  private pending = 0;
  private tripped: AgentLimitName | null = null;

  constructor(
    readonly limits: AgentLimits,
    private readonly exceeded: (limit: AgentLimitName, detail?: number) => void,
  ) {
    this.messages = new TokenBucket(limits.messagesPerSec);
    this.bytes = new TokenBucket(limits.bytesPerSec);
  }

  /** The limit this connection went over, or null. */
  get over(): AgentLimitName | null {
    return this.tripped;
  }

  /** Bytes received and not yet stored or recorded. */
  get pendingBytes(): number {
    return this.pending;
  }

  /** One packet of `size` bytes arrived. False once over a limit. */
  packet(size: number): boolean {
    if (this.tripped) return false;
    if (!this.messages.take(1)) return this.trip('messages');
    if (!this.bytes.take(size)) return this.trip('bytes');
    return true;
  }

  /**
   * Holds `size` bytes until the returned release is called (once, after they are stored or refused). Null
   * once over a limit, this one included: the caller drops what it was given.
   */
  hold(size: number): (() => void) | null {
    if (this.tripped) return null;
    if (this.pending + size > this.limits.pendingMaxBytes) {
      this.trip('pending_bytes');
      return null;
    }
    this.pending += size;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.pending -= size;
    };
  }

  /** Reports a limit checked elsewhere (event size, queued events, sessions). Always false. */
  trip(limit: AgentLimitName, detail?: number): false {
    if (!this.tripped) {
      this.tripped = limit;
      this.exceeded(limit, detail);
    }
    return false;
  }
}
