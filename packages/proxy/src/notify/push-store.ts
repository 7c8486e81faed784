import { type PushKind, type PushSubscriptionInfo, pushKindSchema } from '@rclaude/protocol';
import { type Queryable, textCol, textOrNullCol, timeCol, timeOrNullCol } from '../auth/queryable.js';

/** A subscription as the sender needs it: where to send and the browser's keys. */
export interface StoredPushSubscription extends PushSubscriptionInfo {
  userId: string;
  keys: { p256dh: string; auth: string };
}

const COLUMNS = 'id, user_id, endpoint, p256dh, auth, label, kinds, created_at, last_sent_at';

function kindsOf(value: unknown): PushKind[] {
  const list = Array.isArray(value) ? value : typeof value === 'string' ? value.replace(/^\{|\}$/g, '').split(',') : [];
  return list.flatMap((k) => {
    const parsed = pushKindSchema.safeParse(k);
    return parsed.success ? [parsed.data] : [];
  });
}

function rowToSubscription(row: Record<string, unknown>): StoredPushSubscription {
  return {
    id: textCol(row, 'id'),
    userId: textCol(row, 'user_id'),
    endpoint: textCol(row, 'endpoint'),
    keys: { p256dh: textCol(row, 'p256dh'), auth: textCol(row, 'auth') },
    label: textOrNullCol(row, 'label'),
    kinds: kindsOf(row.kinds),
    createdAt: timeCol(row, 'created_at').toISOString(),
    lastSentAt: timeOrNullCol(row, 'last_sent_at')?.toISOString() ?? null,
  };
}

/** The answer form of a subscription: everything but its owner and keys. */
export function publicSubscription(sub: StoredPushSubscription): PushSubscriptionInfo {
  const { userId: _userId, keys: _keys, ...info } = sub;
  return info;
}

/**
 * Push subscriptions (`push_subscriptions`) and delivery claims (`push_deliveries`) on Postgres or the embedded
 * PGlite. Every method is one statement, so it is safe over a pool and over PGlite's one connection.
 */
export class PushStore {
  constructor(private readonly db: Queryable) {}

  async list(userId: string): Promise<StoredPushSubscription[]> {
    const { rows } = await this.db.query(
      `SELECT ${COLUMNS} FROM push_subscriptions WHERE user_id = $1 ORDER BY created_at, id`,
      [userId],
    );
    return rows.map(rowToSubscription);
  }

  async count(userId: string): Promise<number> {
    const { rows } = await this.db.query('SELECT count(*)::int AS n FROM push_subscriptions WHERE user_id = $1', [
      userId,
    ]);
    return Number(rows[0]?.n ?? 0);
  }

  /** A user's own subscription, or null (another user's is null too). */
  async get(userId: string, id: string): Promise<StoredPushSubscription | null> {
    const { rows } = await this.db.query(`SELECT ${COLUMNS} FROM push_subscriptions WHERE id = $1 AND user_id = $2`, [
      id,
      userId,
    ]);
    return rows[0] ? rowToSubscription(rows[0]) : null;
  }

  /** Owner of the subscription with this endpoint, or null. */
  async ownerOfEndpoint(endpoint: string): Promise<string | null> {
    const { rows } = await this.db.query('SELECT user_id FROM push_subscriptions WHERE endpoint = $1', [endpoint]);
    return rows[0] ? textCol(rows[0], 'user_id') : null;
  }

  /**
   * Inserts a subscription, or updates the one with the same endpoint (keys, kinds, label) and gives it to
   * `userId`: the endpoint is the browser's, and whoever subscribes with it now is who that browser is for.
   */
  async upsert(sub: {
    id: string;
    userId: string;
    endpoint: string;
    keys: { p256dh: string; auth: string };
    label: string | null;
    kinds: PushKind[];
  }): Promise<StoredPushSubscription> {
    const { rows } = await this.db.query(
      `INSERT INTO push_subscriptions (id, user_id, endpoint, p256dh, auth, label, kinds)
       VALUES ($1, $2, $3, $4, $5, $6, $7::text[])
       ON CONFLICT (endpoint) DO UPDATE
         SET user_id = EXCLUDED.user_id, p256dh = EXCLUDED.p256dh, auth = EXCLUDED.auth,
             label = COALESCE(EXCLUDED.label, push_subscriptions.label), kinds = EXCLUDED.kinds
       RETURNING ${COLUMNS}`,
      [sub.id, sub.userId, sub.endpoint, sub.keys.p256dh, sub.keys.auth, sub.label, sub.kinds],
    );
    const row = rows[0];
    if (!row) throw new Error('upsert returned no row');
    return rowToSubscription(row);
  }

  async update(
    userId: string,
    id: string,
    patch: { kinds?: PushKind[]; label?: string },
  ): Promise<StoredPushSubscription | null> {
    const { rows } = await this.db.query(
      `UPDATE push_subscriptions SET kinds = COALESCE($3::text[], kinds), label = COALESCE($4, label)
       WHERE id = $1 AND user_id = $2 RETURNING ${COLUMNS}`,
      [id, userId, patch.kinds ?? null, patch.label ?? null],
    );
    return rows[0] ? rowToSubscription(rows[0]) : null;
  }

  async delete(userId: string, id: string): Promise<boolean> {
    const { rows } = await this.db.query('DELETE FROM push_subscriptions WHERE id = $1 AND user_id = $2 RETURNING id', [
      id,
      userId,
    ]);
    return rows.length > 0;
  }

  /** Removes a subscription the push service says is gone (404/410), whoever owns it. */
  async drop(id: string): Promise<void> {
    await this.db.query('DELETE FROM push_subscriptions WHERE id = $1', [id]);
  }

  /** The subscriptions of `userId` that asked for `kind`. */
  async wanting(userId: string, kind: PushKind): Promise<StoredPushSubscription[]> {
    const { rows } = await this.db.query(
      `SELECT ${COLUMNS} FROM push_subscriptions WHERE user_id = $1 AND $2 = ANY(kinds) ORDER BY id`,
      [userId, kind],
    );
    return rows.map(rowToSubscription);
  }

  async markSent(id: string, at: Date): Promise<void> {
    await this.db.query('UPDATE push_subscriptions SET last_sent_at = $2 WHERE id = $1', [id, at]);
  }

  /**
   * Claims the delivery of `key` to a subscription for `ttlMs`, atomically across proxies: true for exactly one
   * caller while the claim holds (an expired claim can be taken again).
   */
  async claim(key: string, subscriptionId: string, ttlMs: number, now: Date): Promise<boolean> {
    const { rows } = await this.db.query(
      `INSERT INTO push_deliveries (event_key, subscription_id, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (event_key, subscription_id) DO UPDATE SET expires_at = EXCLUDED.expires_at
         WHERE push_deliveries.expires_at <= $4
       RETURNING event_key`,
      [key, subscriptionId, new Date(now.getTime() + ttlMs), now],
    );
    return rows.length > 0;
  }

  /** Deletes expired claims; returns how many. */
  async sweepClaims(now: Date): Promise<number> {
    const { rows } = await this.db.query('DELETE FROM push_deliveries WHERE expires_at <= $1 RETURNING event_key', [
      now,
    ]);
    return rows.length;
  }
}
