import { tmpdir } from 'node:os';
import { type BenchContext, warmupOf } from '../lib/context.ts';
import { rewriteAof, startRedisServer } from '../lib/redis-server.ts';
import type { Ratio, Row, Scenario, ScenarioReport } from '../lib/report.ts';
import { pairedRatios, ratioOfMedians } from '../lib/stats.ts';
import { type DurableResult, durableTrial } from './durable.ts';
import { type RawChainResult, rawBullmqTrial } from './raw-bullmq.ts';

const STEPS = 4;
const IN_FLIGHT = 50;
const CONCURRENCY = 50;

/**
 * Scenario 10: scenarios 1-3 again on a Redis that persists: a second redis-server of this benchmark
 * with an append-only file fsynced every second (`--appendonly yes --appendfsync everysec`, the usual
 * durable setting), raw BullMQ chains and xsaga durable sagas run alternately against it. The AOF is
 * compacted (BGREWRITEAOF, awaited) after each warm-up and automatic rewrites are off, so no rewrite
 * runs inside a measured run and each starts from a small file.
 */
export const durableVsRawAof: Scenario = {
  id: 'durable-vs-raw-aof',
  title: '10. Raw BullMQ chain vs xsaga durable, Redis with AOF everysec (4 no-op steps, 50 in flight)',
  async run(ctx: BenchContext): Promise<ScenarioReport> {
    const n = ctx.quick ? 400 : 2000;
    const warmup = warmupOf(ctx);
    const server = await startRedisServer({ aof: 'everysec' });
    ctx.log(`AOF redis-server pid ${server.pid} on port ${server.port} (appendfsync everysec, dir under ${tmpdir()})`);
    const aof: BenchContext = { ...ctx, redisUrl: server.url };
    const raw: RawChainResult[] = [];
    const durable: DurableResult[] = [];
    try {
      for (let round = 1; round <= ctx.rounds; round++) {
        ctx.log(`round ${round}/${ctx.rounds}: raw BullMQ, ${n} chains, AOF everysec`);
        raw.push(
          await rawBullmqTrial(aof, {
            chains: n,
            warmup,
            inFlight: IN_FLIGHT,
            concurrency: CONCURRENCY,
            length: STEPS,
            beforeRun: (redis) => rewriteAof(redis),
          }),
        );
        ctx.log(`round ${round}/${ctx.rounds}: xsaga durable, ${n} sagas, AOF everysec`);
        durable.push(
          await durableTrial(aof, {
            sagas: n,
            warmup,
            inFlight: IN_FLIGHT,
            concurrency: CONCURRENCY,
            beforeRun: (redis) => rewriteAof(redis),
          }),
        );
      }
    } finally {
      await server.stop();
    }
    const chainsPerSec = raw.map((r) => r.chainsPerSec);
    const sagasPerSec = durable.map((r) => r.sagasPerSec);
    const rows: Row[] = [
      { metric: 'raw BullMQ chains/s (aof)', unit: 'chains/s', values: chainsPerSec },
      { metric: 'raw BullMQ chain latency p50 (aof)', unit: 'ms', values: raw.map((r) => r.p50Ms) },
      { metric: 'raw BullMQ Redis CPU/chain (aof)', unit: 'ms', values: raw.map((r) => r.redis.cpuMsPerUnit) },
      { metric: 'raw BullMQ AOF bytes/chain', unit: 'bytes', values: raw.map((r) => r.redis.aofBytesPerUnit) },
      { metric: 'durable sagas/s (aof)', unit: 'sagas/s', values: sagasPerSec },
      { metric: 'durable saga latency p50 (aof)', unit: 'ms', values: durable.map((r) => r.p50Ms) },
      { metric: 'durable saga latency p99 (aof)', unit: 'ms', values: durable.map((r) => r.p99Ms) },
      { metric: 'durable Redis CPU/saga (aof)', unit: 'ms', values: durable.map((r) => r.redis.cpuMsPerUnit) },
      { metric: 'durable AOF bytes/saga', unit: 'bytes', values: durable.map((r) => r.redis.aofBytesPerUnit) },
    ];
    const ratio = (name: string, a: number[], b: number[]): Ratio => ({
      name,
      value: ratioOfMedians(a, b),
      perRound: pairedRatios(a, b),
    });
    return {
      id: this.id,
      title: this.title,
      params: { n, warmup, inFlight: IN_FLIGHT, concurrency: CONCURRENCY, steps: STEPS, appendfsync: 'everysec' },
      rows,
      ratios: [
        ratio('durable/raw-bullmq (aof everysec)', sagasPerSec, chainsPerSec),
        ratio(
          'redis-cpu durable/raw-bullmq (aof everysec)',
          durable.map((r) => r.redis.cpuMsPerUnit),
          raw.map((r) => r.redis.cpuMsPerUnit),
        ),
        ratio(
          'aof-bytes durable/raw-bullmq',
          durable.map((r) => r.redis.aofBytesPerUnit),
          raw.map((r) => r.redis.aofBytesPerUnit),
        ),
      ],
      notes: [
        'Compare `ratio durable/raw-bullmq (aof everysec)` with `ratio durable/raw-bullmq` of scenarios 1-3 (no persistence), same run.',
        'AOF bytes = growth of aof_current_size over the measured run (the AOF is compacted before it; no rewrite inside).',
        `The AOF is written under ${tmpdir()}: its file system and disk decide what an fsync costs.`,
      ],
    };
  },
};
