import { createSessionRequestSchema, executeRequestSchema, sessionIdSchema } from '@rclaude/protocol';
import { Router } from 'express';
import type { TaskService } from '../services/task-service.js';
import { requireAuth } from './context.js';
import { parseInput } from './validate.js';

/** `/api/sessions`: extra PTYs beside the main one, their live state, and run-to-completion commands. */
export function createSessionsRouter(tasks: TaskService): Router {
  const r = Router();
  const id = (raw: unknown) => parseInput(sessionIdSchema, raw, 'session id');

  r.post('/', async (req, res) => {
    const body = parseInput(createSessionRequestSchema, req.body, 'session');
    res.status(201).json(await tasks.createSession(requireAuth(req), body));
  });
  r.get('/:id', async (req, res) => {
    const auth = requireAuth(req);
    res.json(await tasks.info(await tasks.session(auth, id(req.params.id))));
  });
  r.post('/:id/execute', async (req, res) => {
    const body = parseInput(executeRequestSchema, req.body, 'command');
    res.json(await tasks.execute(requireAuth(req), id(req.params.id), body));
  });
  return r;
}
