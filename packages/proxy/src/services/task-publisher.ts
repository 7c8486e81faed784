import type { SessionStatusInfo, Task, TaskEvent } from '@rclaude/protocol';

/**
 * Where task changes go once stored: to the clients watching them. Services call it; `realtime/` implements it
 * with Socket.io rooms (RoomPublisher), so services never see a socket. Every call is fire-and-forget.
 */
export interface TaskPublisher {
  /** A task's new state, to the watchers of the task, of its owner's tasks, and admins. */
  taskUpdated(task: Task): void;
  /** An entry appended to `task`'s timeline, to the same watchers as `taskUpdated`. */
  taskEvent(task: Pick<Task, 'id' | 'owner'>, event: TaskEvent): void;
  /** Whether a session's agent is connected, to the clients attached to that session. */
  sessionStatus(info: SessionStatusInfo): void;
}
