import type { Redis } from 'ioredis';
import type { SessionState, SessionStore } from './types.js';

type Screen = NonNullable<Awaited<ReturnType<SessionStore['getScreen']>>>;

/** How long an attachment counts without being re-added, unless configured otherwise. */
export const DEFAULT_CLIENT_TTL_MS = 60_000;

export interface RedisSessionStoreOptions {
  /** Key prefix, e.g. `rclaude` (keys become `rclaude:session:<id>`). */
  prefix: string;
  /**
   * An attachment expires this long after its last `addClient`, so a dead proxy's clients age out. The
   * proxy holding a client calls `addClient` again well within this period (e.g. every third of it).
   */
  clientTtlMs?: number;
}

const FIELDS = [
  'id',
  'taskId',
  'sandboxId',
  'kind',
  'command',
  'status',
  'cols',
  'rows',
  'exitCode',
  'holder',
] as const;

/** Fields a session may lack; kept when present (regression: a task's env was dropped in Redis mode). */
const OPTIONAL_FIELDS = ['env', 'restore', 'resumed', 'lastInputAt'] as const;

// Redis' clock, not the proxies': attachments from proxies with skewed clocks must expire alike.
const NOW_MS = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

const LUA_PATCH = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1`;

const LUA_ADD_CLIENT = `${NOW_MS}
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
-- The set lives as long as its longest-lived member, whoever added last.
local latest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], latest[2])
return redis.call('ZCARD', KEYS[1])`;

const LUA_REMOVE_CLIENT = `${NOW_MS}
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])`;

const LUA_COUNT_CLIENTS = `${NOW_MS}
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')`;

interface SessionCommands {
  rclaudeSessionPatch(key: string, ...fieldValues: string[]): Promise<number>;
  rclaudeSessionAddClient(key: string, member: string, ttlMs: number): Promise<number>;
  rclaudeSessionRemoveClient(key: string, member: string): Promise<number>;
  rclaudeSessionCountClients(key: string): Promise<number>;
}

/**
 * {@link SessionStore} in Redis, shared by every proxy. Keys (prefix `p`):
 * - `p:session:<id>` hash, one JSON-encoded value per {@link SessionState} field;
 * - `p:session:<id>:clients` sorted set of attachment keys scored by expiry time (ms, Redis clock);
 * - `p:session:<id>:screen` the final screen (JSON) of an exited session;
 * - `p:task:<taskId>:sessions` set of the task's session ids.
 */
export class RedisSessionStore implements SessionStore {
  private readonly redis: Redis & SessionCommands;
  private readonly prefix: string;
  private readonly clientTtlMs: number;

  constructor(redis: Redis, options: RedisSessionStoreOptions) {
    redis.defineCommand('rclaudeSessionPatch', { numberOfKeys: 1, lua: LUA_PATCH });
    redis.defineCommand('rclaudeSessionAddClient', { numberOfKeys: 1, lua: LUA_ADD_CLIENT });
    redis.defineCommand('rclaudeSessionRemoveClient', { numberOfKeys: 1, lua: LUA_REMOVE_CLIENT });
    redis.defineCommand('rclaudeSessionCountClients', { numberOfKeys: 1, lua: LUA_COUNT_CLIENTS, readOnly: true });
    this.redis = redis as Redis & SessionCommands;
    this.prefix = options.prefix;
    this.clientTtlMs = options.clientTtlMs ?? DEFAULT_CLIENT_TTL_MS;
  }

  private key(id: string): string {
    return `${this.prefix}:session:${id}`;
  }

  private taskKey(taskId: string): string {
    return `${this.prefix}:task:${taskId}:sessions`;
  }

  async put(state: SessionState): Promise<void> {
    const key = this.key(state.id);
    await this.redis
      .multi()
      .del(key)
      .hset(key, encode(state))
      .sadd(this.taskKey(state.taskId), state.id)
      .exec()
      .then(throwExecErrors);
  }

  async get(id: string): Promise<SessionState | null> {
    return decode(await this.redis.hgetall(this.key(id)));
  }

  /** Applies the defined fields of `patch`; a missing session stays missing. */
  async patch(id: string, patch: Partial<Omit<SessionState, 'id'>>): Promise<void> {
    const pairs = Object.entries(encode(patch)).flat();
    if (pairs.length === 0) return;
    const applied = await this.redis.rclaudeSessionPatch(this.key(id), ...pairs);
    // The old task's index keeps a stale id; listByTask prunes it.
    if (applied === 1 && patch.taskId !== undefined) await this.redis.sadd(this.taskKey(patch.taskId), id);
  }

  async listByTask(taskId: string): Promise<SessionState[]> {
    const ids = await this.redis.smembers(this.taskKey(taskId));
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.key(id));
    const results = await pipeline.exec().then(throwExecErrors);
    const found: SessionState[] = [];
    const stale: string[] = [];
    ids.forEach((id, i) => {
      const state = decode(results[i] as Record<string, string>);
      if (state && state.taskId === taskId) found.push(state);
      else stale.push(id);
    });
    if (stale.length > 0) await this.redis.srem(this.taskKey(taskId), ...stale);
    return found.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async delete(id: string): Promise<void> {
    const key = this.key(id);
    const taskId = await this.redis.hget(key, 'taskId');
    const tx = this.redis.multi().del(key, `${key}:clients`, `${key}:screen`);
    if (taskId !== null) tx.srem(this.taskKey(JSON.parse(taskId) as string), id);
    await tx.exec().then(throwExecErrors);
  }

  /** Adds or refreshes an attachment; returns the live attachment count. */
  async addClient(id: string, key: string): Promise<number> {
    return this.redis.rclaudeSessionAddClient(`${this.key(id)}:clients`, key, this.clientTtlMs);
  }

  async removeClient(id: string, key: string): Promise<number> {
    return this.redis.rclaudeSessionRemoveClient(`${this.key(id)}:clients`, key);
  }

  async countClients(id: string): Promise<number> {
    return this.redis.rclaudeSessionCountClients(`${this.key(id)}:clients`);
  }

  async putScreen(id: string, screen: Screen): Promise<void> {
    const { data, offset, cols, rows } = screen;
    await this.redis.set(`${this.key(id)}:screen`, JSON.stringify({ data, offset, cols, rows }));
  }

  async getScreen(id: string): Promise<Screen | null> {
    const raw = await this.redis.get(`${this.key(id)}:screen`);
    return raw === null ? null : (JSON.parse(raw) as Screen);
  }
}

function encode(state: Partial<SessionState>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const field of [...FIELDS, ...OPTIONAL_FIELDS]) {
    const value = state[field];
    if (value !== undefined) out[field] = JSON.stringify(value);
  }
  return out;
}

/** A hash missing any field (deleted, or half-written by a foreign writer) reads as no session. */
function decode(hash: Record<string, string>): SessionState | null {
  const values: Record<string, unknown> = {};
  for (const field of FIELDS) {
    const raw = hash[field];
    if (raw === undefined) return null;
    values[field] = JSON.parse(raw);
  }
  for (const field of OPTIONAL_FIELDS) {
    const raw = hash[field];
    if (raw !== undefined) values[field] = JSON.parse(raw);
  }
  return values as unknown as SessionState;
}

/** MULTI/pipeline results carry per-command errors instead of rejecting; surface the first. */
function throwExecErrors(results: [error: Error | null, result: unknown][] | null): unknown[] {
  if (results === null) throw new Error('redis transaction aborted');
  return results.map(([error, result]) => {
    if (error) throw error;
    return result;
  });
}
