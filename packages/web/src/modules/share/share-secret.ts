import { shareIdSchema, shareSecretSchema } from '@rclaude/protocol';

/** A share link's id and secret, as taken from the address bar. */
export interface ShareCredential {
  shareId: string;
  /** Null when the address carried none and this tab has none remembered: the page says the link is incomplete. */
  secret: string | null;
}

const STORAGE_PREFIX = 'rclaude:share:';

/** The share id of a `/share/<id>` address, or null for any other page. */
export function sharePathId(pathname: string): string | null {
  const m = /^\/share\/([^/]+)\/?$/.exec(pathname);
  return m?.[1] && shareIdSchema.safeParse(m[1]).success ? m[1] : null;
}

/**
 * Takes a share link's secret from the address (`/share/<id>#<secret>`) and removes it from the address bar at
 * once (`history.replaceState`), so it stays out of history, bookmarks and a copied URL; it is never sent as a
 * query parameter. The tab remembers it (sessionStorage, this tab only) so a reload still works.
 */
export function takeShareSecret(
  location: Pick<Location, 'href'>,
  history: Pick<History, 'replaceState' | 'state'>,
  storage: Pick<Storage, 'getItem' | 'setItem'> | null,
): ShareCredential | null {
  const url = new URL(location.href);
  const shareId = sharePathId(url.pathname);
  if (!shareId) return null;
  const fromHash = url.hash.slice(1);
  if (url.hash) history.replaceState(history.state, '', `${url.pathname}${url.search}`);
  if (shareSecretSchema.safeParse(fromHash).success) {
    try {
      storage?.setItem(STORAGE_PREFIX + shareId, fromHash);
    } catch {
      // A full or forbidden storage only costs the reload.
    }
    return { shareId, secret: fromHash };
  }
  let remembered: string | null = null;
  try {
    remembered = storage?.getItem(STORAGE_PREFIX + shareId) ?? null;
  } catch {
    remembered = null;
  }
  return { shareId, secret: remembered && shareSecretSchema.safeParse(remembered).success ? remembered : null };
}
