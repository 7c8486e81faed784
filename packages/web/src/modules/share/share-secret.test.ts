import { describe, expect, it } from 'vitest';
import { sharePathId, takeShareSecret } from './share-secret.js';

const ID = 'sh_abcdefghijklmnop';
const SECRET = 'Q'.repeat(43);

function fakeHistory() {
  const calls: string[] = [];
  return { calls, history: { state: null, replaceState: (_s: unknown, _t: string, url: string) => calls.push(url) } };
}

function fakeStorage() {
  const map = new Map<string, string>();
  return {
    map,
    storage: { getItem: (k: string) => map.get(k) ?? null, setItem: (k: string, v: string) => map.set(k, v) },
  };
}

describe('share link addresses', () => {
  it('recognise /share/<id> only', () => {
    expect(sharePathId(`/share/${ID}`)).toBe(ID);
    expect(sharePathId(`/share/${ID}/`)).toBe(ID);
    expect(sharePathId('/share/nope')).toBeNull();
    expect(sharePathId(`/tasks/${ID}`)).toBeNull();
    expect(sharePathId(`/share/${ID}/x`)).toBeNull();
  });

  it('take the secret from the fragment and drop it from the address bar at once', () => {
    const { calls, history } = fakeHistory();
    const { map, storage } = fakeStorage();
    const got = takeShareSecret({ href: `https://rc.example/share/${ID}#${SECRET}` }, history, storage);
    expect(got).toEqual({ shareId: ID, secret: SECRET });
    expect(calls).toEqual([`/share/${ID}`]);
    expect(map.get(`rclaude:share:${ID}`)).toBe(SECRET);

    // A reload (no fragment) finds it again in this tab.
    const again = takeShareSecret({ href: `https://rc.example/share/${ID}` }, fakeHistory().history, storage);
    expect(again).toEqual({ shareId: ID, secret: SECRET });
  });

  it('give no secret for a link copied without it, or with a malformed one', () => {
    const { calls, history } = fakeHistory();
    expect(takeShareSecret({ href: `https://rc.example/share/${ID}#short` }, history, null)).toEqual({
      shareId: ID,
      secret: null,
    });
    expect(calls).toEqual([`/share/${ID}`]);
    expect(takeShareSecret({ href: `https://rc.example/share/${ID}` }, history, fakeStorage().storage)).toEqual({
      shareId: ID,
      secret: null,
    });
    expect(takeShareSecret({ href: 'https://rc.example/tasks/abc#x' }, history, null)).toBeNull();
  });
});
