/**
 * The behaviour every Provider promises, as one vitest suite to run against each implementation: the
 * local provider for real, ECS and E2B against the testkit emulators. Lives in test/, so it never reaches dist/.
 */
import { AppError } from '@rclaude/protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Provider, SandboxHandle, SandboxSpec, SandboxStatus } from '../src/providers/types.js';

/** What a provider's test file supplies to the contract suite. */
export interface ProviderContractFixture {
  provider: Provider;
  /**
   * A fresh spec (unique sandboxId) whose sandbox runs a stand-in for the agent. `extraEnv` is merged into
   * `spec.env`; the stand-in must honour the variables `exitWith` returns.
   */
  makeSpec(extraEnv?: Record<string, string>): SandboxSpec;
  /** Resolves with the environment the sandbox's main process saw, once it is running. */
  started(spec: SandboxSpec): Promise<Record<string, string>>;
  /** Env vars that make the stand-in exit by itself with `code` shortly after it started. */
  exitWith(code: number): Record<string, string>;
  /** Ends the sandbox behind the provider's back (cloud console, host failure, OOM kill). */
  killExternally(handle: SandboxHandle): Promise<void>;
  /** A handle of this provider that names no sandbox. */
  unknownHandle(): SandboxHandle;
  /** Releases what the fixture started (emulators, temp dirs); the provider is closed by the suite. */
  close(): Promise<void>;
}

export interface ProviderContractOptions {
  /** Upper bound for eventual states (stopped after a kill, gone from list), ms. Default 20000. */
  settleTimeoutMs?: number;
}

/** Registers the contract suite for the provider `setup` creates (once, before all tests). */
export function describeProviderContract(
  name: string,
  setup: () => Promise<ProviderContractFixture>,
  options: ProviderContractOptions = {},
): void {
  const settleTimeoutMs = options.settleTimeoutMs ?? 20_000;

  describe(`Provider contract: ${name}`, () => {
    let fixture: ProviderContractFixture;
    const started: SandboxHandle[] = [];

    const eventually = async <T>(what: string, check: () => Promise<T | undefined>): Promise<T> => {
      const deadline = Date.now() + settleTimeoutMs;
      let last: unknown;
      for (;;) {
        try {
          const value = await check();
          if (value !== undefined) return value;
        } catch (error) {
          last = error;
        }
        if (Date.now() > deadline) throw new Error(`${name}: timed out waiting for ${what}`, { cause: last });
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    const stateIs =
      (handle: SandboxHandle, states: SandboxStatus['state'][]) => async (): Promise<SandboxStatus | undefined> => {
        const status = await fixture.provider.inspect(handle);
        return states.includes(status.state) ? status : undefined;
      };
    const startTracked = async (spec: SandboxSpec): Promise<SandboxHandle> => {
      const handle = await fixture.provider.start(spec);
      started.push(handle);
      return handle;
    };

    beforeAll(async () => {
      fixture = await setup();
    });
    afterEach(async () => {
      await Promise.all(started.splice(0).map((h) => fixture.provider.stop(h, 'test cleanup').catch(() => undefined)));
    });
    afterAll(async () => {
      await fixture?.provider.close();
      await fixture?.close();
    });

    it('starts a sandbox whose main process gets the agent env, and reports it running', async () => {
      const spec = fixture.makeSpec({ RCLAUDE_CONTRACT_SECRET: 's3cret value with spaces' });
      const handle = await startTracked(spec);
      expect(handle.sandboxId).toBe(spec.sandboxId);
      expect(handle.provider).toBe(fixture.provider.name);
      expect(handle.ref).not.toBe('');
      const env = await fixture.started(spec);
      for (const key of ['RCLAUDE_PROXY_URL', 'RCLAUDE_SANDBOX_ID', 'RCLAUDE_CONTRACT_SECRET']) {
        expect(env[key], key).toBe(spec.env[key]);
      }
      // The start-up token: as itself, or as the one-time bootstrap reference the agent exchanges for its token
      // (providers whose environment passes through a cloud API that keeps it, like ECS).
      expect(env.RCLAUDE_AGENT_TOKEN ?? env.RCLAUDE_AGENT_BOOTSTRAP, 'the start-up token').toBe(
        spec.env.RCLAUDE_AGENT_TOKEN,
      );
      expect(await fixture.provider.inspect(handle)).toEqual({ state: 'running', exitCode: null, reason: null });
    });

    it('lists its running sandboxes, stops one idempotently, and then no longer lists it', async () => {
      const spec = fixture.makeSpec();
      const handle = await startTracked(spec);
      await fixture.started(spec);
      const listed = await fixture.provider.list();
      expect(listed).toContainEqual(handle);
      await fixture.provider.stop(handle, 'contract test');
      const status = await eventually('stopped after stop()', stateIs(handle, ['stopped', 'missing']));
      expect(['stopped', 'missing']).toContain(status.state);
      await fixture.provider.stop(handle, 'contract test again');
      await eventually('gone from list()', async () =>
        (await fixture.provider.list()).some((h) => h.sandboxId === spec.sandboxId) ? undefined : true,
      );
    });

    it('reports a sandbox whose main process exited by itself as stopped, with its exit code', async () => {
      const spec = fixture.makeSpec(fixture.exitWith(3));
      const handle = await startTracked(spec).catch((error: unknown) => {
        // A provider may notice the exit while starting; then it must fail the start.
        expect(error).toBeInstanceOf(AppError);
        expect((error as AppError).code).toBe('SANDBOX_START_FAILED');
        return null;
      });
      if (!handle) return;
      const status = await eventually('stopped by itself', stateIs(handle, ['stopped']));
      expect(status.exitCode).toBe(3);
      expect(status.reason).toBeTruthy();
    });

    it('reports a sandbox killed from outside as stopped, with a reason', async () => {
      const spec = fixture.makeSpec();
      const handle = await startTracked(spec);
      await fixture.started(spec);
      await fixture.killExternally(handle);
      const status = await eventually('stopped after an outside kill', stateIs(handle, ['stopped']));
      expect(status.reason).toBeTruthy();
    });

    it('says missing for a sandbox it does not know, and stopping one succeeds', async () => {
      const unknown = fixture.unknownHandle();
      expect((await fixture.provider.inspect(unknown)).state).toBe('missing');
      await expect(fixture.provider.stop(unknown, 'contract test')).resolves.toBeUndefined();
    });

    it('refuses a start whose signal is already aborted, leaving nothing running', async () => {
      const spec = fixture.makeSpec();
      const controller = new AbortController();
      controller.abort(new Error('caller gave up'));
      const error = await fixture.provider.start(spec, controller.signal).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AppError);
      expect((await fixture.provider.list()).some((h) => h.sandboxId === spec.sandboxId)).toBe(false);
    });
  });
}
