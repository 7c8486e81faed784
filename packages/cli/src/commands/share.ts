import {
  AppError,
  type DriveDecision,
  type DriveRequest,
  driveRequestIdSchema,
  parseShareDuration,
  SHARE_MAX_TTL_MS,
  SHARE_MIN_TTL_MS,
  type Share,
  shareIdSchema,
} from '@rclaude/protocol';
import { apiClientFor } from '../api.js';
import { CliError, EXIT } from '../errors.js';
import { safeJson, safeText } from '../output.js';
import { age, printTable } from '../table.js';

interface Common {
  server?: string;
  json?: boolean;
}

export interface ShareOptions extends Common {
  expires?: string;
  drive?: boolean;
}

/** When a share link stops working, as a person reads it: `in 2h 0m`, or why it no longer works. */
function expiryText(share: Share, now = Date.now()): string {
  if (share.state === 'revoked') return 'revoked';
  if (share.state === 'expired') return 'expired';
  const mins = Math.max(0, Math.round((Date.parse(share.expiresAt) - now) / 60_000));
  if (mins < 60) return `in ${mins}m`;
  if (mins < 48 * 60) return `in ${Math.floor(mins / 60)}h ${mins % 60}m`;
  return `in ${Math.floor(mins / 1440)}d ${Math.floor((mins % 1440) / 60)}h`;
}

/**
 * `rclaude share TASK [--expires 2h]`: a read-only link to the task. The URL (its secret after `#`) goes to
 * stdout alone, so `$(rclaude share 3f2a)` captures it; it is shown only this once.
 */
export async function shareCommand(ref: string | undefined, opts: ShareOptions): Promise<number> {
  if (ref === undefined) {
    throw new CliError(
      'which task? give its id, prefix or name',
      EXIT.error,
      'e.g. `rclaude share 3f2a`, or `rclaude share ls`',
    );
  }
  let expiresInMs: number | undefined;
  if (opts.expires !== undefined) {
    const ms = parseShareDuration(opts.expires);
    if (ms === null || ms < SHARE_MIN_TTL_MS || ms > SHARE_MAX_TTL_MS) {
      throw new CliError(
        `--expires ${opts.expires}: give a duration from 1m to 7d, like 30m, 2h or 3d`,
        EXIT.error,
        'e.g. `rclaude share 3f2a --expires 2h`',
      );
    }
    expiresInMs = ms;
  }
  const api = apiClientFor(opts);
  const task = await api.resolveTask(ref);
  const res = await api.call('createShare', {
    params: { id: task.id },
    body: { kind: opts.drive ? 'drive' : 'view', ...(expiresInMs === undefined ? {} : { expiresInMs }) },
  });
  if (opts.json) {
    process.stdout.write(`${safeJson(res)}\n`);
    return EXIT.ok;
  }
  process.stdout.write(`${res.url}\n`);
  process.stderr.write(
    `${opts.drive ? 'co-drive link (signed-in users may ask to type)' : 'read-only link'} to ${task.id} (${safeText(task.name)}), expires ${expiryText(res.share)} ` +
      `(${new Date(res.share.expiresAt).toLocaleString()}); shown only now. ` +
      `Revoke it with \`rclaude share rm ${res.share.id}\`\n`,
  );
  return EXIT.ok;
}

/** `rclaude share ls [--task T]`: the links you created. */
export async function shareLsCommand(opts: Common & { task?: string }): Promise<number> {
  const api = apiClientFor(opts);
  const taskId = opts.task === undefined ? undefined : (await api.resolveTask(opts.task)).id;
  const { shares } = await api.call('listShares', { query: taskId === undefined ? {} : { task: taskId } });
  if (opts.json) {
    process.stdout.write(`${safeJson(shares, 2)}\n`);
    return EXIT.ok;
  }
  if (shares.length === 0) {
    process.stdout.write('no share links; create one with `rclaude share TASK`\n');
    return EXIT.ok;
  }
  printTable(
    ['ID', 'TASK', 'NAME', 'KIND', 'CREATED', 'EXPIRES', 'LAST USED'],
    shares.map((s) => [
      s.id,
      s.taskId,
      s.taskName,
      s.kind,
      age(s.createdAt),
      expiryText(s),
      s.lastUsedAt ? age(s.lastUsedAt) : 'never',
    ]),
  );
  return EXIT.ok;
}

