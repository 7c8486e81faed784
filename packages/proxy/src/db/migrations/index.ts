import type { Migration } from '../migrate.js';
import { sql as tasks } from './001-tasks.js';
import { sql as accounts } from './002-accounts.js';
import { sql as taskOrder } from './003-task-order.js';
import { sql as sandboxOrder } from './004-sandbox-order.js';
import { sql as taskPush } from './005-task-push.js';
import { sql as loginLinks } from './006-login-links.js';
import { sql as taskAllowHosts } from './007-task-allow-hosts.js';
import { sql as checkpoints } from './008-checkpoints.js';
import { sql as approvals } from './009-approvals.js';
import { sql as push } from './010-push.js';
import { sql as pullRequests } from './011-pull-requests.js';
import { sql as handoff } from './012-handoff.js';
import { sql as shareLinks } from './014-share-links.js';
import { sql as checkpointSweep } from './015-checkpoint-sweep.js';
import { sql as userAllowHosts } from './016-user-allow-hosts.js';
import { sql as driveRequests } from './018-drive-requests.js';
import { sql as pausedSandboxes } from './019-paused-sandboxes.js';

/**
 * Every schema migration, in order. Adding one is a new numbered file exporting `sql` plus one line
 * here. Never edit, renumber or remove a migration once it has shipped: databases remember the ids.
 */
export const migrations: readonly Migration[] = [
  { id: 1, name: 'tasks', sql: tasks },
  { id: 2, name: 'accounts', sql: accounts },
  { id: 3, name: 'task-order', sql: taskOrder },
  { id: 4, name: 'sandbox-order', sql: sandboxOrder },
  { id: 5, name: 'task-push', sql: taskPush },
  { id: 6, name: 'login-links', sql: loginLinks },
  { id: 7, name: 'task-allow-hosts', sql: taskAllowHosts },
  { id: 8, name: 'checkpoints', sql: checkpoints },
  { id: 9, name: 'approvals', sql: approvals },
  { id: 10, name: 'push', sql: push },
  { id: 11, name: 'pull-requests', sql: pullRequests },
  { id: 12, name: 'handoff', sql: handoff },
  { id: 14, name: 'share-links', sql: shareLinks },
  { id: 15, name: 'checkpoint-sweep', sql: checkpointSweep },
  { id: 16, name: 'user-allow-hosts', sql: userAllowHosts },
  { id: 18, name: 'drive-requests', sql: driveRequests },
  { id: 19, name: 'paused-sandboxes', sql: pausedSandboxes },
];
