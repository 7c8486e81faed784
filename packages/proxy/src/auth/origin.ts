/**
 * Decides whether a browser Origin may talk to this server: the server's own origin (same host as the
 * request's Host header, over http or https) or one of the configured origins, compared exactly after
 * normalisation. `null` and anything unparsable are refused.
 */
export type OriginCheck = (origin: string, host: string | undefined) => boolean;

/** Normalises configured origins (`https://app.example.com/` -> `https://app.example.com`); throws on junk. */
export function normaliseOrigins(origins: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const origin of origins) {
    const url = new URL(origin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`not a web origin: ${origin}`);
    out.add(url.origin);
  }
  return out;
}

export function createOriginCheck(allowed: ReadonlySet<string>): OriginCheck {
  return (origin, host) => {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
    if (allowed.has(url.origin)) return true;
    if (!host) return false;
    try {
      // Parse the Host header under the origin's scheme so default ports compare equal (`x:443` = `x`).
      return new URL(`${url.protocol}//${host}`).host === url.host;
    } catch {
      return false;
    }
  };
}
