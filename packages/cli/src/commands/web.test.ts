import { describe, expect, it } from 'vitest';
import { browserAvailability } from './web.js';

describe('browserAvailability', () => {
  it('opens a browser only from a terminal', () => {
    expect(browserAvailability({ DISPLAY: ':0' }, 'linux', false)).toEqual({
      ok: false,
      why: 'output is not a terminal',
    });
    expect(browserAvailability({}, 'darwin', false).ok).toBe(false);
  });

  it('needs a display or $BROWSER on Linux (none over ssh), not on macOS or Windows', () => {
    expect(browserAvailability({}, 'linux', true)).toEqual({
      ok: false,
      why: 'no display here ($DISPLAY and $BROWSER are not set)',
    });
    expect(browserAvailability({ DISPLAY: '', BROWSER: '' }, 'freebsd', true).ok).toBe(false);
    expect(browserAvailability({ DISPLAY: ':0' }, 'linux', true)).toEqual({ ok: true, browser: null });
    expect(browserAvailability({ WAYLAND_DISPLAY: 'wayland-0' }, 'linux', true)).toEqual({ ok: true, browser: null });
    expect(browserAvailability({}, 'darwin', true)).toEqual({ ok: true, browser: null });
    expect(browserAvailability({}, 'win32', true)).toEqual({ ok: true, browser: null });
  });

  it("uses $BROWSER's first entry", () => {
    expect(browserAvailability({ BROWSER: 'firefox:w3m' }, 'linux', true)).toEqual({ ok: true, browser: 'firefox' });
    expect(browserAvailability({ BROWSER: '/opt/b/browser' }, 'darwin', true)).toEqual({
      ok: true,
      browser: '/opt/b/browser',
    });
  });
});
