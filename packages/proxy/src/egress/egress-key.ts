import { createHmac, hkdfSync } from 'node:crypto';
import { safeEqual } from '../auth/crypto.js';

/**
 * The key behind every sandbox's egress key, derived from the server's secret key for this one purpose (so it
 * is the same on every proxy of an installation and after a restart, and no other key is reused for it).
 */
export function deriveEgressSecret(serverSecretKey: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', serverSecretKey, Buffer.alloc(0), 'rclaude egress v1', 32));
}

/**
 * A sandbox's egress key: HMAC-SHA256(secret, "egress:" + sandboxId), base64url. Stateless: nothing is stored,
 * any proxy recomputes it, and it names one sandbox only.
 */
export function egressKeyFor(secret: Buffer, sandboxId: string): string {
  return createHmac('sha256', secret).update(`egress:${sandboxId}`).digest('base64url');
}

/** Whether `key` is the egress key of `sandboxId`, compared in constant time. */
export function verifyEgressKey(secret: Buffer, sandboxId: string, key: string): boolean {
  return safeEqual(egressKeyFor(secret, sandboxId), key);
}
