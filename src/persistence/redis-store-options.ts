import type { Redis, RedisOptions } from 'ioredis';
import type { Logger } from '../observability/logger.ts';

/** Options of {@link createRedisStore}. */
export interface RedisStoreOptions {
  /**
   * Where the errors of the connections this store opened go (its own, and the subscriber of
   * `waitFor`), once per outage (see OutageReporter): the commands that fail meanwhile also fail
   * to their callers. `createEngine({ redis })` reports them on the engine's `error` event.
   * Default: a `warn` line on `logger`.
   */
  onError?: (error: unknown) => void;
  /** Where this store logs (under `child({ component: 'store' })`). Default: warn and error on stderr. */
  logger?: Logger;
  /**
   * Where Redis is. A connected `Redis` instance is shared: the store uses it and `close()` leaves
   * it open. A URL or `RedisOptions` makes a connection the store owns and `close()` quits.
   * Default: `process.env.REDIS_URL`, else `redis://127.0.0.1:6379`. Do not set ioredis'
   * `keyPrefix`: use `prefix`, which the Lua scripts also honour.
   */
  connection?: RedisOptions | string | Redis;
  /** Start of every key (see `redis-keys.ts` for the layout); no braces. Default `xsaga`. */
  prefix?: string;
  /**
   * Keep finished sagas for a while only: on reaching `Completed` or `Failed`, the saga (its hash
   * and its snapshot), its log and its idempotency key expire after `finalTtlSeconds`, all at the
   * same millisecond. Index entries are dropped lazily by `list`. Default: kept forever.
   */
  retention?: { finalTtlSeconds: number };
  /** Keep each saga's log in a Redis list (`history`). Default true; false: `history` is `[]`. */
  log?: boolean;
}

/**
 * The TTL of sagas in a final state, from the `retention` option; 0 keeps them forever.
 *
 * @throws TypeError when `finalTtlSeconds` is not a whole number of seconds >= 1.
 */
export function retentionSeconds(retention: RedisStoreOptions['retention']): number {
  if (retention === undefined) return 0;
  const seconds = retention.finalTtlSeconds;
  if (!Number.isInteger(seconds) || seconds < 1) {
    throw new TypeError(`retention.finalTtlSeconds must be a whole number of seconds >= 1, got ${seconds}`);
  }
  return seconds;
}
