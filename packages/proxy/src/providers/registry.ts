import { AppError, type ProviderName } from '@rclaude/protocol';
import type { Provider } from './types.js';

/**
 * The providers this server can use. Each is created on first use, so a server whose default is `local`
 * does not need AWS or E2B settings until a task asks for them; a provider that is not configured fails
 * with a message naming the settings it needs.
 */
export class ProviderRegistry {
  private readonly made = new Map<ProviderName, Provider>();
  /** Why a provider cannot be created here; configuration does not change while the server runs. */
  private readonly unavailable = new Map<ProviderName, AppError>();

  constructor(
    readonly defaultName: ProviderName,
    private readonly factories: Record<ProviderName, () => Provider>,
  ) {}

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
      try {
        provider = factory();
      } catch (err) {
        if (err instanceof AppError && err.code === 'PROVIDER_UNAVAILABLE') this.unavailable.set(name, err);
        throw err;
      }
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
