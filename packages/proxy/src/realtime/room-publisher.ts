import { type SessionStatusInfo, shareableEvent, type Task, type TaskEvent } from '@rclaude/protocol';
import type { ClientNamespace } from '../services/session-hub.js';
import type { TaskPublisher } from '../services/task-publisher.js';
import { rooms } from './rooms.js';

/** Task changes emitted on `/client` to Socket.io rooms; with the Redis adapter they reach every proxy. */
export class RoomPublisher implements TaskPublisher {
  constructor(private readonly clients: ClientNamespace) {}

  taskUpdated(task: Task): void {
    this.clients.to([rooms.task(task.id), rooms.user(task.owner), rooms.admins]).emit('task:updated', task);
    // Share-link viewers get the name and status only: a Task names its owner, repository and command.
    this.clients.to(rooms.shareTask(task.id)).emit('share:task', { name: task.name, status: task.status });
  }

  taskEvent(task: Pick<Task, 'id' | 'owner'>, event: TaskEvent): void {
    this.clients.to([rooms.task(task.id), rooms.user(task.owner), rooms.admins]).emit('task:event', event);
    const shared = shareableEvent(event);
    if (shared) this.clients.to(rooms.shareTask(task.id)).emit('task:event', shared);
  }

  sessionStatus(info: SessionStatusInfo): void {
    this.clients.to(rooms.session(info.sessionId)).emit('session:status', info);
  }
}
