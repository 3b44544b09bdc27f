import type { Redis } from 'ioredis';
import type { BenchContext } from '../lib/context.ts';
import { sleep } from '../lib/pool.ts';
import { usedMemory } from '../lib/redis-info.ts';
import { memoryOfKeys, scanKeys } from '../lib/redis-keys.ts';
import type { Row, Scenario, ScenarioReport } from '../lib/report.ts';
import { pairedRatios, ratioOfMedians } from '../lib/stats.ts';
import { durableTrial } from './durable.ts';

/** Bytes per final saga, by where they are. */
interface Footprint {
  total: number;
  store: number;
  storeHash: number;
  storeSnapshot: number;
  storeLog: number;
  storeIndexes: number;
  bull: number;
  bullEvents: number;
}

interface Sizes {
  used: number;
  store: Awaited<ReturnType<typeof memoryOfKeys>>;
  bull: Awaited<ReturnType<typeof memoryOfKeys>>;
}

const bullGroup = (key: string) => (key.endsWith(':events') ? 'events' : 'other');

async function sizes(redis: Redis, prefix: string): Promise<Sizes> {
  // BullMQ's keys are `<prefix>:bull:*`, inside the store's `<prefix>:*`: counted apart.
  const bull = `${prefix}:bull:`;
  const storeGroup = (key: string) => {
    if (key.startsWith(bull)) return undefined;
    if (key.includes(':saga:{')) return 'hash';
    if (key.includes(':snap:{')) return 'snapshot';
    // The log, and what else is per saga and not an index: its idempotency key, when it has one.
    return key.includes(':log:{') ? 'log' : 'indexes';
  };
  return {
    used: await usedMemory(redis),
    store: await memoryOfKeys(redis, `${prefix}:*`, storeGroup),
    bull: await memoryOfKeys(redis, `${bull}*`, bullGroup),
  };
}

/** Waits until no saga hash of `prefix` is left (SCAN also makes Redis drop expired keys it meets). */
async function waitForExpiry(redis: Redis, prefix: string, ttlSeconds: number): Promise<void> {
  await sleep(ttlSeconds * 1000 + 100);
  const until = Date.now() + 60_000;
  while ((await scanKeys(redis, `${prefix}:saga:*`)).length > 0) {
    if (Date.now() > until) throw new Error('saga hashes did not expire within 60 s of their TTL');
    await sleep(200);
  }
}

async function footprintTrial(
  ctx: BenchContext,
  n: number,
  variant: { log: boolean; retention?: { finalTtlSeconds: number } },
): Promise<Footprint> {
  let before: Sizes | undefined;
  let after: Sizes | undefined;
  await durableTrial(ctx, {
    sagas: n,
    warmup: 20,
    inFlight: 50,
    concurrency: 50,
    log: variant.log,
    ...(variant.retention ? { retention: variant.retention } : {}),
    beforeRun: async (redis, prefix) => {
      if (variant.retention) await waitForExpiry(redis, prefix, variant.retention.finalTtlSeconds);
      before = await sizes(redis, prefix);
    },
    afterRun: async (redis, prefix) => {
      if (variant.retention) await waitForExpiry(redis, prefix, variant.retention.finalTtlSeconds);
      after = await sizes(redis, prefix);
    },
  });
  if (!before || !after) throw new Error('footprint not measured');
  const b = before;
  const a = after;
  const per = (x: number, y: number) => (x - y) / n;
  const group = (s: Sizes['store'] | Sizes['bull'], name: string) => s.groups[name]?.bytes ?? 0;
  return {
    total: per(a.used, b.used),
    store: per(a.store.bytes, b.store.bytes),
    storeHash: per(group(a.store, 'hash'), group(b.store, 'hash')),
    storeSnapshot: per(group(a.store, 'snapshot'), group(b.store, 'snapshot')),
    storeLog: per(group(a.store, 'log'), group(b.store, 'log')),
    storeIndexes: per(group(a.store, 'indexes'), group(b.store, 'indexes')),
    bull: per(a.bull.bytes, b.bull.bytes),
    bullEvents: per(group(a.bull, 'events'), group(b.bull, 'events')),
  };
}

