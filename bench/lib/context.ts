import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { dropPrefix } from './redis-keys.ts';

/** What every scenario gets from the runner. */
export interface BenchContext {
  /** The benchmark's own redis-server. */
  readonly redisUrl: string;
  /** `--quick`: smaller N, same shape. */
  readonly quick: boolean;
  /** Rounds per scenario (>= 3): every figure is min/median/max over them. */
  readonly rounds: number;
  /** Progress line on stderr. */
  log(message: string): void;
}

/**
 * Sagas (or raw chains) run before a durable or raw trial measures anything. Each trial starts
 * fresh worker processes, and V8 optimizes their hot code during the first thousands of steps: after
 * 100 warm-up sagas, TurboFan compiles still took a quarter of the engine process's on-CPU samples
 * and the xsaga worker spent 0.5 ms per step against 0.3 ms once warm (raw BullMQ's: 0.16 against
 * 0.11). What is measured after this many is the steady state a long-running worker has, on both
 * sides of every ratio.
 */
export function warmupOf(ctx: BenchContext): number {
  return ctx.quick ? 200 : 1000;
}

/** A key prefix no other run shares (random, so no prefix is the start of another). */
export function uniquePrefix(name: string): string {
  return `xb-${name}-${randomBytes(4).toString('hex')}`;
}

/** BullMQ connection options for a redis:// URL (host and port only: the benchmark's own server). */
export function bullConnection(url: string): { host: string; port: number; maxRetriesPerRequest: null } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port || 6379), maxRetriesPerRequest: null };
}

/** Opens an admin connection, runs `fn`, quits. */
export async function withRedis<T>(url: string, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(url, { maxRetriesPerRequest: 3 });
  try {
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

/** Deletes the keys of an xsaga prefix: the store's and BullMQ's (`<prefix>:bull:*`) are all `<prefix>:*`. */
export async function dropBenchKeys(redis: Redis, prefix: string): Promise<void> {
  await dropPrefix(redis, `${prefix}:`);
}
