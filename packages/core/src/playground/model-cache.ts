import type { ModelInfo, Provider } from './schema.ts';

/** How long a provider's model list is served from memory. */
export const MODEL_CACHE_TTL_MS = 15 * 60 * 1000;

interface Entry {
  models: ModelInfo[];
  expiresAt: number;
}

const entries = new Map<Provider, Entry>();
/** Concurrent cache misses for one provider share one provider call. */
const pending = new Map<Provider, Promise<ModelInfo[]>>();

/**
 * The provider's models from this process's cache, or from `load` when missing, expired or `refresh`ed.
 * A successful load repopulates the cache; a failed one leaves the previous entry as it was.
 */
export async function cachedModels(
  provider: Provider,
  load: () => Promise<ModelInfo[]>,
  refresh: boolean,
): Promise<ModelInfo[]> {
  if (!refresh) {
    const entry = entries.get(provider);
    if (entry && entry.expiresAt > Date.now()) return entry.models;
    const inFlight = pending.get(provider);
    if (inFlight) return inFlight;
  }
  const promise = load().then((models) => {
    entries.set(provider, { models, expiresAt: Date.now() + MODEL_CACHE_TTL_MS });
    return models;
  });
  pending.set(provider, promise);
  try {
    return await promise;
  } finally {
    if (pending.get(provider) === promise) pending.delete(provider);
  }
}
