import { Redis, type RedisOptions } from 'ioredis';
import { CliError } from './cli-error.ts';
import { redactUrl } from './redis-options.ts';

/** How long the CLI waits for a TCP connection (and TLS handshake) before giving up. */
export const CONNECT_TIMEOUT_MS = 3_000;
/** How long one Redis command may take before the CLI gives up on it. */
export const COMMAND_TIMEOUT_MS = 10_000;

/**
 * ioredis options for a process that lives for one command: fail at once rather than wait. A
 * service wants ioredis' defaults (reconnect for ever, queue commands meanwhile); an operator at a
 * terminal, or a script, wants an answer: so no reconnects (`retryStrategy` gives up), one try per
 * command, and bounded connect and command times. BullMQ's connections get the same options.
 */
export const FAIL_FAST: RedisOptions = {
  lazyConnect: true,
  connectTimeout: CONNECT_TIMEOUT_MS,
  commandTimeout: COMMAND_TIMEOUT_MS,
  maxRetriesPerRequest: 1,
  retryStrategy: () => null,
};

/**
 * Opens a connection to the Redis at `url` and checks it with a `PING`, or throws a
 * {@link CliError} `REDIS_UNREACHABLE` naming the URL (password masked) and the reason. The caller
 * owns the connection and must `quit` it.
 *
 * @example
 * ```ts
 * const redis = await connectRedis('redis://127.0.0.1:6379');
 * try { ... } finally { await closeRedis(redis); }
 * ```
 */
export async function connectRedis(url: string): Promise<Redis> {
  const redis = new Redis(url, FAIL_FAST);
  // ioredis reports the real reason (ECONNREFUSED, WRONGPASS, ...) on its `error` event; the
  // rejected `connect()` only says "Connection is closed". Keep the first for the message.
  let reason: unknown;
  redis.on('error', (error: unknown) => {
    reason ??= error;
  });
  try {
    await redis.connect();
    await redis.ping();
    return redis;
  } catch (error) {
    await closeRedis(redis);
    const cause = reason ?? error;
    const why = cause instanceof Error ? cause.message : String(cause);
    throw new CliError(
      'REDIS_UNREACHABLE',
      `cannot reach Redis at ${redactUrl(url)}: ${why}; check --redis (or REDIS_URL) and that Redis is running`,
      { cause },
    );
  }
}

/** Closes a connection opened by {@link connectRedis}: `QUIT` if it is up, else drops it. */
export async function closeRedis(redis: Redis): Promise<void> {
  // Not again on an ended connection: ioredis would arm a 2 s timer to destroy a socket that is
  // already gone, and that timer alone would keep the process alive.
  if (redis.status === 'end') return;
  if (redis.status !== 'ready') {
    redis.disconnect();
    return;
  }
  // A connection lost during QUIT is closed all the same.
  await redis.quit().catch(() => redis.disconnect());
}
