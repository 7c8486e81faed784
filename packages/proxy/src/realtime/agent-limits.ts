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
  /**
   * First reconnection cooldown of an agent dropped more than {@link FREE_DROPS} times in a row, in ms
   * (AGENT_RECONNECT_COOLDOWN_MS); it doubles with each further drop up to {@link AgentLimits.cooldownMaxMs}.
   */
  cooldownBaseMs: number;
  /** Longest reconnection cooldown, in ms (AGENT_RECONNECT_COOLDOWN_MAX_MS). */
  cooldownMaxMs: number;
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
  cooldownBaseMs: 5_000,
  cooldownMaxMs: 5 * 60_000,
};

/** Drops in a row an agent reconnects after without a cooldown (a burst now and then is not a flood). */
export const FREE_DROPS = 2;

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

/** What one drop did to a sandbox's reconnections: the cooldown it began (0: none) and its place in the streak. */
export interface CooldownStep {
  /** Drops in a row, this one included. */
  drops: number;
  /** How long the next handshakes are refused, in ms; 0 when this drop is still free. */
  cooldownMs: number;
  /** Whether this drop began the streak's cooldowns (the one the timeline tells of). */
  began: boolean;
}

/**
 * The server's memory of agents dropped for going over their limits, per sandbox: after {@link FREE_DROPS}
 * drops in a row, each further drop refuses the agent's handshakes for a growing interval (the base, doubled
 * per drop, at most the maximum), so a sandbox flooding the server cannot turn every refusal into a new
 * connection at once. A streak ends when a sandbox goes a streak window (twice the maximum cooldown) without a
 * drop. Kept per proxy: an agent that reconnects to another proxy starts its streak there anew.
 */
export class ReconnectCooldown {
  private readonly streaks = new Map<string, { drops: number; lastDropAt: number; until: number }>();

  constructor(
    private readonly limits: Pick<AgentLimits, 'cooldownBaseMs' | 'cooldownMaxMs'>,
    private readonly now: () => number = Date.now,
  ) {}

  private get windowMs(): number {
    return Math.max(2 * this.limits.cooldownMaxMs, 60_000);
  }

  /** Records that `sandboxId`'s agent was dropped over a limit. */
  drop(sandboxId: string): CooldownStep {
    const at = this.now();
    const previous = this.streaks.get(sandboxId);
    const drops = previous && at - previous.lastDropAt < this.windowMs ? previous.drops + 1 : 1;
    const over = drops - FREE_DROPS;
    const cooldownMs =
      over <= 0 ? 0 : Math.min(this.limits.cooldownBaseMs * 2 ** Math.min(over - 1, 30), this.limits.cooldownMaxMs);
    this.streaks.set(sandboxId, { drops, lastDropAt: at, until: at + cooldownMs });
    if (this.streaks.size > 10_000) {
      for (const [id, s] of this.streaks) if (at - s.lastDropAt >= this.windowMs) this.streaks.delete(id);
    }
    return { drops, cooldownMs, began: over === 1 };
  }

  /** How long `sandboxId`'s agent must still wait before its handshake is accepted, in ms (0: now). */
  remaining(sandboxId: string): number {
    const streak = this.streaks.get(sandboxId);
    if (!streak) return 0;
    const left = streak.until - this.now();
    if (left > 0) return left;
    if (this.now() - streak.lastDropAt >= this.windowMs) this.streaks.delete(sandboxId);
    return 0;
  }
}

/** What the task's timeline says, once per streak, when its agent's reconnections begin to be held back. */
export function cooldownMessage(step: CooldownStep, limits: Pick<AgentLimits, 'cooldownMaxMs'>): string {
  const seconds = (ms: number) => `${Math.max(1, Math.round(ms / 1000))}s`;
  return (
    `the sandbox's agent went over its connection limits ${step.drops} times in a row, so the server now refuses ` +
    `its reconnection for ${seconds(step.cooldownMs)}, doubling with each further drop up to ` +
    `${seconds(limits.cooldownMaxMs)} (AGENT_RECONNECT_COOLDOWN_MS, AGENT_RECONNECT_COOLDOWN_MAX_MS). Its sessions ` +
    'resume when it reconnects; something in the sandbox is flooding the server.'
  );
}
