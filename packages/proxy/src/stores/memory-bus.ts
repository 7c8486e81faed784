import { type StoreLogger, silentLogger } from '../db/logger.js';
import type { Bus } from './types.js';

type Handler = (message: string) => void;

/** {@link Bus} inside one process (embedded mode). Delivery is asynchronous, as it is through Redis. */
export class MemoryBus implements Bus {
  readonly shared = false;
  private readonly channels = new Map<string, Set<Handler>>();
  private closed = false;

  constructor(private readonly logger: StoreLogger = silentLogger) {}

  async publish(channel: string, message: string): Promise<void> {
    if (this.closed) return;
    // Snapshot: a handler that unsubscribes (or subscribes) while we deliver changes the next message only.
    for (const handler of [...(this.channels.get(channel) ?? [])]) {
      queueMicrotask(() => deliver(handler, message, channel, this.logger));
    }
  }

  async subscribe(channel: string, handler: Handler): Promise<() => Promise<void>> {
    // Wrapped so the same function subscribed twice gets two independent subscriptions.
    const entry: Handler = (message) => handler(message);
    let set = this.channels.get(channel);
    if (!set) {
      set = new Set();
      this.channels.set(channel, set);
    }
    set.add(entry);
    return async () => {
      const current = this.channels.get(channel);
      current?.delete(entry);
      if (current?.size === 0) this.channels.delete(channel);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.channels.clear();
  }
}

/** A throwing handler must not stop delivery to the others (or, through Redis, kill the connection). */
export function deliver(handler: Handler, message: string, channel: string, logger: StoreLogger): void {
  try {
    handler(message);
  } catch (err) {
    logger.error({ err, channel }, 'bus handler failed');
  }
}
