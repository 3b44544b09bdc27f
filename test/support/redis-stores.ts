import { randomUUID } from 'node:crypto';
import { afterEach } from 'vitest';
import { createRedisKeys, type RedisKeys } from '../../src/persistence/redis-keys.ts';
import { createRedisStore, type RedisStore } from '../../src/persistence/redis-store.ts';
import type { RedisStoreOptions } from '../../src/persistence/redis-store-options.ts';
import { dropPrefix, REDIS_URL } from '../durable/redis-helpers.ts';

/**
 * Call inside a `describe`: returns a maker of RedisStores, each on a prefix of its own
 * (`xsaga-<label>-<uuid>`), closed and their keys deleted after each test.
 */
export function useRedisStores(label: string): (options?: Omit<RedisStoreOptions, 'connection' | 'prefix'>) => {
  store: RedisStore;
  prefix: string;
  keys: RedisKeys;
} {
  const stores: RedisStore[] = [];
  const prefixes: string[] = [];
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    for (const prefix of prefixes.splice(0)) await dropPrefix(prefix);
  });
  return (options = {}) => {
    const prefix = `xsaga-${label}-${randomUUID()}`;
    prefixes.push(prefix);
    const store = createRedisStore({ connection: REDIS_URL, prefix, ...options });
    stores.push(store);
    return { store, prefix, keys: createRedisKeys(prefix) };
  };
}
