import type { ProviderName } from '@rclaude/protocol';

/**
 * What a provider is given to start one sandbox. The sandbox must run the agent with these three
 * values in its environment (plus `env`), and nothing else is needed: the agent dials out.
 */
export interface SandboxSpec {
  /** Our id for the sandbox; the agent presents it when it connects. */
  sandboxId: string;
  /** The task it serves, or null for a warm-pool sandbox not yet claimed. */
  taskId: string | null;
  owner: string | null;
  /** Agent environment: RCLAUDE_PROXY_URL, RCLAUDE_SANDBOX_ID, RCLAUDE_AGENT_TOKEN, and secrets. */
  env: Record<string, string>;
  /** Hard cap on the sandbox's life (the provider enforces it where it can). */
  maxLifetimeMs: number;
}

/** A sandbox as a provider reports it. `ref` is the provider's own handle (pid, task ARN, sandbox id). */
export interface SandboxHandle {
  sandboxId: string;
  provider: ProviderName;
  ref: string;
}

export type SandboxState = 'starting' | 'running' | 'stopped' | 'missing';

export interface SandboxStatus {
  state: SandboxState;
  /** Exit code of the sandbox's main process when it stopped by itself. */
  exitCode: number | null;
  /** Provider's words for why it stopped ("UserInitiated", "EssentialContainerExited", ...). */
  reason: string | null;
  /**
   * A resource limit the sandbox reached, in words for its task's timeline ("the sandbox ran out of memory
   * (limit 4 GiB)"); set while it runs too (a process was killed for it). Absent when none, or not known.
   */
  fault?: string;
}

/** Facts needed to price a sandbox: its size. Price per second comes from configuration. */
export interface SandboxSize {
  vcpu: number;
  memoryMiB: number;
}

/**
 * Providers only start, inspect and stop sandboxes; the agent does the rest. Errors are AppErrors with
 * code SANDBOX_START_FAILED / PROVIDER_UNAVAILABLE and a message that says what to fix.
 */
export interface Provider {
  readonly name: ProviderName;
  readonly size: SandboxSize;
  start(spec: SandboxSpec, signal?: AbortSignal): Promise<SandboxHandle>;
  inspect(handle: SandboxHandle): Promise<SandboxStatus>;
  /** Idempotent: stopping a stopped or missing sandbox succeeds. */
  stop(handle: SandboxHandle, reason: string): Promise<void>;
  /** Sandboxes this provider is running that were started by this installation (for reconciliation). */
  list(): Promise<SandboxHandle[]>;
  /** Releases clients and timers (not sandboxes). */
  close(): Promise<void>;
  /**
   * Pauses a running sandbox with its memory (E2B): its processes stop where they are and it costs no compute
   * until {@link Provider.resume}. Only providers that can offer it; `stop` still ends a paused sandbox.
   * Rejects (PROVIDER_UNAVAILABLE) when the provider refused; the caller then stops the sandbox instead.
   */
  pause?(handle: SandboxHandle): Promise<void>;
  /**
   * Resumes a paused sandbox: its processes continue as they were, and it may run `lifetimeMs` from now.
   * Rejects with NOT_FOUND when the provider no longer has it, PROVIDER_UNAVAILABLE when it could not resume it.
   */
  resume?(handle: SandboxHandle, opts: { lifetimeMs: number; signal?: AbortSignal }): Promise<void>;
}
