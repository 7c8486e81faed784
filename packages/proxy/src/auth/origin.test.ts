import { describe, expect, it } from 'vitest';
import { createOriginCheck, normaliseOrigins } from './origin.js';

describe('origin check', () => {
  const allowed = createOriginCheck(normaliseOrigins(['http://localhost:5173/', 'https://app.example.com']));

  it('allows the server own origin (by Host header) and the exact configured ones', () => {
    expect(allowed('http://127.0.0.1:7878', '127.0.0.1:7878')).toBe(true);
    expect(allowed('https://rclaude.example.com', 'rclaude.example.com:443')).toBe(true);
    expect(allowed('http://localhost:5173', '127.0.0.1:7878')).toBe(true);
    expect(allowed('https://app.example.com', undefined)).toBe(true);
  });

  it.each([
    ['another host', 'http://evil.example', '127.0.0.1:7878'],
    ['another port', 'http://127.0.0.1:7879', '127.0.0.1:7878'],
    ['a subdomain of an allowed one', 'https://x.app.example.com', 'rclaude.example.com'],
    ['an allowed host over the wrong scheme', 'http://app.example.com', 'rclaude.example.com'],
    ['the null origin', 'null', '127.0.0.1:7878'],
    ['a non-web scheme', 'file://127.0.0.1:7878', '127.0.0.1:7878'],
    ['garbage', 'not an origin', '127.0.0.1:7878'],
    ['no Host to compare with', 'http://127.0.0.1:7878', undefined],
  ])('refuses %s', (_what, origin, host) => {
    expect(allowed(origin, host)).toBe(false);
  });

  it('refuses to configure a non-web origin', () => {
    expect(() => normaliseOrigins(['ftp://x.example'])).toThrow(/not a web origin/);
    expect(() => normaliseOrigins(['nonsense'])).toThrow();
  });
});
