import { Router } from 'express';
import type { TaskService } from '../services/task-service.js';
import { requireAuth } from './context.js';

/** `/api/usage`: the caller's spending this calendar month (compute and model cost, tokens, budget). */
export function createUsageRouter(tasks: TaskService): Router {
  const r = Router();
  r.get('/', async (req, res) => {
    res.json(await tasks.usage(requireAuth(req)));
  });
  return r;
}
