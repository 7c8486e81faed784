import {
  continueTaskRequestSchema,
  createTaskRequestSchema,
  listTaskEventsQuerySchema,
  listTasksQuerySchema,
  taskIdSchema,
} from '@rclaude/protocol';
import { Router } from 'express';
import type { TaskService } from '../services/task-service.js';
import { requireAuth } from './context.js';
import { parseInput } from './validate.js';

/** `/api/tasks`: thin routes, one service call each. */
export function createTasksRouter(tasks: TaskService): Router {
  const r = Router();
  const id = (raw: unknown) => parseInput(taskIdSchema, raw, 'task id');

  r.post('/', async (req, res) => {
    const body = parseInput(createTaskRequestSchema, req.body, 'task');
    res.status(201).json(await tasks.create(requireAuth(req), body));
  });
  r.get('/', async (req, res) => {
    const query = parseInput(listTasksQuerySchema, req.query, 'query');
    res.json({ tasks: await tasks.list(requireAuth(req), query) });
  });
  r.get('/:id', async (req, res) => {
    res.json(await tasks.get(requireAuth(req), id(req.params.id)));
  });
  r.delete('/:id', async (req, res) => {
    await tasks.remove(requireAuth(req), id(req.params.id));
    res.status(204).end();
  });
  r.post('/:id/stop', async (req, res) => {
    res.json(await tasks.stop(requireAuth(req), id(req.params.id)));
  });
  r.get('/:id/events', async (req, res) => {
    const query = parseInput(listTaskEventsQuerySchema, req.query, 'query');
    res.json({ events: await tasks.events(requireAuth(req), id(req.params.id), query.after) });
  });
  r.post('/:id/continue', async (req, res) => {
    const body = parseInput(continueTaskRequestSchema, req.body ?? {}, 'request');
    res.status(201).json(await tasks.continueTask(requireAuth(req), id(req.params.id), body));
  });
  r.get('/:id/sessions', async (req, res) => {
    res.json({ sessions: await tasks.sessionsOf(requireAuth(req), id(req.params.id)) });
  });
  return r;
}
