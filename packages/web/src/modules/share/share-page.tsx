import {
  type ClientSocket,
  createShareSocket,
  createSocketTerminalTransport,
  type TerminalTransport,
} from '@rclaude/client';
import {
  type Ack,
  AppError,
  type DriveRequest,
  SHARE_VIEW_MAX_EVENTS,
  type SharedTaskStatus,
  type ShareRefusal,
  type ShareView,
  shareRefusalSchema,
  type TaskEvent,
} from '@rclaude/protocol';
import { type FormEvent, lazy, Suspense, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { ApiClient } from '../../api/api-client.js';
import { useApp } from '../../app-context.js';
import { Button } from '../../components/button.js';
import { inputClasses } from '../../components/form.js';
import { AlertIcon } from '../../components/icons.js';
import { Logo } from '../../components/logo.js';
import { EmptyState, ErrorState, InlineError, Spinner } from '../../components/states.js';
import { StatusBadge } from '../../components/status-badge.js';
import { ThemeSwitcher } from '../../components/theme-switcher.js';
import { TimelineView } from '../tasks/task-timeline.js';
import { useTheme } from '../theme/theme.js';
import { PresenceRowOf } from './drive-requests.js';
import type { ShareCredential } from './share-secret.js';

const Terminal = lazy(() => import('../terminal/terminal.js').then((m) => ({ default: m.Terminal })));

export interface SharePageProps {
  api: ApiClient;
  credential: ShareCredential;
  /** Makes the viewer's socket (not yet connected); tests and main.tsx pass `createShareSocket`. */
  createSocket?: (shareId: string, secret: string) => ClientSocket;
}

type Loaded =
  | { state: 'loading' }
  | { state: 'ready'; view: ShareView; user: string | null }
  | { state: 'sign-in'; view: ShareView }
  | { state: 'refused'; reason: ShareRefusal['reason'] }
  | { state: 'error'; error: unknown };

function refusalOf(error: unknown): ShareRefusal['reason'] | null {
  if (!(error instanceof AppError) || error.code !== 'UNAUTHENTICATED') return null;
  const parsed = shareRefusalSchema.safeParse(error.details);
  return parsed.success ? parsed.data.reason : 'invalid';
}

const defaultCreateSocket = (shareId: string, secret: string) =>
  createShareSocket({ shareId, secret, autoConnect: false });

/**
 * The public page of a share link (`/share/<id>`): the shared task's live terminal (read-only: xterm takes no
 * input and no size is ever sent) and its timeline, under a banner saying so. No account, no files, no other
 * task. When the link is revoked or expires, the server drops the connection and the page says why.
 */
export function SharePage({ api, credential, createSocket = defaultCreateSocket }: SharePageProps) {
  const { shareId, secret } = credential;
  const [loaded, setLoaded] = useState<Loaded>(() =>
    secret ? { state: 'loading' } : { state: 'refused', reason: 'invalid' },
  );

  const load = useCallback(async () => {
    if (!secret) return;
    try {
      const view = await api.shareView(shareId, secret);
      // A co-drive link is for users of this server: sign in first (here, then back to the task).
      if (view.kind === 'drive') {
        const session = await api.getSession().catch(() => null);
        if (!session) return setLoaded({ state: 'sign-in', view });
        return setLoaded({ state: 'ready', view, user: session.user.username });
      }
      setLoaded({ state: 'ready', view, user: null });
    } catch (error) {
      const reason = refusalOf(error);
      setLoaded(reason ? { state: 'refused', reason } : { state: 'error', error });
    }
  }, [api, shareId, secret]);

  useEffect(() => {
    document.title = 'Shared task · rclaude';
    void load();
  }, [load]);

  return (
    <div className="flex h-dvh flex-col">
      <header className="flex h-14 shrink-0 items-center gap-3 border-b border-zinc-200 bg-white/80 px-4 backdrop-blur sm:px-6 dark:border-zinc-800/80 dark:bg-zinc-950/80">
        <span className="flex items-center gap-2 font-semibold tracking-tight">
          <Logo />
          <span className="hidden text-[15px] sm:inline">rclaude</span>
        </span>
        <div className="ml-auto">
          <ThemeSwitcher />
        </div>
      </header>
      <main id="main" className="flex min-h-0 flex-1 flex-col">
        {loaded.state === 'loading' && (
          <div className="flex flex-1 items-center justify-center gap-2 text-[13px] text-zinc-500">
            <Spinner label="Opening the shared task" /> Opening the shared task…
          </div>
        )}
        {loaded.state === 'refused' && <Refused reason={loaded.reason} />}
        {loaded.state === 'sign-in' && <SignInToDrive api={api} onSignedIn={() => void load()} />}
        {loaded.state === 'error' && (
          <div className="flex flex-1 items-center justify-center">
            <ErrorState error={loaded.error} title="Could not open this shared task" onRetry={() => void load()} />
          </div>
        )}
        {loaded.state === 'ready' && secret && (
          <SharedTask
            view={loaded.view}
            user={loaded.user}
            shareId={shareId}
            secret={secret}
            createSocket={createSocket}
            onCutOff={() => void load()}
          />
        )}
      </main>
    </div>
  );
}

function Refused({ reason }: { reason: ShareRefusal['reason'] }) {
  const text = {
    expired: { title: 'This share link has expired', body: 'Ask the person who shared it for a new link.' },
    revoked: { title: 'This share link was revoked', body: 'Its owner stopped sharing this task.' },
    invalid: {
      title: 'This share link does not work',
      body: 'It may be incomplete: copy the whole link, including the part after #.',
    },
  }[reason];
  return (
    <div className="flex flex-1 items-center justify-center" data-testid="share-refused" data-reason={reason}>
      <EmptyState icon={<AlertIcon className="size-5" />} title={text.title}>
        {text.body}
      </EmptyState>
    </div>
  );
}

/** A co-drive link opened signed out: sign in here, then the page opens the task. */
function SignInToDrive({ api, onSignedIn }: { api: ApiClient; onSignedIn: () => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    api.signIn(username.trim(), password).then(
      () => onSignedIn(),
      (err: unknown) => {
        setError(err);
        setBusy(false);
      },
    );
  };
  return (
    <div className="flex flex-1 items-center justify-center px-4" data-testid="share-sign-in">
      <form onSubmit={submit} className="w-full max-w-sm space-y-3">
        <h1 className="text-base font-semibold tracking-tight">Sign in to co-drive this task</h1>
        <p className="text-[13px] text-zinc-500 dark:text-zinc-400">
          This link lets people with an account on this server watch the task and ask its owner to let them type.
        </p>
        <input
          className={`${inputClasses} h-9`}
          aria-label="Username"
          autoComplete="username"
          value={username}
          onChange={(e) => setUsername(e.target.value)}
        />
        <input
          className={`${inputClasses} h-9`}
          aria-label="Password"
          type="password"
          autoComplete="current-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        {error ? <InlineError error={error} /> : null}
        <Button type="submit" variant="primary" disabled={busy || !username || !password}>
          {busy ? 'Signing in…' : 'Sign in'}
        </Button>
      </form>
    </div>
  );
}

/** The socket transport without resizes: a co-driver types, the owner's terminal size wins. */
function withoutResize(transport: TerminalTransport): TerminalTransport {
  return {
    async open(request, events) {
      const { cols: _c, rows: _r, ...rest } = request;
      const link = await transport.open(rest, events);
      return {
        attachment: link.attachment,
        input: (data) => link.input(data),
        resize: () => undefined,
        signal: () => undefined,
        ack: (offset) => link.ack(offset),
        close: () => link.close(),
      };
    },
  };
}

function SharedTask({
  view,
  user,
  shareId,
  secret,
  createSocket,
  onCutOff,
}: {
  view: ShareView;
  /** The signed-in user on a co-drive link; null on a read-only link. */
  user: string | null;
  shareId: string;
  secret: string;
  createSocket: (shareId: string, secret: string) => ClientSocket;
  onCutOff: () => void;
}) {
  const { resolved } = useTheme();
  const { storage } = useApp();
  // The same switch as the task page's (docs/web.md): force the DOM renderer.
  const renderer = storage?.getItem('rclaude:terminal-renderer') === 'dom' ? 'dom' : 'auto';
  const [status, setStatus] = useState<SharedTaskStatus>({ name: view.task.name, status: view.task.status });
  const [events, setEvents] = useState<TaskEvent[]>(view.events);
  const [socket] = useState(() => createSocket(shareId, secret));
  const onCutOffRef = useRef(onCutOff);
  onCutOffRef.current = onCutOff;

  useEffect(() => {
    const onTask = (next: SharedTaskStatus) => setStatus(next);
    const onEvent = (event: TaskEvent) =>
      setEvents((prev) =>
        prev.some((e) => e.seq === event.seq) ? prev : [...prev, event].slice(-SHARE_VIEW_MAX_EVENTS),
      );
    // The server disconnects a revoked or expired link's viewers: ask again to learn which it was.
    const onDisconnect = (reason: string) => {
      if (reason === 'io server disconnect') onCutOffRef.current();
    };
    // A refused handshake (the link died between the page load and the connection) is final: say why.
    const onConnectError = () => {
      if (!socket.active) onCutOffRef.current();
    };
    socket.on('share:task', onTask);
    socket.on('task:event', onEvent);
    socket.on('disconnect', onDisconnect);
    socket.on('connect_error', onConnectError);
    socket.connect();
    return () => {
      socket.off('share:task', onTask);
      socket.off('task:event', onEvent);
      socket.off('disconnect', onDisconnect);
      socket.off('connect_error', onConnectError);
      socket.disconnect();
    };
  }, [socket]);

  const transport = useMemo(
    () => withoutResize(createSocketTerminalTransport(socket, view.task.mainSessionId)),
    [socket, view.task.mainSessionId],
  );
  const drive = view.kind === 'drive';
  const [request, setRequest] = useState<DriveRequest | null>(null);
  const [askError, setAskError] = useState<unknown>(null);
  useEffect(() => {
    const onRequest = (r: DriveRequest) => setRequest(r);
    socket.on('share:drive-request', onRequest);
    return () => {
      socket.off('share:drive-request', onRequest);
    };
  }, [socket]);
  const ask = () => {
    setAskError(null);
    socket
      .timeout(10_000)
      .emitWithAck('share:drive', {})
      .then((ack: Ack<DriveRequest>) => {
        if (ack.ok) setRequest(ack.data);
        else setAskError(new AppError(ack.error.code, ack.error.message));
      }, setAskError);
  };
  const typing = drive && request?.state === 'accepted';
  const expires = new Date(view.expiresAt);

  return (
    <div className="flex min-h-0 flex-1 flex-col">
      <div
        role="note"
        data-testid="share-banner"
        className="flex shrink-0 flex-wrap items-center gap-x-3 gap-y-1 border-b border-sky-200 bg-sky-50 px-4 py-2 text-[13px] text-sky-900 sm:px-6 dark:border-sky-900 dark:bg-sky-950/60 dark:text-sky-100"
      >
        {drive ? (
          <>
            <span className="font-medium" data-testid="drive-state" data-state={request?.state ?? 'none'}>
              {typing
                ? 'You may type into this terminal.'
                : request?.state === 'pending'
                  ? 'Asked to type: waiting for the owner.'
                  : request?.state === 'revoked'
                    ? 'The owner stopped letting you type.'
                    : request?.state === 'refused'
                      ? 'The owner refused to let you type.'
                      : 'Co-drive link: watch, and ask to type.'}
            </span>
            <span>You cannot resize it, stop the task or see its files.</span>
            {!typing && request?.state !== 'pending' && (
              <Button size="sm" variant="primary" onClick={ask} data-testid="ask-to-type">
                Ask to type
              </Button>
            )}
            {askError ? <InlineError error={askError} /> : null}
          </>
        ) : (
          <>
            <span className="font-medium">Read-only view, shared with you.</span>
            <span>You can watch this task live; you cannot type into it, stop it or see its files.</span>
          </>
        )}
        <span className="text-sky-700 dark:text-sky-300" title={expires.toLocaleString()}>
          Link works until {expires.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' })}
        </span>
      </div>
      <div className="flex shrink-0 items-center gap-2.5 border-b border-zinc-200 px-4 py-3 sm:px-6 dark:border-zinc-800">
        <h1 className="truncate text-base font-semibold tracking-tight" data-testid="share-task-name">
          {status.name}
        </h1>
        <StatusBadge status={status.status} />
      </div>
      <div className="flex min-h-0 flex-1 flex-col md:flex-row">
        <div className="flex min-h-[50vh] min-w-0 flex-1 flex-col md:min-h-0">
          {drive && <PresenceRowOf socket={socket} sessionId={view.task.mainSessionId} you={user ?? undefined} />}
          <Suspense fallback={<Spinner label="Loading terminal" className="m-auto size-5" />}>
            <Terminal
              transport={transport}
              readOnly={!typing}
              renderer={renderer}
              theme={resolved}
              label={`Terminal of ${status.name}${typing ? '' : ' (read-only)'}`}
            />
          </Suspense>
        </div>
        <aside className="flex min-h-0 flex-col border-t border-zinc-200 md:w-96 md:border-t-0 md:border-l dark:border-zinc-800">
          <TimelineView events={events} />
        </aside>
      </div>
    </div>
  );
}
