import type { Share, Task } from '@rclaude/protocol';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useId, useState } from 'react';
import { useApp } from '../../app-context.js';
import { Button } from '../../components/button.js';
import { Dialog } from '../../components/dialog.js';
import { Field, inputClasses } from '../../components/form.js';
import { InlineError, Spinner } from '../../components/states.js';

const shareKeys = { task: (taskId: string) => ['task', taskId, 'shares'] as const };

/** Lifetimes offered for a new link, in ms. */
const EXPIRY_CHOICES = [
  { label: '1 hour', ms: 3600_000 },
  { label: '24 hours', ms: 24 * 3600_000 },
  { label: '7 days', ms: 7 * 24 * 3600_000 },
] as const;

/** The task page's Share button: opens the dialog that creates, copies and revokes read-only links. */
export function ShareButton({ task }: { task: Task }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <Button size="sm" variant="ghost" onClick={() => setOpen(true)} data-testid="share-task">
        Share
      </Button>
      {open && <ShareDialog task={task} onClose={() => setOpen(false)} />}
    </>
  );
}

function ShareDialog({ task, onClose }: { task: Task; onClose: () => void }) {
  const { api } = useApp();
  const client = useQueryClient();
  const expiryId = useId();
  const [expiresInMs, setExpiresInMs] = useState<number>(24 * 3600_000);
  const [drive, setDrive] = useState(false);
  const [created, setCreated] = useState<string | null>(null);
  // Polled while the dialog is open: who is watching changes without an event.
  const shares = useQuery({
    queryKey: shareKeys.task(task.id),
    queryFn: () => api.listShares(task.id),
    refetchInterval: 5000,
  });
  const create = useMutation({
    mutationFn: () => api.createShare(task.id, expiresInMs, drive ? 'drive' : 'view'),
    onSuccess: (res) => {
      setCreated(res.url);
      void client.invalidateQueries({ queryKey: shareKeys.task(task.id) });
    },
  });
  const revoke = useMutation({
    mutationFn: (shareId: string) => api.revokeShare(shareId),
    onSuccess: () => void client.invalidateQueries({ queryKey: shareKeys.task(task.id) }),
  });
  const active = (shares.data ?? []).filter((s) => s.state === 'active');

  return (
    <Dialog
      title={`Share ${task.name}`}
      description="Anyone with a link can watch this task’s terminal and timeline live, without an account. They cannot type, resize, stop it or see its files."
      onClose={onClose}
      widthClass="max-w-lg"
    >
      <div className="space-y-4">
        <div className="flex items-end gap-2">
          <div className="flex-1">
            <Field id={expiryId} label="Link works for">
              <select
                id={expiryId}
                className={`${inputClasses} h-9`}
                value={expiresInMs}
                onChange={(e) => setExpiresInMs(Number(e.target.value))}
              >
                {EXPIRY_CHOICES.map((c) => (
                  <option key={c.ms} value={c.ms}>
                    {c.label}
                  </option>
                ))}
              </select>
            </Field>
          </div>
          <Button
            variant="primary"
            disabled={create.isPending}
            onClick={() => create.mutate()}
            data-testid="create-share"
          >
            {create.isPending ? 'Creating…' : drive ? 'Create co-drive link' : 'Create read-only link'}
          </Button>
        </div>
        <label className="flex items-start gap-2 text-[13px]">
          <input
            type="checkbox"
            className="mt-0.5"
            checked={drive}
            onChange={(e) => setDrive(e.target.checked)}
            data-testid="share-drive"
          />
          <span>
            <span className="font-medium">Let them type</span>
            <span className="block text-xs text-zinc-500 dark:text-zinc-400">
              For people with an account on this server: they sign in, watch, and may ask to type. You accept or refuse
              each request on this page, and can revoke it at any time.
            </span>
          </span>
        </label>
        {create.error ? <InlineError error={create.error} /> : null}
        {created && <CreatedLink url={created} />}
        <section aria-label="Live links">
          <h3 className="text-[13px] font-semibold">Live links</h3>
          {shares.isPending ? (
            <div className="mt-2 flex items-center gap-2 text-[13px] text-zinc-500">
              <Spinner label="Loading links" /> Loading…
            </div>
          ) : shares.isError ? (
            <InlineError error={shares.error} />
          ) : active.length === 0 ? (
            <p className="mt-1 text-[13px] text-zinc-500 dark:text-zinc-400">No live links to this task.</p>
          ) : (
            <ul className="mt-2 divide-y divide-zinc-200 rounded-lg border border-zinc-200 dark:divide-zinc-800 dark:border-zinc-800">
              {active.map((share) => (
                <ShareRow
                  key={share.id}
                  share={share}
                  busy={revoke.isPending && revoke.variables === share.id}
                  onRevoke={() => revoke.mutate(share.id)}
                />
              ))}
            </ul>
          )}
          {revoke.error ? <InlineError error={revoke.error} /> : null}
        </section>
        <div className="flex justify-end">
          <Button onClick={onClose}>Done</Button>
        </div>
      </div>
    </Dialog>
  );
}

function CreatedLink({ url }: { url: string }) {
  const [copied, setCopied] = useState(false);
  useEffect(() => {
    if (!copied) return;
    const timer = setTimeout(() => setCopied(false), 1500);
    return () => clearTimeout(timer);
  }, [copied]);
  return (
    <div className="space-y-1.5">
      <div className="flex gap-2">
        <input
          readOnly
          value={url}
          aria-label="Share link"
          data-testid="share-url"
          className={`${inputClasses} h-9 font-mono text-xs`}
          onFocus={(e) => e.currentTarget.select()}
        />
        <Button
          onClick={() => {
            void navigator.clipboard?.writeText(url).then(() => setCopied(true));
          }}
        >
          {copied ? 'Copied' : 'Copy'}
        </Button>
      </div>
      <p className="text-xs text-zinc-500 dark:text-zinc-400">Copy it now: the link is not shown again.</p>
    </div>
  );
}

function ShareRow({ share, busy, onRevoke }: { share: Share; busy: boolean; onRevoke: () => void }) {
  const expires = new Date(share.expiresAt);
  return (
    <li className="flex items-center gap-3 px-3 py-2 text-[13px]" data-testid="share-row">
      <div className="min-w-0 flex-1">
        <p className="font-mono text-xs">
          {share.id}
          {share.kind === 'drive' ? (
            <span className="ml-2 font-sans text-violet-700 dark:text-violet-300">co-drive</span>
          ) : null}
        </p>
        <p className="text-xs text-zinc-500 dark:text-zinc-400">
          until {expires.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' })}
          {share.lastUsedAt ? ` · last opened ${new Date(share.lastUsedAt).toLocaleTimeString()}` : ' · not opened yet'}
        </p>
      </div>
      <span className="shrink-0 text-xs text-zinc-600 tabular-nums dark:text-zinc-400" data-testid="share-viewers">
        {share.viewers === 1 ? '1 watching' : `${share.viewers} watching`}
      </span>
      <div className="shrink-0">
        <Button size="sm" variant="danger" disabled={busy} onClick={onRevoke}>
          {busy ? 'Revoking…' : 'Revoke'}
        </Button>
      </div>
    </li>
  );
}
