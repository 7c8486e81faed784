import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../config.js';

const HOW_TO_MAKE =
  'make one with `openssl rand -base64 32` (or `node -e "console.log(crypto.randomBytes(32).toString(\'base64\'))"`)';

function decodeKey(text: string, where: string): Buffer {
  const trimmed = text.trim();
  const key = Buffer.from(trimmed, 'base64');
  // Buffer.from ignores junk characters, so re-encode to be sure the text really was base64 of 32 bytes.
  if (key.length !== 32 || key.toString('base64').replace(/=+$/, '') !== trimmed.replace(/=+$/, '')) {
    throw new ConfigError(`${where} must be 32 random bytes in base64 (44 characters); ${HOW_TO_MAKE}`);
  }
  return key;
}

/**
 * The server's 32-byte secret key (encrypts secrets at rest, derives CSRF tokens).
 * From `envValue` (RCLAUDE_SECRET_KEY, base64) when given; otherwise (embedded mode) read from
 * `<dataDir>/secret.key`, generating it on first start with mode 0600. Losing the key makes stored
 * secrets unreadable, so it is never regenerated over an existing file.
 */
export function loadOrCreateSecretKey(envValue: string | undefined, dataDir: string): Buffer {
  if (envValue !== undefined && envValue.trim() !== '') return decodeKey(envValue, 'RCLAUDE_SECRET_KEY');
  const file = path.join(dataDir, 'secret.key');
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (!fs.existsSync(file)) {
    // Write to a private temp file, then link it into place: link fails if another process won the race,
    // and nobody ever reads a half-written key.
    const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    fs.writeFileSync(tmp, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    try {
      fs.chmodSync(tmp, 0o600);
      fs.linkSync(tmp, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }
  const mode = fs.statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new ConfigError(
      `${file} is readable by other users (mode ${mode.toString(8)}); run \`chmod 600 ${file}\` and start again`,
    );
  }
  return decodeKey(fs.readFileSync(file, 'utf8'), file);
}
