import { AppError, type Task } from '@rclaude/protocol';
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

  /**
   * Releases a hibernating task's sandbox: paused with its memory where the provider can (the record becomes
   * `paused`, its agent's token still good for a resume), else stopped. A refused pause stops it (logged):
   * the task's checkpoint, taken first, is what its resume falls back to.
   */
  async hibernate(record: SandboxRecord, reason: string): Promise<'paused' | 'stopped'> {
    if (record.state === 'stopped') return 'stopped';
    const provider = this.deps.providers.get(record.provider);
    if (record.ref && provider.pause) {
      try {
        await provider.pause(handleOf(record));
        await this.deps.sandboxes.update(record.sandboxId, { state: 'paused' });
        return 'paused';
      } catch (err) {
        this.deps.log.warn({ err, sandboxId: record.sandboxId }, 'pausing sandbox failed; stopping it');
      }
    }
    await this.stop(record, reason);
    return 'stopped';
  }

  /**
   * Resumes a paused sandbox, which may then run `lifetimeMs`; null when it runs again (the record `claimed`),
   * else why not, in words for a timeline: the caller then kills what remains ({@link stop}) and restores a
   * checkpoint. Gives up after `timeoutMs`.
   */
  async resume(record: SandboxRecord, lifetimeMs: number, timeoutMs: number): Promise<string | null> {
    const provider = this.deps.providers.get(record.provider);
    if (record.state !== 'paused' || !record.ref || !provider.resume) return 'the sandbox is not paused';
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    try {
      await Promise.race([
        provider.resume(handleOf(record), { lifetimeMs, signal: abort.signal }),
        new Promise<never>((_, reject) =>
          abort.signal.addEventListener('abort', () =>
            reject(new AppError('PROVIDER_UNAVAILABLE', `it did not resume within ${Math.round(timeoutMs / 1000)} s`)),
          ),
        ),
      ]);
      await this.deps.sandboxes.update(record.sandboxId, { state: 'claimed' });
      return null;
    } catch (err) {
      this.deps.log.warn({ err, sandboxId: record.sandboxId }, 'resuming a paused sandbox failed');
      if (err instanceof AppError && err.code === 'NOT_FOUND') return 'the provider no longer has it';
      return err instanceof AppError ? err.message : 'the provider could not resume it';
    } finally {
      clearTimeout(timer);
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
