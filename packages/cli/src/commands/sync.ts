import fs from 'node:fs';
import path from 'node:path';
import { AppError } from '@rclaude/protocol';
import { apiClientFor } from '../api.js';
import { CliError, EXIT } from '../errors.js';
import { safeJson, safeText } from '../output.js';
import { dataDir } from '../settings.js';
import { SyncEngine, type SyncEvent } from '../sync/engine.js';
import { IgnoreRules } from '../sync/ignore.js';
import { SyncState, statePath } from '../sync/state.js';

export interface SyncOptions {
  server?: string;
  once?: boolean;
  json?: boolean;
  exclude?: string[];
  prefer?: string;
}

function describeEvent(e: SyncEvent): string {
  switch (e.type) {
    case 'upload':
      return `↑ ${safeText(e.path)} (${e.size} bytes)`;
    case 'download':
      return `↓ ${safeText(e.path)} (${e.size} bytes)`;
    case 'delete-local':
      return `✗ ${safeText(e.path)} deleted here (deleted in the task)`;
    case 'delete-remote':
      return `✗ ${safeText(e.path)} deleted in the task (deleted here)`;
    case 'conflict':
      return `! conflict: ${safeText(e.path)} changed on both sides; kept yours, the task's copy is ${safeText(e.remoteCopy)}`;
    case 'refused':
      return `! refused ${safeText(e.path)}: ${safeText(e.reason)}`;
    case 'error':
      return `! ${safeText(e.path)}: ${safeText(e.message)}`;
    case 'ready':
      return `in sync: ${e.local} files here, ${e.remote} in the task, ${e.changes} changes made`;
    case 'stopped':
      return safeText(e.reason);
  }
}

/** `rclaude sync ID [DIR]`: keeps DIR and the task's workspace in step (ADR 0022, docs/moving-work.md). */
export async function syncCommand(ref: string, dirArg: string | undefined, opts: SyncOptions): Promise<number> {
  const prefer = opts.prefer;
  if (prefer !== undefined && prefer !== 'local' && prefer !== 'remote') {
    throw new CliError(`--prefer takes local or remote, not ${JSON.stringify(prefer)}`);
  }
  const wanted = path.resolve(dirArg ?? '.');
  const st = fs.statSync(wanted, { throwIfNoEntry: false });
  if (!st) fs.mkdirSync(wanted, { recursive: true });
  else if (!st.isDirectory())
    throw new CliError(`${wanted} is not a folder`, EXIT.error, 'sync keeps a folder in step');
  const dir = fs.realpathSync(wanted);

  const api = apiClientFor(opts);
  const task = await api.resolveTask(ref);
  if (task.status !== 'running' && task.status !== 'idle') {
    throw new AppError('TASK_NOT_RUNNING', `task ${task.id} is ${task.status}; sync needs a running task`);
  }
  const state = SyncState.load(statePath(dataDir(), task.id, dir), task.id, dir);
  const rules = IgnoreRules.create(dir, opts.exclude ?? []);
  const json = opts.json === true;
  const report = (e: SyncEvent) => {
    if (json) process.stdout.write(`${safeJson(e)}\n`);
    else if (e.type === 'conflict' || e.type === 'refused' || e.type === 'error' || e.type === 'stopped') {
      process.stderr.write(`${describeEvent(e)}\n`);
    } else process.stdout.write(`${describeEvent(e)}\n`);
  };
  const progress = (line: string) => {
    if (!json && process.stderr.isTTY) process.stderr.write(`\r\x1b[K${safeText(line)}`);
  };
  const engine = new SyncEngine({ api, taskId: task.id, dir, state, rules, prefer, report, progress });
  if (!json) {
    process.stderr.write(
      `syncing ${safeText(dir)} with task ${task.id}${rules.usesGit ? ' (.gitignore rules apply)' : ''}${state.existed ? '' : ' for the first time'}\n`,
    );
  }

  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    engine.stop('stopped (Ctrl-C)');
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (!opts.once) await engine.watchLocal();
    await engine.reconcile();
    if (!json && process.stderr.isTTY) process.stderr.write('\r\x1b[K');
    const failed = engine.counts.errors > 0;
    if (opts.once || interrupted) {
      await engine.close();
      return failed ? EXIT.error : EXIT.ok;
    }
    if (!json) process.stderr.write('watching both sides; Ctrl-C stops\n');
    let reason: string;
    try {
      reason = await engine.live();
    } catch (err) {
      // The agent going away mid-poll (AGENT_UNAVAILABLE) or the task refusing (TASK_NOT_RUNNING): when the
      // task has indeed stopped or hibernated, that is the end of the sync, not an error.
      const now = await api.getTask(task.id).catch(() => null);
      if (now !== null && now.status !== 'running' && now.status !== 'idle') {
        report({ type: 'stopped', reason: `task ${task.id} is ${now.status}; sync stopped` });
        return EXIT.ok;
      }
      throw err;
    }
    report({ type: 'stopped', reason: `sync ${reason}` });
    return EXIT.ok;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
