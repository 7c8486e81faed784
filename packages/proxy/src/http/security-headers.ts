import type { RequestHandler } from 'express';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * Content-Security-Policy of the web app (the built Vite output in packages/web/dist). Scripts only from this
 * origin, as files: the built index.html has no inline script, and `script-src-attr 'none'` refuses inline
 * handlers. Styles allow 'unsafe-inline' because xterm.js inserts `<style>` elements at run time (its theme
 * and the DOM renderer's cell styles), with content no hash can name; styles cannot run code. Fonts are
 * bundled (fontsource), some inlined by Vite as `data:` URLs. `connect-src 'self'` covers the REST calls and
 * the Socket.io WebSocket (same host and port; CSP 3 lets 'self' match ws: and wss:). The service worker
 * (`/sw.js`, Web Push) and the manifest of the installable app come from this origin only.
 */
export const webAppCsp: Readonly<Record<string, readonly string[]>> = {
  'default-src': ["'self'"],
  'base-uri': ["'none'"],
  'connect-src': ["'self'"],
  'font-src': ["'self'", 'data:'],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
  'frame-src': ["'none'"],
  'img-src': ["'self'", 'data:'],
  'manifest-src': ["'self'"],
  'object-src': ["'none'"],
  'script-src': ["'self'"],
  'script-src-attr': ["'none'"],
  'style-src': ["'self'", "'unsafe-inline'"],
  'worker-src': ["'self'"],
};

/**
 * Content-Security-Policy of everything else (the REST API, health, metrics): nothing may load or run. A file
 * from a sandbox that a browser is sent to (`/api/tasks/:id/files/download`) cannot run script on this origin.
 */
export const apiCsp: Readonly<Record<string, readonly string[]>> = {
  'default-src': ["'none'"],
  'base-uri': ["'none'"],
  'form-action': ["'none'"],
  'frame-ancestors': ["'none'"],
};

/** Paths that answer data rather than the web app. */
function isApiPath(path: string): boolean {
  return (
    path.startsWith('/api/') || path === '/api' || path === '/healthz' || path === '/readyz' || path === '/metrics'
  );
}

/**
 * Security headers on every answer (helmet, with its defaults where they fit): the CSPs above,
 * `X-Frame-Options: DENY`, `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`,
 * `Cross-Origin-Opener-Policy` and `-Resource-Policy: same-origin`, and `Strict-Transport-Security` only
 * when the server is reached over https (`hsts`; over plain http a browser ignores it anyway, and sending it
 * from a server some other name also reaches would pin that name to https). helmet's
 * `upgrade-insecure-requests` is left out: `rclaude server` is plain http on a LAN address too.
 */
export function securityHeaders(opts: { hsts: boolean }): RequestHandler {
  const common: HelmetOptions = {
    crossOriginOpenerPolicy: { policy: 'same-origin' },
    crossOriginResourcePolicy: { policy: 'same-origin' },
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: opts.hsts ? { maxAge: 180 * 24 * 3600, includeSubDomains: false } : false,
    xFrameOptions: { action: 'deny' },
  };
  const web = helmet({ ...common, contentSecurityPolicy: { useDefaults: false, directives: webAppCsp } });
  const api = helmet({ ...common, contentSecurityPolicy: { useDefaults: false, directives: apiCsp } });
  return (req, res, next) => (isApiPath(req.path) ? api : web)(req, res, next);
}
