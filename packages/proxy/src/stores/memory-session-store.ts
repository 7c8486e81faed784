import type { SessionState, SessionStore } from './types.js';

type Screen = NonNullable<Awaited<ReturnType<SessionStore['getScreen']>>>;

/**
 * {@link SessionStore} in this process (embedded mode: one proxy, so attached clients need no expiry).
 * Hands out copies, so callers see values as they would from Redis, never live references.
 */
export class MemorySessionStore implements SessionStore {
  private readonly sessions = new Map<string, SessionState>();
  private readonly clients = new Map<string, Set<string>>();
  private readonly screens = new Map<string, Screen>();

  async put(state: SessionState): Promise<void> {
    this.sessions.set(state.id, structuredClone(state));
  }

  async get(id: string): Promise<SessionState | null> {
    const state = this.sessions.get(id);
    return state ? structuredClone(state) : null;
  }

  async patch(id: string, patch: Partial<Omit<SessionState, 'id'>>): Promise<void> {
    const state = this.sessions.get(id);
    if (!state) return;
    const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
    this.sessions.set(id, { ...state, ...structuredClone(defined), id });
  }

  async listByTask(taskId: string): Promise<SessionState[]> {
    return [...this.sessions.values()].filter((s) => s.taskId === taskId).map((s) => structuredClone(s));
  }

  async delete(id: string): Promise<void> {
    this.sessions.delete(id);
    this.clients.delete(id);
    this.screens.delete(id);
  }

  async addClient(id: string, key: string): Promise<number> {
    let set = this.clients.get(id);
    if (!set) {
      set = new Set();
      this.clients.set(id, set);
    }
    set.add(key);
    return set.size;
  }

  async removeClient(id: string, key: string): Promise<number> {
    const set = this.clients.get(id);
    if (!set) return 0;
    set.delete(key);
    if (set.size === 0) this.clients.delete(id);
    return set.size;
  }

  async countClients(id: string): Promise<number> {
    return this.clients.get(id)?.size ?? 0;
  }

  async putScreen(id: string, screen: Screen): Promise<void> {
    this.screens.set(id, { ...screen });
  }

  async getScreen(id: string): Promise<Screen | null> {
    const screen = this.screens.get(id);
    return screen ? { ...screen } : null;
  }
}
