import { createHash } from 'node:crypto';
import {
  parseShareDuration,
  SHARE_MAX_TTL_MS,
  shareableEvent,
  shareSecretSchema,
  type TaskEvent,
} from '@rclaude/protocol';
import { describe, expect, it } from 'vitest';
import { hashShareSecret, shareRefused, shareSecretMatches, shareState, shareUrl } from './shares.js';

const SECRET = 'a'.repeat(43);

describe('share link secrets', () => {
  it('are stored as their sha256 and match only themselves', () => {
    const hash = hashShareSecret(SECRET);
    expect(hash).toBe(createHash('sha256').update(SECRET).digest('hex'));
    expect(hash).not.toContain(SECRET);
    expect(shareSecretMatches(SECRET, hash)).toBe(true);
    expect(shareSecretMatches(`${'a'.repeat(42)}b`, hash)).toBe(false);
    expect(shareSecretMatches('', hash)).toBe(false);
    // A stored value of the wrong length never matches (and never throws).
    expect(shareSecretMatches(SECRET, hash.slice(0, 10))).toBe(false);
    expect(shareSecretMatches(SECRET, 'not hex at all')).toBe(false);
  });

  it('are 43 base64url characters (32 bytes)', () => {
    expect(shareSecretSchema.safeParse(Buffer.alloc(32, 7).toString('base64url')).success).toBe(true);
    expect(shareSecretSchema.safeParse(`${SECRET}=`).success).toBe(false);
    expect(shareSecretSchema.safeParse('a'.repeat(42)).success).toBe(false);
    expect(shareSecretSchema.safeParse(`${'a'.repeat(42)}/`).success).toBe(false);
  });

  it('travel after # in the URL, never in the path or query', () => {
    expect(shareUrl('https://rc.example.com/', 'sh_abcdefghijklmnop', SECRET)).toBe(
      `https://rc.example.com/share/sh_abcdefghijklmnop#${SECRET}`,
    );
  });
});

describe('share link state', () => {
  const now = Date.parse('2026-01-01T12:00:00Z');
  it('is active until its expiry, expired from then on, and revoked whatever its expiry', () => {
    expect(shareState({ expiresAt: new Date(now + 1), revokedAt: null }, now)).toBe('active');
    expect(shareState({ expiresAt: new Date(now), revokedAt: null }, now)).toBe('expired');
    expect(shareState({ expiresAt: new Date(now - 1), revokedAt: null }, now)).toBe('expired');
    expect(shareState({ expiresAt: new Date(now + 3600_000), revokedAt: new Date(now - 5) }, now)).toBe('revoked');
    expect(shareState({ expiresAt: new Date(now - 3600_000), revokedAt: new Date(now - 5) }, now)).toBe('revoked');
  });

  it('is refused as UNAUTHENTICATED with the reason in details', () => {
    for (const reason of ['expired', 'revoked', 'invalid'] as const) {
      const err = shareRefused(reason);
      expect(err.code).toBe('UNAUTHENTICATED');
      expect(err.details).toEqual({ reason });
    }
  });
});

describe('parseShareDuration', () => {
  it('reads one number and one unit', () => {
    expect(parseShareDuration('90s')).toBe(90_000);
    expect(parseShareDuration('30m')).toBe(30 * 60_000);
    expect(parseShareDuration('2h')).toBe(2 * 3600_000);
    expect(parseShareDuration(' 7D ')).toBe(SHARE_MAX_TTL_MS);
  });
  it('refuses anything else', () => {
    for (const text of ['', '2', 'h', '2 hours', '1h30m', '-1h', '1.5h', '2w', '9999999h']) {
      expect(parseShareDuration(text)).toBeNull();
    }
  });
});

describe('shareableEvent: what a viewer may see of the timeline', () => {
  const event = (type: TaskEvent['type'], data: Record<string, unknown>): TaskEvent => ({
    seq: 3,
    taskId: 'abcd1234',
    type,
    at: '2026-12-03T12:00:00.000Z',
    data,
  });

  it("never names who answered, where the work went, or the folder on the owner's laptop", () => {
    expect(
      shareableEvent(
        event('approval_answered', { approvalId: 'ap_k3v9q2mzx8ab', decision: 'allow', by: 'alice', timedOut: false }),
      )?.data,
    ).toEqual({ approvalId: 'ap_k3v9q2mzx8ab', decision: 'allow', by: null, timedOut: false });
    const push = shareableEvent(
      event('push', {
        branch: 'rclaude/x',
        commit: 'a'.repeat(40),
        pushedTo: '/srv/git/secret-project.git',
        bundlePath: '/w/b',
      }),
    );
    expect(push?.data).toEqual({ branch: 'rclaude/x', commit: 'a'.repeat(40), pushedTo: null });
    expect(shareableEvent(event('pull_request', { url: 'https://github.com/acme/secret/pull/1' }))).toBeNull();
    expect(
      shareableEvent(
        event('info', { message: 'started from an upload of /home/alice/acme (12 files)', checkpointId: 'cp_1' }),
      )?.data.message,
    ).toBe('started from an upload');
  });

  it('passes everything else through as it is', () => {
    const text = event('assistant_text', { text: 'hello' });
    expect(shareableEvent(text)).toBe(text);
    const info = event('info', { message: 'the sandbox will hibernate in 5 minutes' });
    expect(shareableEvent(info)).toBe(info);
  });
});
