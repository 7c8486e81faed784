import type { DriveRequest, SessionPresence } from '@rclaude/protocol';

/**
 * The status line `rclaude attach` shows when someone joins or leaves the session or starts or stops typing:
 * `attached: you, bob (typing), carol, 2 anonymous viewers`. Null when it says the same as `previous` (or only
 * you are attached and nobody was before). Names are this server's users' names; the status line escapes them.
 */
export function presenceText(p: SessionPresence, previous: SessionPresence | null): string | null {
  const parts: string[] = [];
  if (p.owner) parts.push('owner');
  for (const d of p.drivers) parts.push(`${d} (typing)`);
  parts.push(...p.viewers);
  if (p.anonymousViewers > 0) {
    parts.push(`${p.anonymousViewers} anonymous viewer${p.anonymousViewers === 1 ? '' : 's'}`);
  }
  const text = `attached: ${parts.join(', ') || 'nobody'}`;
  if (previous) {
    const { sessionId: _a, ...before } = previous;
    const { sessionId: _b, ...now } = p;
    if (JSON.stringify(before) === JSON.stringify(now)) return null;
  } else if (p.drivers.length === 0 && p.viewers.length === 0 && p.anonymousViewers === 0) {
    return null;
  }
  return text;
}

/** The line `rclaude attach` shows the owner for a drive request, new or decided. */
export function driveRequestText(r: DriveRequest): string {
  switch (r.state) {
    case 'pending':
      return `${r.user} asks to type: \`rclaude share accept ${r.id}\` (or refuse)`;
    case 'accepted':
      return `${r.user} may now type (\`rclaude share revoke ${r.id}\` to stop them)`;
    case 'refused':
      return `${r.user} was refused`;
    case 'revoked':
      return `${r.user} may no longer type`;
  }
}
