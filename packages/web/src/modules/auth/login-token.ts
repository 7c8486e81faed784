/**
 * Takes the one-time login token from a login URL (`/?token=...`) and removes it from the address bar at
 * once, so it does not linger in history, bookmarks or a copied URL. Returns null when there is none.
 */
export function takeLoginToken(
  location: Pick<Location, 'href'>,
  history: Pick<History, 'replaceState' | 'state'>,
): string | null {
  const url = new URL(location.href);
  const token = url.searchParams.get('token');
  if (token === null) return null;
  url.searchParams.delete('token');
  history.replaceState(history.state, '', `${url.pathname}${url.search}${url.hash}`);
  return token.trim() || null;
}
