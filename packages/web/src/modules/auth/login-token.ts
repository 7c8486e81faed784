import { LOGIN_LINK_FRAGMENT_KEY } from '@rclaude/protocol';

/**
 * Takes the one-time token from a login link (`/tasks/abc#token=rcl_...`; `?token=` from older links) and
 * removes it from the address bar at once, so it does not linger in history, bookmarks or a copied URL.
 * The rest of the address (path, query, other fragment) stays. Returns null when there is none.
 */
export function takeLoginToken(
  location: Pick<Location, 'href'>,
  history: Pick<History, 'replaceState' | 'state'>,
): string | null {
  const url = new URL(location.href);
  const fragment = new URLSearchParams(url.hash.slice(1));
  const fromFragment = url.hash.includes('=') ? fragment.get(LOGIN_LINK_FRAGMENT_KEY) : null;
  const fromQuery = url.searchParams.get(LOGIN_LINK_FRAGMENT_KEY);
  if (fromFragment === null && fromQuery === null) return null;
  url.searchParams.delete(LOGIN_LINK_FRAGMENT_KEY);
  if (fromFragment !== null) {
    fragment.delete(LOGIN_LINK_FRAGMENT_KEY);
    const rest = fragment.toString();
    url.hash = rest ? `#${rest}` : '';
  }
  history.replaceState(history.state, '', `${url.pathname}${url.search}${url.hash}`);
  return (fromFragment ?? fromQuery ?? '').trim() || null;
}

/** Whether the address carries a login link's token (in the fragment, or the query of an older link). */
export function hasLoginToken(location: Pick<Location, 'href'>): boolean {
  const url = new URL(location.href);
  return (
    new URLSearchParams(url.hash.slice(1)).has(LOGIN_LINK_FRAGMENT_KEY) || url.searchParams.has(LOGIN_LINK_FRAGMENT_KEY)
  );
}
