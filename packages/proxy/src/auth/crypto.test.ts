import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deriveServerKeys, open, seal } from './crypto.js';

describe('secret sealing (AES-256-GCM)', () => {
  const keys = deriveServerKeys(randomBytes(32));

  it('round-trips, with a fresh 96-bit nonce per value and no plaintext in the ciphertext', () => {
    const a = seal(keys, 'sk-ant-secret-value', 'aad');
    const b = seal(keys, 'sk-ant-secret-value', 'aad');
    expect(a.nonce).toHaveLength(12);
    expect(a.nonce.equals(b.nonce)).toBe(false);
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
    expect(a.ciphertext.includes(Buffer.from('sk-ant'))).toBe(false);
    expect(a.keyId).toBe(keys.keyId);
    expect(open(keys, a, 'aad')).toBe('sk-ant-secret-value');
  });

  it('refuses a flipped byte, another owner/name (AAD) and another key', () => {
    const sealed = seal(keys, 'value', 'user-a\u0000NAME');
    const flipped = Buffer.from(sealed.ciphertext);
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    expect(() => open(keys, { ...sealed, ciphertext: flipped }, 'user-a\u0000NAME')).toThrow();
    expect(() => open(keys, sealed, 'user-b\u0000NAME')).toThrow();
    const other = deriveServerKeys(randomBytes(32));
    expect(other.keyId).not.toBe(keys.keyId);
    expect(() => open(other, sealed, 'user-a\u0000NAME')).toThrow(/sealed with key/);
    expect(() => open({ ...other, keyId: keys.keyId }, sealed, 'user-a\u0000NAME')).toThrow();
  });

  it('derives different keys per purpose and refuses a key of the wrong size', () => {
    const k = deriveServerKeys(Buffer.alloc(32, 1));
    expect(k.secretsKey.equals(k.csrfKey)).toBe(false);
    expect(k.secretsKey.equals(Buffer.alloc(32, 1))).toBe(false);
    expect(() => deriveServerKeys(Buffer.alloc(16))).toThrow(/32 bytes/);
  });
});
