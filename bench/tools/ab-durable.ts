/**
 * A/B of the durable trial (scenario 2) between two source trees, alternated pair by pair (A B, B A,
 * ...) so that the machine's drift falls on both, with a raw BullMQ chain trial (scenario 1, tree
 * A's) in every pair: sagas/s, each side's ratio to that pair's raw chains/s, and CPU per unit of
 * work of the worker, the engine and Redis, each trial and the medians. Changes to the durable path
 * are compared this way before their commit says what they did (a single bench run's spread is wider
 * than most of them). Make tree A with `git worktree add /tmp/base <rev> && ln -s "$PWD/node_modules" /tmp/base/`.
 *
 *   npx tsx bench/tools/ab-durable.ts /tmp/base "$PWD" [pairs=4] [sagas=2000] [warmup=1000]
 */
import type { BenchContext } from '../lib/context.ts';
import { median } from '../lib/stats.ts';
import type { DurableOptions, DurableResult } from '../scenarios/durable.ts';
import type { RawChainOptions, RawChainResult } from '../scenarios/raw-bullmq.ts';

type Trial = (ctx: BenchContext, options: DurableOptions) => Promise<DurableResult>;
type RawTrial = (ctx: BenchContext, options: RawChainOptions) => Promise<RawChainResult>;

const [rootA, rootB, pairsArg, sagasArg, warmupArg] = process.argv.slice(2);
if (!rootA || !rootB) {
  console.error('usage: ab-durable.ts <tree A> <tree B> [pairs] [sagas] [warmup]');
  process.exit(2);
}
const pairs = Number(pairsArg ?? 4);
const sagas = Number(sagasArg ?? 2000);
const warmup = Number(warmupArg ?? 1000);
const ctx: BenchContext = {
  redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  quick: false,
  rounds: 1,
  log: () => undefined,
};
const trialOf = async (root: string): Promise<Trial> =>
  ((await import(`${root}/bench/scenarios/durable.ts`)) as { durableTrial: Trial }).durableTrial;
const trials = { A: await trialOf(rootA), B: await trialOf(rootB) };
const rawTrial = ((await import(`${rootA}/bench/scenarios/raw-bullmq.ts`)) as { rawBullmqTrial: RawTrial })
  .rawBullmqTrial;
const figures = { A: [] as number[][], B: [] as number[][] };
const names = ['sagas/s', 'ratio to raw', 'worker ms/step', 'engine ms/saga', 'redis ms/saga', 'total ms/saga'];
const show = (row: number[]) => row.map((v, i) => `${names[i]} ${v.toFixed(i === 0 ? 0 : 3)}`).join('  ');

for (let pair = 0; pair < pairs; pair++) {
  const raw = await rawTrial(ctx, { chains: sagas, warmup, inFlight: 50, concurrency: 50, length: 4 });
  const rawTotal = raw.processes.childrenCpuMsPerUnit + raw.processes.ownCpuMsPerUnit + raw.redis.cpuMsPerUnit;
  console.log(`raw: chains/s ${raw.chainsPerSec.toFixed(0)}  total ms/chain ${rawTotal.toFixed(3)}`);
  for (const side of pair % 2 === 0 ? (['A', 'B'] as const) : (['B', 'A'] as const)) {
    const r = await trials[side](ctx, { sagas, warmup, inFlight: 50, concurrency: 50 });
    const worker = r.processes.childrenCpuMsPerUnit / 4;
    const engine = r.processes.ownCpuMsPerUnit;
    const redis = r.redis.cpuMsPerUnit;
    const row = [r.sagasPerSec, r.sagasPerSec / raw.chainsPerSec, worker, engine, redis, 4 * worker + engine + redis];
    figures[side].push(row);
    console.log(`${side}: ${show(row)}`);
  }
}
for (const side of ['A', 'B'] as const) {
  console.log(`median ${side}: ${show(names.map((_, i) => median(figures[side].map((row) => row[i] as number))))}`);
}
process.exit(0);
