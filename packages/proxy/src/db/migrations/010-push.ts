/**
 * Web Push (issue 17): the server's VAPID key pair, shared by every proxy (the first to start inserts it, the
 * others read it); each user's push subscriptions, one per browser endpoint; and delivery claims, so that with
 * several proxies each (event, subscription) notification is sent once. A claim expires (`expires_at`) and its
 * row is then reused or swept.
 */
export const sql = `
CREATE TABLE push_vapid (
  id integer PRIMARY KEY CHECK (id = 1),
  public_key text NOT NULL,
  private_key text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE push_subscriptions (
  id text PRIMARY KEY,
  user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  endpoint text NOT NULL UNIQUE,
  p256dh text NOT NULL,
  auth text NOT NULL,
  label text,
  kinds text[] NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_sent_at timestamptz
);
CREATE INDEX push_subscriptions_user_idx ON push_subscriptions (user_id);

CREATE TABLE push_deliveries (
  event_key text NOT NULL,
  subscription_id text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (event_key, subscription_id)
);
CREATE INDEX push_deliveries_expiry_idx ON push_deliveries (expires_at);
`;
