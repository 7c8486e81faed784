import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadOrCreateSecretKey } from './secret-key.js';

describe('loadOrCreateSecretKey', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-key-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('takes RCLAUDE_SECRET_KEY (base64 of 32 bytes) and writes no file', () => {
    const key = randomBytes(32);
    expect(loadOrCreateSecretKey(key.toString('base64'), dir).equals(key)).toBe(true);
    expect(fs.existsSync(path.join(dir, 'secret.key'))).toBe(false);
  });

  it.each([
    ['too short', randomBytes(16).toString('base64')],
    ['too long', randomBytes(48).toString('base64')],
    ['not base64', `${'!'.repeat(20)}${randomBytes(32).toString('base64')}`],
  ])('refuses a key that is %s, saying how to make one', (_what, value) => {
    expect(() => loadOrCreateSecretKey(value, dir)).toThrow(/openssl rand -base64 32/);
  });

  it('generates <dataDir>/secret.key once, with mode 0600, and reads it back afterwards', () => {
    const dataDir = path.join(dir, 'nested', 'data');
    const first = loadOrCreateSecretKey(undefined, dataDir);
    const file = path.join(dataDir, 'secret.key');
    expect(first).toHaveLength(32);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(loadOrCreateSecretKey('', dataDir).equals(first)).toBe(true);
    expect(fs.readdirSync(dataDir)).toEqual(['secret.key']);
  });

  it('refuses a key file other users can read', () => {
    loadOrCreateSecretKey(undefined, dir);
    fs.chmodSync(path.join(dir, 'secret.key'), 0o644);
    expect(() => loadOrCreateSecretKey(undefined, dir)).toThrow(/chmod 600/);
  });
});
