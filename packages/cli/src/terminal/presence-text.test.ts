import type { DriveRequest, SessionPresence } from '@rclaude/protocol';
import { describe, expect, it } from 'vitest';
import { safeText } from '../output.js';
import { driveRequestText, presenceText } from './presence-text.js';

const base: SessionPresence = { sessionId: 's', owner: true, drivers: [], viewers: [], anonymousViewers: 0 };

describe('presenceText', () => {
  it('says who is attached, drivers marked, anonymous viewers counted', () => {
    expect(presenceText({ ...base, drivers: ['bob'], viewers: ['carol'], anonymousViewers: 2 }, base)).toBe(
      'attached: owner, bob (typing), carol, 2 anonymous viewers',
    );
    expect(presenceText({ ...base, owner: false, anonymousViewers: 1 }, null)).toBe('attached: 1 anonymous viewer');
  });

  it('says nothing when nothing changed, or when the owner is alone from the start', () => {
    expect(presenceText(base, null)).toBeNull();
    const p = { ...base, drivers: ['bob'] };
    expect(presenceText({ ...p, sessionId: 'other' }, p)).toBeNull();
    // The last one leaving is news.
    expect(presenceText(base, p)).toBe('attached: owner');
  });

  it('keeps a hostile name inert once the status line escapes it', () => {
    const text = presenceText({ ...base, viewers: ['evil\x1b]0;pwned\x07'] }, base) ?? '';
    expect(safeText(text)).not.toMatch(/[\x00-\x1f\x7f]/);
  });
});

describe('driveRequestText', () => {
  const r: DriveRequest = {
    id: 'dr_aaaaaaaaaaaaaaaa',
    shareId: 'sh_aaaaaaaaaaaaaaaa',
    taskId: 't',
    user: 'bob',
    state: 'pending',
    createdAt: '',
    decidedAt: null,
    decidedBy: null,
  };
  it('tells the owner how to answer a request', () => {
    expect(driveRequestText(r)).toBe('bob asks to type: `rclaude share accept dr_aaaaaaaaaaaaaaaa` (or refuse)');
    expect(driveRequestText({ ...r, state: 'revoked' })).toBe('bob may no longer type');
  });
});