/** `rclaude share rm SHARE_ID`: revoke a link; its viewers are cut off at once. */
export async function shareRmCommand(id: string, opts: Common): Promise<number> {
  if (!shareIdSchema.safeParse(id).success) {
    throw new CliError(`"${id}" is not a share link id`, EXIT.error, 'the ID column of `rclaude share ls` (sh_…)');
  }
  try {
    await apiClientFor(opts).call('revokeShare', { params: { shareId: id } });
  } catch (err) {
    if (err instanceof AppError && err.code === 'NOT_FOUND') {
      throw new CliError(err.message, EXIT.error, 'list your links with `rclaude share ls`');
    }
    throw err;
  }
  process.stdout.write(`${id} revoked\n`);
  return EXIT.ok;
}

/** `rclaude share requests TASK`: requests to type into the task through its drive links, newest first. */
export async function shareRequestsCommand(ref: string, opts: Common): Promise<number> {
  const api = apiClientFor(opts);
  const task = await api.resolveTask(ref);
  const { requests } = await api.call('listDriveRequests', { params: { id: task.id } });
  if (opts.json) {
    process.stdout.write(`${safeJson(requests, 2)}\n`);
    return EXIT.ok;
  }
  if (requests.length === 0) {
    process.stdout.write(
      `nobody has asked to type into ${task.id}; make a co-drive link with \`rclaude share ${task.id} --drive\`\n`,
    );
    return EXIT.ok;
  }
  printTable(
    ['ID', 'USER', 'STATE', 'ASKED', 'DECIDED BY', 'LINK'],
    requests.map((r) => [r.id, r.user, r.state, age(r.createdAt), r.decidedBy ?? '', r.shareId]),
  );
  const pending = requests.find((r) => r.state === 'pending');
  if (pending) process.stderr.write(`accept one with \`rclaude share accept ${pending.id}\` (or refuse)\n`);
  return EXIT.ok;
}

async function decide(id: string, decision: DriveDecision, opts: Common): Promise<number> {
  if (!driveRequestIdSchema.safeParse(id).success) {
    throw new CliError(
      `"${id}" is not a drive request id`,
      EXIT.error,
      'the ID column of `rclaude share requests TASK` (dr_…)',
    );
  }
  let request: DriveRequest;
  try {
    request = await apiClientFor(opts).call('decideDriveRequest', { params: { requestId: id }, body: { decision } });
  } catch (err) {
    if (err instanceof AppError && (err.code === 'NOT_FOUND' || err.code === 'CONFLICT')) {
      throw new CliError(err.message, EXIT.error, 'see the requests with `rclaude share requests TASK`');
    }
    throw err;
  }
  if (opts.json) {
    process.stdout.write(`${safeJson(request)}\n`);
    return EXIT.ok;
  }
  const what = {
    accepted: 'may now type',
    refused: 'was refused',
    revoked: 'may no longer type',
    pending: 'is pending',
  }[request.state];
  process.stdout.write(`${safeText(request.user)} ${what} (${request.id})\n`);
  return EXIT.ok;
}

/** `rclaude share accept REQ`: the user of a pending request may type into the task's main terminal. */
export const shareAcceptCommand = (id: string, opts: Common) => decide(id, 'accept', opts);
/** `rclaude share refuse REQ`: refuse a pending request. */
export const shareRefuseCommand = (id: string, opts: Common) => decide(id, 'refuse', opts);
/** `rclaude share revoke REQ`: an accepted user may no longer type (at once). */
export const shareRevokeCommand = (id: string, opts: Common) => decide(id, 'revoke', opts);
