import type { SessionPresence } from '@rclaude/protocol';
import type { Logger } from 'pino';
import type { AuthContext } from '../services/auth-context.js';
import type { ClientNamespace } from '../services/session-hub.js';
import { rooms } from './rooms.js';
import type { ShareSocketData } from './share-gateway.js';

/** Tells a session's clients who is attached (docs/sharing.md#who-is-attached). */
export interface Presence {
  /** Someone attached to, left or started/stopped driving `sessionId`: recount (coalesced) and push it. */
  changed(sessionId: string): void;
}

/** How long changes to one session are gathered before one recount. */
const SETTLE_MS = 50;

/** The presence of a session from the data of the sockets in its room (any proxy's). */
export function presenceOf(
  sessionId: string,
  owner: string | null,
  sockets: readonly { data: unknown; rooms: Set<string> }[],
): SessionPresence {
  let ownerHere = false;
  let anonymousViewers = 0;
  const drivers = new Set<string>();
  const viewers = new Set<string>();
  for (const socket of sockets) {
    const data = socket.data as { auth?: AuthContext; share?: ShareSocketData };
    if (data.share) {
      const user = data.share.user;
      if (!user) anonymousViewers++;
      else if (socket.rooms.has(rooms.shareDrivers(data.share.shareId))) drivers.add(user.username);
      else viewers.add(user.username);
    } else if (data.auth) {
      if (data.auth.userId === owner) ownerHere = true;
      else viewers.add(data.auth.username);
    }
  }
  for (const d of drivers) viewers.delete(d);
  return {
    sessionId,
    owner: ownerHere,
    drivers: [...drivers].sort(),
    viewers: [...viewers].sort(),
    anonymousViewers,
  };
}

/**
 * Counts a session's attached clients over every proxy (the adapter's `fetchSockets`) a moment after a change
 * and sends `session:presence` to its room, leaving out anonymous view-link viewers (a viewer never learns the
 * owner's name).
 */
export function createPresence(deps: {
  ns: () => ClientNamespace;
  /** The user id owning the session's task, or null. */
  ownerOf: (sessionId: string) => Promise<string | null>;
  log: Logger;
}): Presence {
  const pending = new Map<string, NodeJS.Timeout>();
  const publish = async (sessionId: string) => {
    const [owner, sockets] = await Promise.all([
      deps.ownerOf(sessionId),
      deps.ns().in(rooms.session(sessionId)).fetchSockets(),
    ]);
    const presence = presenceOf(sessionId, owner, sockets);
    deps.ns().to(rooms.session(sessionId)).except(rooms.anonymous).emit('session:presence', presence);
  };
  return {
    changed(sessionId) {
      if (pending.has(sessionId)) return;
      const timer = setTimeout(() => {
        pending.delete(sessionId);
        publish(sessionId).catch((err: unknown) => deps.log.warn({ err, sessionId }, 'sending presence failed'));
      }, SETTLE_MS);
      timer.unref?.();
      pending.set(sessionId, timer);
    },
  };
}
