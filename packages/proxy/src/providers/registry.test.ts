import { AppError } from '@rclaude/protocol';
import { describe, expect, it } from 'vitest';
import { ProviderRegistry } from './registry.js';
import type { Provider } from './types.js';

function fakeProvider(name: Provider['name']): Provider {
  return {
    name,
    size: { vcpu: 1, memoryMiB: 1024 },
    start: async (spec) => ({ sandboxId: spec.sandboxId, provider: name, ref: 'r' }),
    inspect: async () => ({ state: 'missing', exitCode: null, reason: null }),
    stop: async () => {},
    list: async () => [],
    close: async () => {},
  };
}

const notConfigured = () => {
  throw new AppError('PROVIDER_UNAVAILABLE', 'the E2B provider needs an API key: set E2B_API_KEY');
};

describe('ProviderRegistry', () => {
  it('creates each provider once, on first use', () => {
    let made = 0;
    const registry = new ProviderRegistry('local', {
      local: () => {
        made++;
        return fakeProvider('local');
      },
      ecs: () => fakeProvider('ecs'),
      e2b: notConfigured,
      docker: notConfigured,
    });
    expect(made).toBe(0);
    expect(registry.get('local')).toBe(registry.get('local'));
    expect(made).toBe(1);
  });

  it('says why a provider that is not configured cannot be used, every time it is asked', () => {
    let attempts = 0;
    const registry = new ProviderRegistry('local', {
      local: () => fakeProvider('local'),
      ecs: () => fakeProvider('ecs'),
      e2b: () => {
        attempts++;
        return notConfigured();
      },
      docker: notConfigured,
    });
    for (let i = 0; i < 2; i++) {
      expect(() => registry.get('e2b')).toThrow(/set E2B_API_KEY/);
    }
    expect(attempts).toBe(1);
  });

  // Regression: reconciliation used to ask only the providers some live task had already created, so after a
  // restart an orphaned ECS task or E2B sandbox with no record left was never found.
  it('lists every configured provider for reconciliation, not only those used so far', () => {
    const registry = new ProviderRegistry('local', {
      local: () => fakeProvider('local'),
      ecs: () => fakeProvider('ecs'),
      e2b: notConfigured,
      docker: notConfigured,
    });
    expect(registry.active().map((p) => p.name)).toEqual(['local', 'ecs']);
  });

  it('leaves out a provider whose creation fails for any reason', () => {
    const registry = new ProviderRegistry('ecs', {
      local: () => {
        throw new Error('EACCES: permission denied');
      },
      ecs: () => fakeProvider('ecs'),
      e2b: () => fakeProvider('e2b'),
      docker: notConfigured,
    });
    expect(registry.active().map((p) => p.name)).toEqual(['ecs', 'e2b']);
  });

  it('runs async factories in prepare(): keeps what they made, and why one is unavailable', async () => {
    let loaded = 0;
    const registry = new ProviderRegistry('local', {
      local: () => fakeProvider('local'),
      ecs: async () => {
        loaded++;
        return fakeProvider('ecs');
      },
      e2b: async () => notConfigured(),
      docker: async () => {
        throw new Error('connect ENOENT /var/run/docker.sock');
      },
    });
    // Before prepare(), an async provider cannot be had (it would need an await).
    expect(() => registry.get('ecs')).toThrow(/loaded by prepare\(\)/);
    await registry.prepare();
    await registry.prepare();
    expect(loaded).toBe(1);
    expect(registry.get('ecs').name).toBe('ecs');
    expect(() => registry.get('e2b')).toThrow(/set E2B_API_KEY/);
    expect(() => registry.get('docker')).toThrow(/the docker provider cannot be used here: connect ENOENT/);
    expect(registry.active().map((p) => p.name)).toEqual(['local', 'ecs']);
  });
});
