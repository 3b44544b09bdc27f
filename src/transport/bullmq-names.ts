import type { ConnectionOptions } from 'bullmq';
import { bullMqPrefix } from '../persistence/redis-keys.ts';

/** Where the BullMQ backend lives: connection, key prefix and queue names, shared by engine and workers. */
export interface BullMqOptions {
  /**
   * ioredis options or a URL (BullMQ opens its own connections from them; workers need
   * `maxRetriesPerRequest: null`, which is set for you). Default: REDIS_URL or 127.0.0.1:6379.
   */
  connection?: ConnectionOptions | string;
  /**
   * The xsaga prefix: the same one `createEngine({ redis: { prefix } })` and the RedisStore take
   * (default `xsaga`). BullMQ's keys go under `<prefix>:bull` (see `bullMqPrefix`), so an engine
   * and its workers given the same prefix meet on the same queues, and tenants with different
   * prefixes never see each other's jobs. 1 to 64 of `A-Z a-z 0-9 _ . -`.
   */
  prefix?: string;
  /**
   * Queue of step jobs. One shared queue by default: any worker with the handlers runs any saga's
   * steps, and BullMQ's fairness and rate limits apply across sagas.
   */
  stepQueue?: string;
  /** Queue of step outcomes, consumed by every engine process. */
  outcomeQueue?: string;
  /**
   * How long a job's lock lasts without renewal (BullMQ `lockDuration`), which is also how often
   * stalled jobs are looked for: a process that dies holds its jobs about this long before another
   * takes them over. Default BullMQ's 30 000 ms.
   */
  lockDurationMs?: number;
  /**
   * Approximate length of BullMQ's per-queue events streams (kept for QueueEvents listeners; xsaga
   * does not read them). Default 1 000, BullMQ's own is 10 000: they are most of BullMQ's memory.
   */
  eventsMaxLen?: number;
}

/** The defaults of {@link BullMqOptions}, resolved. */
export function resolveBullMq(options: BullMqOptions = {}) {
  const raw = options.connection ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const connection: ConnectionOptions =
    typeof raw === 'string'
      ? { ...urlToOptions(raw), maxRetriesPerRequest: null }
      : { maxRetriesPerRequest: null, ...raw };
  return {
    connection,
    /** BullMQ's own `prefix` option, derived from the xsaga prefix. */
    prefix: bullMqPrefix(options.prefix),
    stepQueue: options.stepQueue ?? 'xsaga-steps',
    outcomeQueue: options.outcomeQueue ?? 'xsaga-outcomes',
    /** Queue options shared by every Queue xsaga opens. */
    queueOptions: { streams: { events: { maxLen: options.eventsMaxLen ?? 1_000 } } },
    /** Worker options that follow from `lockDurationMs`. */
    locking:
      options.lockDurationMs === undefined
        ? {}
        : { lockDuration: options.lockDurationMs, stalledInterval: options.lockDurationMs },
  };
}

/** Outcome job id of a step job: deterministic, so a step that ran twice reports once. */
export function outcomeJobId(stepJobId: string): string {
  return `${stepJobId}~outcome`;
}

function urlToOptions(url: string) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.pathname.length > 1 ? { db: Number(u.pathname.slice(1)) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}