/**
 * Scenario 7: Redis bytes per final saga, three ways in each round: log on (default), log off,
 * and retention on (finalTtlSeconds: 1, measured after the saga keys expired). Total is the
 * `used_memory` delta / N; store-only and BullMQ-only are MEMORY USAGE sums over the prefixes' keys.
 */
export const redisFootprint: Scenario = {
  id: 'redis-footprint',
  title: '7. Redis bytes per final saga (after the sagas completed)',
  async run(ctx: BenchContext): Promise<ScenarioReport> {
    const n = ctx.quick ? 400 : 2000;
    const logOn: Footprint[] = [];
    const logOff: Footprint[] = [];
    const retained: Footprint[] = [];
    for (let round = 1; round <= ctx.rounds; round++) {
      ctx.log(`round ${round}/${ctx.rounds}: ${n} durable sagas with log on, log off, retention 1 s`);
      logOn.push(await footprintTrial(ctx, n, { log: true }));
      logOff.push(await footprintTrial(ctx, n, { log: false }));
      retained.push(await footprintTrial(ctx, n, { log: true, retention: { finalTtlSeconds: 1 } }));
    }
    const rows: Row[] = [];
    const twoKb = { op: '<=' as const, value: 2048 };
    for (const [label, runs] of [
      ['log on', logOn],
      ['log off', logOff],
      ['retention 1 s (expired)', retained],
    ] as const) {
      rows.push(
        {
          metric: `${label}: total (used_memory)`,
          unit: 'bytes',
          values: runs.map((r) => r.total),
          ...(label === 'log on' ? { target: twoKb } : {}),
        },
        {
          metric: `${label}: xsaga store keys`,
          unit: 'bytes',
          values: runs.map((r) => r.store),
          ...(label === 'log on' ? { target: twoKb } : {}),
        },
        { metric: `${label}:   saga hash`, unit: 'bytes', values: runs.map((r) => r.storeHash) },
        { metric: `${label}:   saga snapshot key`, unit: 'bytes', values: runs.map((r) => r.storeSnapshot) },
        { metric: `${label}:   saga log list`, unit: 'bytes', values: runs.map((r) => r.storeLog) },
        { metric: `${label}:   index zsets`, unit: 'bytes', values: runs.map((r) => r.storeIndexes) },
        { metric: `${label}: BullMQ keys`, unit: 'bytes', values: runs.map((r) => r.bull) },
        { metric: `${label}:   BullMQ events streams`, unit: 'bytes', values: runs.map((r) => r.bullEvents) },
      );
    }
    const store = (runs: Footprint[]) => runs.map((r) => r.store);
    return {
      id: this.id,
      title: this.title,
      params: { n, inFlight: 50 },
      rows,
      ratios: [
        {
          name: 'store-bytes log-off/log-on',
          value: ratioOfMedians(store(logOff), store(logOn)),
          perRound: pairedRatios(store(logOff), store(logOn)),
        },
        {
          name: 'store-bytes retention/log-on',
          value: ratioOfMedians(store(retained), store(logOn)),
          perRound: pairedRatios(store(retained), store(logOn)),
        },
      ],
      notes: [
        'BullMQ events streams are capped (eventsMaxLen, default 1,000 entries per queue): a fixed cost that N amortises, not per saga.',
        'The worker that applies a step outcome removes its step job as it completes it, so finished sagas leave no job hashes.',
        'With retention the saga hash, snapshot key and log expire together; the index zsets keep the sagaId until list() prunes it lazily.',
        'The worker gets the same log and retention settings as the engine (createWorker({ log, retention })): it saves the sagas it advances.',
      ],
    };
  },
};
