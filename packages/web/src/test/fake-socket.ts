import type { ClientSocket } from '../realtime/client-socket.js';

type Listener = (...args: unknown[]) => void;

/**
 * A stand-in for the Socket.io client socket in component tests: records what the app emits and lets the
 * test push server events. Only the members the app uses exist.
 */
export class FakeSocket {
  connected = false;
  active = false;
  readonly emitted: { event: string; args: unknown[] }[] = [];
  readonly #listeners = new Map<string, Set<Listener>>();

  on(event: string, listener: Listener): this {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener);
    return this;
  }

  off(event: string, listener: Listener): this {
    this.#listeners.get(event)?.delete(listener);
    return this;
  }

  emit(event: string, ...args: unknown[]): this {
    this.emitted.push({ event, args });
    const ack = args.at(-1);
    if (typeof ack === 'function') (ack as (r: unknown) => void)({ ok: true, data: null });
    return this;
  }

  timeout(): this {
    return this;
  }

  connect(): this {
    this.active = true;
    if (!this.connected) {
      this.connected = true;
      this.serverEmit('connect');
    }
    return this;
  }

  disconnect(): this {
    this.active = false;
    if (this.connected) {
      this.connected = false;
      this.serverEmit('disconnect', 'io client disconnect');
    }
    return this;
  }

  /** Delivers an event as if the server (or the connection) sent it. */
  serverEmit(event: string, ...args: unknown[]): void {
    for (const listener of [...(this.#listeners.get(event) ?? [])]) listener(...args);
  }

  listenerCount(event: string): number {
    return this.#listeners.get(event)?.size ?? 0;
  }

  asClientSocket(): ClientSocket {
    return this as unknown as ClientSocket;
  }
}
