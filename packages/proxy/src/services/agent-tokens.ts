import { newToken } from './ids.js';

/** How long a sandbox's start-up token stays valid when no agent uses it (AGENT_TOKEN_TTL_MS). */
export const DEFAULT_STARTUP_TOKEN_TTL_MS = 5 * 60_000;

/**
 * The token a sandbox's agent presents at its first handshake. Single-use like every agent token (the proxy
 * replaces it at that handshake), and dead `ttlMs` after it was issued if nobody used it, e.g. read from a
 * sandbox that never started. The expiry is written into the token itself, so the stored hash covers it:
 * changing it makes a token that matches nothing.
 */
export function newStartupToken(ttlMs: number, now = Date.now()): string {
  return `st.${Math.ceil((now + ttlMs) / 1000)}.${newToken()}`;
}

/** When a start-up token expires (ms since the epoch), or null for a token without expiry (a rotated one). */
export function startupTokenExpiry(token: string): number | null {
  const m = /^st\.(\d{1,15})\./.exec(token);
  return m ? Number(m[1]) * 1000 : null;
}
