import type { PortPreview } from '@rclaude/protocol';
import type { AuthContext } from '../services/auth-context.js';
import type { Handlers, TaggedRouteName } from './mount-routes.js';

/** Handlers of the `ports` routes. */
export type PortHandlers = Handlers<TaggedRouteName<'ports'>>;

/**
 * `POST /api/tasks/:id/ports/:port/preview`: `running` checks the caller may use the task (owner or admin) and
 * that it runs; `link` signs the preview link.
 */
export function createPortHandlers(deps: {
  running: (auth: AuthContext, taskId: string) => Promise<unknown>;
  link: (auth: AuthContext, taskId: string, port: number) => PortPreview;
}): PortHandlers {
  return {
    createPortPreview: async ({ params }, ctx) => {
      const auth = ctx.auth();
      await deps.running(auth, params.id);
      return deps.link(auth, params.id, params.port);
    },
  };
}
