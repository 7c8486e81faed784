import { AppError, type ProviderName } from '@rclaude/protocol';
import type { Provider } from './types.js';

/**
 * Makes a provider, or throws (PROVIDER_UNAVAILABLE naming the settings it needs) when it is not configured
 * here. A factory may be async: the cloud providers load their SDK only once their settings are known to be
 * present, and {@link ProviderRegistry.prepare} runs such factories before the server serves.
 */
export type ProviderFactory = () => Provider | Promise<Provider>;

/**
 * The providers this server can use. A synchronous factory is called on first use, so a server whose default
 * is `local` does not need AWS or E2B settings until a task asks for them; an async one is called by
 * `prepare()`. A provider that is not configured fails with a message naming the settings it needs.
 */
export class ProviderRegistry {
  private readonly made = new Map<ProviderName, Provider>();
  /** Why a provider cannot be created here; configuration does not change while the server runs. */
  private readonly unavailable = new Map<ProviderName, AppError>();
  /** Async factories a `get()` started before `prepare()`: prepare awaits them instead of calling again. */
  private readonly loading = new Map<ProviderName, Promise<Provider>>();

  constructor(
    readonly defaultName: ProviderName,
    private readonly factories: Record<ProviderName, ProviderFactory>,
  ) {}

  /**
   * Runs every factory not run yet: an async one can run only here, and what it made (or why it is unavailable)
   * is kept. A synchronous one that throws is left for `get()` to say why, each time it is asked.
   */
  async prepare(): Promise<void> {
    for (const name of Object.keys(this.factories) as ProviderName[]) {
      if (this.made.has(name) || this.unavailable.has(name)) continue;
      let result: Provider | Promise<Provider>;
      try {
        result = this.loading.get(name) ?? (this.factories[name] as ProviderFactory)();
      } catch {
        continue;
      }
      try {
        this.made.set(name, await result);
        this.loading.delete(name);
      } catch (err) {
        this.loading.delete(name);
        const why = err instanceof Error ? err.message : String(err);
        this.unavailable.set(
          name,
          err instanceof AppError
            ? err
            : new AppError('PROVIDER_UNAVAILABLE', `the ${name} provider cannot be used here: ${why}`, { cause: err }),
        );
      }
    }
  }

  get default(): ProviderName {
    return this.defaultName;
  }

  get(name: ProviderName): Provider {
    let provider = this.made.get(name);
    if (!provider) {
      const refused = this.unavailable.get(name);
      if (refused) throw refused;
      const factory = this.factories[name];
      if (!factory) throw new AppError('PROVIDER_UNAVAILABLE', `unknown provider ${name}`);
      let made: Provider | Promise<Provider>;
      try {
        made = this.loading.get(name) ?? factory();
      } catch (err) {
        if (err instanceof AppError && err.code === 'PROVIDER_UNAVAILABLE') this.unavailable.set(name, err);
        throw err;
      }
      if (made instanceof Promise) {
        made.catch(() => undefined);
        this.loading.set(name, made);
        throw new AppError('PROVIDER_UNAVAILABLE', `the ${name} provider is loaded by prepare(), before the first use`);
      }
      provider = made;
      this.made.set(name, provider);
    }
    return provider;
  }

  /**
   * Every provider this server is configured for, created now if need be; those not configured are left
   * out. Reconciliation asks each for its sandboxes, so an orphan is found even when no task record still
   * names its provider (creating a cloud provider makes no network call).
   */
  active(): Provider[] {
    const out: Provider[] = [];
    for (const name of Object.keys(this.factories) as ProviderName[]) {
      try {
        out.push(this.get(name));
      } catch {
        // Not usable here, so it runs no sandboxes of ours; a task asking for it gets the reason from get().
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all([...this.made.values()].map((p) => p.close()));
  }
}
