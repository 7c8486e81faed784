import webpush from 'web-push';
import { type Queryable, textCol } from '../auth/queryable.js';

/** The server's VAPID identity: the key pair push services check our signatures with, and a contact. */
export interface VapidKeys {
  publicKey: string;
  privateKey: string;
  /** `mailto:` or `https:` contact the push services may use (RCLAUDE_VAPID_SUBJECT). */
  subject: string;
}

/**
 * The VAPID keys: from the config when given, else the pair in the database, else a new pair inserted if none
 * is there yet and then read back, so every proxy on one database uses the same pair whoever started first
 * (adr/0014: kept in plain text, like the rest of what the database holds; it only signs push messages).
 */
export async function loadOrCreateVapidKeys(opts: {
  db: Queryable;
  configured: { publicKey: string; privateKey: string } | null;
  subject: string;
}): Promise<VapidKeys> {
  if (opts.configured) return { ...opts.configured, subject: opts.subject };
  const fresh = webpush.generateVAPIDKeys();
  await opts.db.query(
    'INSERT INTO push_vapid (id, public_key, private_key) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING',
    [fresh.publicKey, fresh.privateKey],
  );
  const { rows } = await opts.db.query('SELECT public_key, private_key FROM push_vapid WHERE id = 1');
  const row = rows[0];
  if (!row) throw new Error('the VAPID keys were inserted but cannot be read');
  return { publicKey: textCol(row, 'public_key'), privateKey: textCol(row, 'private_key'), subject: opts.subject };
}
