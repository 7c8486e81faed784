import { AppError, agentRepoFinishResultSchema, type Task } from '@rclaude/protocol';
import type { Logger } from 'pino';
import type { SandboxStore, SessionStore } from '../stores/types.js';
import type { AgentRpc } from './agent-rpc.js';
import type { TaskRecorder } from './task-recorder.js';
import type { TaskTimeline } from './task-transitions.js';

export interface WorkFinisherDeps {
  sessions: Pick<SessionStore, 'get'>;
  sandboxes: Pick<SandboxStore, 'get'>;
  rpc: AgentRpc;
  recorder: Pick<TaskRecorder, 'recordAgentEvent' | 'recorded'>;
  timeline: Pick<TaskTimeline, 'event'>;
  log: Logger;
  /** How long a stop or a hibernation waits for the diff and the push (RCLAUDE_FINISH_TIMEOUT_MS). */
  timeoutMs: number;
}

/**
 * Before a stop or a hibernation releases a sandbox: has its agent record the task's diff, and push when the
 * task asked for it (`repo:finish`, the code the session runner runs when the program exits), and records the
 * events it answers with, as it records any agent event (a push to a path on this machine is brought home
 * here, while the sandbox still exists). Bounded by `timeoutMs`, and never rejects: a sandbox whose agent is
 * gone or too slow is stopped all the same, with an `error` on the timeline saying the changes were not
 * recorded.
 */
export class WorkFinisher {
  constructor(private readonly deps: WorkFinisherDeps) {}

  async finish(task: Task, why: 'stopped' | 'hibernated'): Promise<void> {
    if (!task.repo) return;
    const started = Date.now();
    try {
      const main = await this.deps.sessions.get(task.mainSessionId);
      const record = main ? await this.deps.sandboxes.get(main.sandboxId) : null;
      if (!main || !record) return;
      const raw = await this.deps.rpc.call(
        record.sandboxId,
        'repo:finish',
        { sessionId: main.id, why },
        this.deps.timeoutMs,
      );
      const answer = agentRepoFinishResultSchema.safeParse(raw);
      if (!answer.success) throw new AppError('BAD_REQUEST', 'the agent answered repo:finish with something invalid');
      const left = () => Math.max(1, this.deps.timeoutMs - (Date.now() - started));
      const recording =
        answer.data.state === 'recorded'
          ? (async () => {
              for (const event of answer.data.events) {
                await this.deps.recorder.recordAgentEvent(record, { sessionId: main.id, ...event });
              }
            })()
          : (this.deps.recorder.recorded(record.sandboxId) ?? Promise.resolve());
      await withTimeout(recording, left());
    } catch (err) {
      const reason =
        err instanceof AppError ? err.message : `${(err as Error).message || 'unknown failure'}`.slice(0, 500);
      this.deps.log.warn({ err, taskId: task.id }, 'could not record the changes before the sandbox goes');
      await this.deps.timeline
        .event(task.id, 'error', {
          message:
            `could not record the changes${task.pushBranch ? ` or push ${task.pushBranch}` : ''} before the task was ${why}: ${reason}`.slice(
              0,
              2000,
            ),
        })
        .catch(() => undefined);
    }
  }
}

function withTimeout(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AppError('TIMEOUT', 'recording the changes took too long')), ms);
  });
  return Promise.race([work.then(() => undefined), late]).finally(() => clearTimeout(timer));
}
