import type { AnySagaDefinition } from '../definition/types.ts';
import { createEngine, type Engine } from '../engine/create-engine.ts';
import { SagaError, SagaNotFoundError } from '../errors.ts';
import { silentLogger } from '../observability/logger.ts';
import { createRedisStore } from '../persistence/redis-store.ts';
import type { BullMqOptions } from '../transport/bullmq-names.ts';
import { createCommandQueue } from './command-queue.ts';
import { closeRedis, connectRedis } from './connect-redis.ts';
import { redactUrl } from './redis-options.ts';

/** What {@link withEngine} needs: where the sagas are, and the definitions commands apply to. */
export interface CliEngineOptions {
  /** Redis URL. */
  redis: string;
  /** xsaga key prefix. */
  prefix: string;
  /** Definitions for commands that change a saga; reads need none. */
  sagas?: readonly AnySagaDefinition[];
  /** Where background errors of BullMQ's connections go (the command's own calls fail too). */
  onWarning: (error: unknown) => void;
}

/**
 * Runs `use` with an engine on the deployment's Redis, then closes every connection it opened,
 * whether `use` succeeded or threw; Redis that cannot be reached fails fast with `REDIS_UNREACHABLE`.
 *
 * The engine is `createEngine({ store, queue, sagas })` with no handlers, not
 * `createEngine({ redis })`: that one recovers every unsettled saga in the background and consumes
 * the shared outcome queue, both work of the long-running engines that a one-command process must
 * not start (see `command-queue.ts`); the `store`/`queue` form does neither. Reads, commands and
 * their atomic decisions are the engine's own: the CLI adds no logic of its own about saga states.
 *
 * @example
 * ```ts
 * const view = await withEngine({ redis: 'redis://127.0.0.1:6379', prefix: 'xsaga', onWarning }, (e) => e.get(id));
 * ```
 */
export async function withEngine<T>(options: CliEngineOptions, use: (engine: Engine) => Promise<T>): Promise<T> {
  const redis = await connectRedis(options.redis);
  // The store shares the checked, fail-fast connection; BullMQ opens its own from the same
  // options (as createEngine does with an ioredis instance), so it fails fast too.
  const store = createRedisStore({ connection: redis, prefix: options.prefix });
  const queue = createCommandQueue({
    connection: { ...redis.options } as BullMqOptions['connection'],
    prefix: options.prefix,
    onError: options.onWarning,
  });
  try {
    const engine = createEngine({
      store,
      queue,
      sagas: options.sagas ?? [],
      // No stuck-saga passes: like recovery, they are the deployment's background work.
      stuck: false,
      // What the engine would log (a quarantine, with its stack) is what the command's own error
      // says on its one stderr line; a second, JSON copy of it would only bury that line.
      logger: silentLogger,
    });
    try {
      return await use(engine).catch((error: unknown) => {
        throw error instanceof SagaNotFoundError ? notFoundHere(error, options) : error;
      });
    } finally {
      await engine.close();
    }
  } finally {
    await queue.close();
    await store.close();
    await closeRedis(redis);
  }
}

/**
 * The engine's "not found" says to check the id `engine.start` returned; at a terminal the likelier
 * mistake is the prefix or the Redis, so the CLI's says where it looked. Same code, same cause.
 */
function notFoundHere(error: SagaNotFoundError, options: CliEngineOptions): SagaError {
  return new SagaError(
    'SAGA_NOT_FOUND',
    `saga "${error.sagaId}" was not found under prefix "${options.prefix}" at ${redactUrl(options.redis)}; check the id, --prefix and --redis`,
    { cause: error },
  );
}
