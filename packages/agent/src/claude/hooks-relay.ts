import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AgentEvent, sessionIdSchema } from '@rclaude/protocol';
import type { Logger } from 'pino';
import type { ApprovalRelay } from './approval-relay.js';
import { ActivityTracker } from './hooks-activity.js';
import { type ChannelMessage, type EventChannel, startEventChannel } from './hooks-channel.js';

/**
 * The agent's side of in-sandbox reporting: a private runtime folder (run specs, the channel socket), the
 * event channel, and the translation of what arrives into `agent:event`s: hook reports become `activity`
 * events (one per change), runner events pass through (the proxy validates them).
 */
export class HooksRelay {
  private readonly tracker = new ActivityTracker();

  private constructor(
    /** Private folder (0700) of this agent. */
    readonly runtimeDir: string,
    private readonly channel: EventChannel,
  ) {}

  get socketPath(): string {
    return this.channel.path;
  }

  /** Starts the channel; `emit` sends an event to the proxy. */
  static async start(opts: {
    emit: (event: AgentEvent) => void;
    log: Logger;
    /** Takes PermissionRequest hooks (approval-hook.ts) and hears the other hooks. */
    approvals?: ApprovalRelay;
  }): Promise<HooksRelay> {
    // Short path under /tmp: a unix socket path is limited to 107 bytes.
    const dir = await mkdtemp(join(tmpdir(), 'rclaude-agent-'));
    let relay: HooksRelay | null = null;
    const channel = await startEventChannel({
      path: join(dir, 'events.sock'),
      onMessage: (msg, conn) => {
        if (msg.kind === 'approval') {
          if (opts.approvals) opts.approvals.handle(validSessionId(msg.sessionId), msg.payload, conn);
          else conn.end();
          return;
        }
        if (msg.kind === 'hook') opts.approvals?.hookSeen(msg.payload);
        const event = relay?.translate(msg);
        if (event) opts.emit(event);
      },
    });
    relay = new HooksRelay(dir, channel);
    opts.log.debug({ socket: channel.path }, 'event channel listening');
    return relay;
  }

  /** The event to send for a channel message, or null. */
  translate(msg: ChannelMessage): AgentEvent | null {
    const sessionId = validSessionId(msg.sessionId);
    if (msg.kind === 'event') return { sessionId, type: msg.type.slice(0, 64), data: msg.data };
    if (msg.kind === 'approval') return null;
    const activity = this.tracker.update(sessionId ?? '', msg.payload);
    return activity ? { sessionId, type: 'activity', data: activity } : null;
  }

  async close(): Promise<void> {
    await this.channel.close();
    await rm(this.runtimeDir, { recursive: true, force: true });
  }
}

function validSessionId(id: string | null): string | null {
  return id && sessionIdSchema.safeParse(id).success ? id : null;
}
