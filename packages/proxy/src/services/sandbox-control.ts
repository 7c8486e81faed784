import type { Task } from '@rclaude/protocol';
import type { Logger } from 'pino';
import type { Provider, SandboxHandle } from '../providers/types.js';
import type { SandboxRecord, SandboxStore } from '../stores/types.js';

export interface SandboxControlDeps {
  sandboxes: SandboxStore;
  providers: { get(name: Task['provider']): Provider };
  log: Logger;
}

/**
 * A recorded sandbox's provider calls: stop and inspect. Apart from launching, because ending a task (task
 * transitions) and a lost agent's grace period (agent sessions) need them too.
 */
export class SandboxControl {
  constructor(private readonly deps: SandboxControlDeps) {}

  /** Marks the sandbox stopped, then asks its provider to stop it (a failure is logged). */
  async stop(record: SandboxRecord, reason: string): Promise<void> {
    if (record.state === 'stopped') return;
    await this.deps.sandboxes.update(record.sandboxId, { state: 'stopped' });
    if (!record.ref) return;
    try {
      await this.deps.providers.get(record.provider).stop(handleOf(record), reason);
    } catch (err) {
      this.deps.log.error({ err, sandboxId: record.sandboxId }, 'stopping sandbox failed');
    }
  }

  /** What the provider says about the sandbox now. */
  inspect(record: SandboxRecord) {
    return this.deps.providers.get(record.provider).inspect(handleOf(record));
  }
}

function handleOf(record: SandboxRecord): SandboxHandle {
  return { sandboxId: record.sandboxId, provider: record.provider, ref: record.ref ?? '' };
}
