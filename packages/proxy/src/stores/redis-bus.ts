import type { Redis } from 'ioredis';
import { type StoreLogger, silentLogger } from '../db/logger.js';
import { deliver } from './memory-bus.js';
import type { Bus } from './types.js';

type Handler = (message: string) => void;

interface Channel {
  handlers: Set<Handler>;
  /** Settles when Redis has confirmed the SUBSCRIBE. */
  ready: Promise<unknown>;
}

export interface RedisBusOptions {
  /** Channel prefix, e.g. `rclaude` (channel `session:x` goes out as `rclaude:session:x`). */
  prefix: string;
  logger?: StoreLogger;
}

/**
 * {@link Bus} over Redis pub/sub. Publishes on the shared command connection; subscribes on a dedicated
 * connection duplicated from it (a subscribed connection can run nothing else), which this bus owns
 * and closes. ioredis re-subscribes by itself after a reconnect.
 */
export class RedisBus implements Bus {
  readonly shared = true;
  private readonly subscriber: Redis;
  private readonly channels = new Map<string, Channel>();
  private readonly prefix: string;
  private readonly logger: StoreLogger;

  constructor(
    private readonly publisher: Redis,
    options: RedisBusOptions,
  ) {
    this.prefix = options.prefix;
    this.logger = options.logger ?? silentLogger;
    this.subscriber = publisher.duplicate();
    this.subscriber.on('error', (err: unknown) => this.logger.warn({ err }, 'redis bus subscriber error'));
    this.subscriber.on('message', (full: string, message: string) => {
      const channel = this.channels.get(full);
      if (!channel) return;
      for (const handler of [...channel.handlers]) deliver(handler, message, full, this.logger);
    });
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.publisher.publish(`${this.prefix}:${channel}`, message);
  }

  async subscribe(channel: string, handler: Handler): Promise<() => Promise<void>> {
    const full = `${this.prefix}:${channel}`;
    const entry: Handler = (message) => handler(message);
    let sub = this.channels.get(full);
    if (!sub) {
      sub = { handlers: new Set(), ready: this.subscriber.subscribe(full) };
      this.channels.set(full, sub);
    }
    sub.handlers.add(entry);
    try {
      // A second subscriber to a channel waits for the first one's SUBSCRIBE too, so a message
      // published after this resolves reaches it.
      await sub.ready;
    } catch (err) {
      sub.handlers.delete(entry);
      if (sub.handlers.size === 0 && this.channels.get(full) === sub) this.channels.delete(full);
      throw err;
    }
    const subscribed = sub;
    return async () => {
      if (!subscribed.handlers.delete(entry) || subscribed.handlers.size > 0) return;
      if (this.channels.get(full) !== subscribed) return;
      this.channels.delete(full);
      // Commands on one connection run in order: a later re-SUBSCRIBE lands after this UNSUBSCRIBE.
      await this.subscriber.unsubscribe(full);
    };
  }

  async close(): Promise<void> {
    this.channels.clear();
    // Never connected (lazy, nothing subscribed): QUIT would dial just to say goodbye.
    if (this.subscriber.status === 'wait') this.subscriber.disconnect();
    else await this.subscriber.quit().catch(() => this.subscriber.disconnect());
  }
}
