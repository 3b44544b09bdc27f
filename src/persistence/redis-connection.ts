import { Redis } from 'ioredis';
import type { OutageReporter } from '../observability/outage-reporter.ts';
import type { RedisStoreOptions } from './redis-store-options.ts';

// The connections of a RedisStore: the one it is given or opens, and how their errors are reported.

/** Reports a connection's errors through `outage`: the first of an outage, then nothing until it is ready again. */
export function watchConnection(redis: Redis, outage: OutageReporter): void {
  redis.on('error', (error: unknown) => outage.error(error));
  redis.on('ready', () => outage.ready());
}

/**
 * The store's connection from its `connection` option: the `Redis` given (shared, `owned` false),
 * else one it opens from a URL, `RedisOptions` or the default (owned, its errors watched).
 *
 * @throws TypeError when the connection has ioredis' `keyPrefix` set.
 */
export function openConnection(
  connection: RedisStoreOptions['connection'],
  outage: OutageReporter,
): { redis: Redis; owned: boolean } {
  const shared = isRedis(connection);
  const redis = shared
    ? connection
    : typeof connection === 'string'
      ? new Redis(connection)
      : connection
        ? new Redis(connection)
        : new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  if (redis.options.keyPrefix) {
    if (!shared) redis.disconnect();
    throw new TypeError(
      `RedisStore does not support ioredis keyPrefix ("${redis.options.keyPrefix}"): its Lua scripts build keys themselves; use the store's prefix option instead`,
    );
  }
  // ioredis reconnects by itself and commands wait for it; a shared connection's errors are its
  // owner's to handle.
  if (!shared) watchConnection(redis, outage);
  return { redis, owned: !shared };
}

/** A Redis instance, also one from another copy of ioredis (where `instanceof` fails). */
function isRedis(connection: RedisStoreOptions['connection']): connection is Redis {
  if (connection instanceof Redis) return true;
  const candidate = connection as { defineCommand?: unknown; quit?: unknown } | undefined;
  return typeof candidate?.defineCommand === 'function' && typeof candidate.quit === 'function';
}
