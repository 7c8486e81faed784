import type { DriveRequest, SessionPresence } from '@rclaude/protocol';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { useApp, useSocket } from '../../app-context.js';
import { Button } from '../../components/button.js';
import { InlineError } from '../../components/states.js';

const driveKeys = { task: (taskId: string) => ['task', taskId, 'drive-requests'] as const };

/**
 * Requests to type into a task through its co-drive links (docs/sharing.md#co-driving): a card with Accept /
 * Refuse for each pending one, and the people who may type now with Revoke. Nothing when there are none.
 */
export function DriveRequestCards({ taskId }: { taskId: string }) {
  const { api } = useApp();
  const socket = useSocket();
  const client = useQueryClient();
  const requests = useQuery({ queryKey: driveKeys.task(taskId), queryFn: () => api.listDriveRequests(taskId) });
  useEffect(() => {
    const onRequest = (r: DriveRequest) => {
      if (r.taskId === taskId) void client.invalidateQueries({ queryKey: driveKeys.task(taskId) });
    };
    socket.on('share:drive-request', onRequest);
    return () => {
      socket.off('share:drive-request', onRequest);
    };
  }, [socket, client, taskId]);
  const decide = useMutation({
    mutationFn: ({ id, decision }: { id: string; decision: 'accept' | 'refuse' | 'revoke' }) =>
      api.decideDriveRequest(id, decision),
    onSettled: () => client.invalidateQueries({ queryKey: driveKeys.task(taskId) }),
  });
  const open = (requests.data ?? []).filter((r) => r.state === 'pending' || r.state === 'accepted');
  if (open.length === 0) return null;
  return (
    <div className="flex shrink-0 flex-col gap-2 border-b border-violet-200 bg-violet-50 px-3 py-3 sm:px-6 dark:border-violet-900/60 dark:bg-violet-950/30">
      {open.map((r) => {
        const busy = decide.isPending && decide.variables?.id === r.id;
        return (
          <section
            key={r.id}
            role={r.state === 'pending' ? 'alert' : undefined}
            aria-label={`Request to type from ${r.user}`}
            data-testid="drive-request"
            data-state={r.state}
            className="flex flex-wrap items-center gap-3 rounded-xl border border-violet-300 bg-white p-3 text-[13px] shadow-sm dark:border-violet-800 dark:bg-zinc-900"
          >
            <p className="min-w-0 flex-1">
              <span className="font-semibold">{r.user}</span>{' '}
              {r.state === 'pending'
                ? 'asks to type into this task’s terminal.'
                : 'may type into this task’s terminal (nothing else).'}
            </p>
            {r.state === 'pending' ? (
              <div className="flex shrink-0 gap-2">
                <Button
                  size="sm"
                  variant="primary"
                  disabled={busy}
                  onClick={() => decide.mutate({ id: r.id, decision: 'accept' })}
                >
                  Accept
                </Button>
                <Button size="sm" disabled={busy} onClick={() => decide.mutate({ id: r.id, decision: 'refuse' })}>
                  Refuse
                </Button>
              </div>
            ) : (
              <Button
                size="sm"
                variant="danger"
                disabled={busy}
                onClick={() => decide.mutate({ id: r.id, decision: 'revoke' })}
              >
                Revoke
              </Button>
            )}
          </section>
        );
      })}
      {decide.error ? <InlineError error={decide.error} /> : null}
    </div>
  );
}

/** Who has a session's terminal open (`session:presence`), as a row of initials and names; nothing when alone. */
export function PresenceRow({ sessionId, you }: { sessionId: string; you?: string }) {
  const socket = useSocket();
  return <PresenceRowOf socket={socket} sessionId={sessionId} you={you} />;
}

/** {@link PresenceRow} on a given socket (the share page has its own). */
export function PresenceRowOf({
  socket,
  sessionId,
  you,
}: {
  socket: {
    on(e: 'session:presence', f: (p: SessionPresence) => void): unknown;
    off(e: 'session:presence', f: (p: SessionPresence) => void): unknown;
  };
  sessionId: string;
  you?: string | undefined;
}) {
  const [presence, setPresence] = useState<SessionPresence | null>(null);
  useEffect(() => {
    const onPresence = (p: SessionPresence) => {
      if (p.sessionId === sessionId) setPresence(p);
    };
    socket.on('session:presence', onPresence);
    return () => {
      socket.off('session:presence', onPresence);
    };
  }, [socket, sessionId]);
  if (!presence) return null;
  const people = [
    ...(presence.owner ? [{ name: 'owner', typing: true }] : []),
    ...presence.drivers.map((name) => ({ name, typing: true })),
    ...presence.viewers.map((name) => ({ name, typing: false })),
  ];
  if (people.length <= 1 && presence.anonymousViewers === 0) return null;
  return (
    <ul
      aria-label="Attached to this terminal"
      data-testid="presence"
      className="flex shrink-0 flex-wrap items-center gap-1.5 border-b border-zinc-200 px-3 py-1.5 text-xs text-zinc-600 dark:border-zinc-800 dark:text-zinc-400"
    >
      {people.map((p) => (
        <li key={`${p.name}:${p.typing}`} className="flex items-center gap-1" data-testid="presence-person">
          <span
            aria-hidden
            className={`flex size-5 items-center justify-center rounded-full text-[10px] font-semibold uppercase ${p.typing ? 'bg-violet-600 text-white' : 'bg-zinc-200 text-zinc-700 dark:bg-zinc-700 dark:text-zinc-100'}`}
          >
            {p.name.slice(0, 1)}
          </span>
          {p.name}
          {p.name === you ? ' (you)' : ''}
          {p.typing && p.name !== 'owner' ? ' · typing' : ''}
        </li>
      ))}
      {presence.anonymousViewers > 0 && (
        <li data-testid="presence-anonymous">+ {presence.anonymousViewers} watching through a link</li>
      )}
    </ul>
  );
}
