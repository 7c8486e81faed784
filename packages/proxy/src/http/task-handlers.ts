import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import { AppError, ASCIICAST_CONTENT_TYPE } from '@rclaude/protocol';
import type { PullRequestService } from '../services/pull-requests.js';
import type { TaskService } from '../services/task-service.js';
import type { Handlers, TaggedRouteName } from './mount-routes.js';

/** Handlers of the `tasks` and `sessions` routes: one service call each. */
export function createTaskHandlers(
  tasks: TaskService,
  pullRequests: Pick<PullRequestService, 'push' | 'open'> | null = null,
): Handlers<TaggedRouteName<'tasks'> | TaggedRouteName<'sessions'>> {
  const prs = () => {
    if (!pullRequests) throw new AppError('INTERNAL', 'this server does not push tasks');
    return pullRequests;
  };
  return {
    createTask: async ({ body }, ctx) => tasks.create(ctx.auth(), body),
    listTasks: async ({ query }, ctx) => ({ tasks: await tasks.list(ctx.auth(), query) }),
    getTask: async ({ params }, ctx) => tasks.get(ctx.auth(), params.id),
    deleteTask: async ({ params }, ctx) => tasks.remove(ctx.auth(), params.id),
    stopTask: async ({ params, body }, ctx) => tasks.stop(ctx.auth(), params.id, body),
    pushTask: async ({ params, body }, ctx) => prs().push(ctx.auth(), params.id, body),
    createPullRequest: async ({ params, body }, ctx) => prs().open(ctx.auth(), params.id, body),
    createCheckpoint: async ({ params }, ctx) => tasks.checkpoint(ctx.auth(), params.id),
    listCheckpoints: async ({ params }, ctx) => ({ checkpoints: await tasks.listCheckpoints(ctx.auth(), params.id) }),
    resumeTask: async ({ params, body }, ctx) => tasks.resume(ctx.auth(), params.id, body),
    keepTask: async ({ params }, ctx) => tasks.keep(ctx.auth(), params.id),
    forkTask: async ({ params, body }, ctx) => tasks.fork(ctx.auth(), params.id, body),
    importTask: async (_input, { auth, req, res }) =>
      tasks.importTask(auth(), req).catch((err: unknown) => {
        // A refused upload is not read to its end: the connection cannot carry another request.
        res.setHeader('connection', 'close');
        throw err;
      }),
    getCheckpointManifest: async ({ params }, ctx) =>
      tasks.checkpointManifest(ctx.auth(), params.id, params.checkpoint),
    getCheckpointBlob: async ({ params }, { auth, res }) => {
      const blob = await tasks.checkpointBlob(auth(), params.id, params.checkpoint, params.hash);
      res.status(200).set({ 'content-type': 'application/octet-stream', 'content-length': String(blob.size) });
      await pipeline(blob.body, res);
    },
    listTaskEvents: async ({ params, query }, ctx) => ({
      events: await tasks.events(ctx.auth(), params.id, query.after),
    }),
    continueTask: async ({ params, body }, ctx) => tasks.continueTask(ctx.auth(), params.id, body),
    listTaskSessions: async ({ params }, ctx) => ({ sessions: await tasks.sessionsOf(ctx.auth(), params.id) }),
    usage: async (_input, ctx) => tasks.usage(ctx.auth()),
    createSession: async ({ body }, ctx) => tasks.createSession(ctx.auth(), body),
    getSession: async ({ params }, ctx) => tasks.info(await tasks.session(ctx.auth(), params.id)),
    execute: async ({ params, body }, ctx) => tasks.execute(ctx.auth(), params.id, body),
    getSessionRecording: async ({ params }, { auth, req, res }) => {
      // Refusals (another user's session, a missing one) come before the first byte, as JSON errors.
      const lines = await tasks.recording(auth(), params.id);
      res.status(200).type(ASCIICAST_CONTENT_TYPE);
      res.setHeader('Content-Disposition', `inline; filename="${params.id}.cast"`);
      res.setHeader('Cache-Control', 'no-store');
      for await (const line of lines) {
        if (req.destroyed || res.destroyed) return;
        // A reader slower than the log: wait for it rather than buffer the whole recording.
        if (!res.write(`${line}\n`)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
      }
      res.end();
    },
  };
}
