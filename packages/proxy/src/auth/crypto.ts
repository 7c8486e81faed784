import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';

/** Recognisable prefix of API tokens, so a leaked one is easy to spot (and to scan for). */
export const API_TOKEN_PREFIX = 'rct_';
/** Prefix of one-time login link tokens, which only `POST /api/auth/session` accepts. */
export const LOGIN_LINK_PREFIX = 'rcl_';

/** Keys derived from the server's secret key, one per purpose, so no key is used for two things. */
export interface ServerKeys {
  /** AES-256-GCM key for secrets at rest. */
  secretsKey: Buffer;
  /** HMAC key that turns a browser session id into its CSRF token. */
  csrfKey: Buffer;
  /** Names the server key without revealing it; stored beside each ciphertext so the key can rotate. */
  keyId: string;
}

function derive(secretKey: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secretKey, Buffer.alloc(0), info, 32));
}

/** Derives the per-purpose keys. `secretKey` must be 32 bytes (see loadOrCreateSecretKey). */
export function deriveServerKeys(secretKey: Buffer): ServerKeys {
  if (secretKey.length !== 32) throw new RangeError(`the server secret key must be 32 bytes, got ${secretKey.length}`);
  return {
    secretsKey: derive(secretKey, 'rclaude secrets v1'),
    csrfKey: derive(secretKey, 'rclaude csrf v1'),
    keyId: sha256Hex(derive(secretKey, 'rclaude key id v1')).slice(0, 16),
  };
}

/** 32 random bytes, base64url: the secret part of API tokens and browser session ids. */
export function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function sha256Hex(value: string | Buffer): string {
  return createHash('sha256').update(value).digest('hex');
}

export function hmacBase64url(key: Buffer, value: string): string {
  return createHmac('sha256', key).update(value).digest('base64url');
}

/** Compares two strings in time independent of where they differ. */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/** An AES-256-GCM ciphertext as stored: `ciphertext` is the encrypted bytes followed by the 16-byte tag. */
export interface Sealed {
  keyId: string;
  nonce: Buffer;
  ciphertext: Buffer;
}

const TAG_BYTES = 16;

/**
 * Encrypts with a fresh random 96-bit nonce. `aad` binds the ciphertext to its owner and name, so a row
 * copied onto another user or another name fails to decrypt instead of leaking.
 */
export function seal(keys: ServerKeys, plaintext: string, aad: string): Sealed {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keys.secretsKey, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { keyId: keys.keyId, nonce, ciphertext: Buffer.concat([body, cipher.getAuthTag()]) };
}

/** Decrypts what {@link seal} produced; throws if the key, the AAD or a single byte differs. */
export function open(keys: ServerKeys, sealed: Sealed, aad: string): string {
  if (sealed.keyId !== keys.keyId) throw new Error(`sealed with key ${sealed.keyId}, this server has ${keys.keyId}`);
  if (sealed.ciphertext.length < TAG_BYTES) throw new Error('ciphertext too short');
  const body = sealed.ciphertext.subarray(0, sealed.ciphertext.length - TAG_BYTES);
  const tag = sealed.ciphertext.subarray(sealed.ciphertext.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', keys.secretsKey, sealed.nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
}
