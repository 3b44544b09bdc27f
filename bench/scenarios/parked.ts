import { nextMessage, spawnChild, stopChild } from '../lib/child.ts';
import { type BenchContext, dropBenchKeys, uniquePrefix, withRedis } from '../lib/context.ts';
import { withTimeout } from '../lib/pool.ts';
import type { Ratio, Row, Scenario, ScenarioReport } from '../lib/report.ts';
import { pairedRatios, ratioOfMedians } from '../lib/stats.ts';

interface Mark {
  type: 'mark';
  count: number;
  rss: number;
  heapUsed: number;
}

const MB = 1024 * 1024;

async function parkedRun(ctx: BenchContext, mode: 'durable' | 'embedded', marks: number[]): Promise<Mark[]> {
  const prefix = uniquePrefix('park');
  const child = spawnChild('parked-engine', {
    nodeFlags: ['--expose-gc'],
    env: {
      BENCH_MODE: mode,
      BENCH_MARKS: marks.join(','),
      BENCH_IN_FLIGHT: '200',
      REDIS_URL: ctx.redisUrl,
      BENCH_PREFIX: prefix,
    },
  });
  const got: Mark[] = [];
  child.on('message', (message: { type: string }) => {
    if (message.type === 'mark') {
      const mark = message as Mark;
      got.push(mark);
      ctx.log(
        `  ${mode}: ${mark.count} parked, rss ${(mark.rss / MB).toFixed(0)} MB, heap ${(mark.heapUsed / MB).toFixed(0)} MB`,
      );
    }
  });
  try {
    await withTimeout(900_000, `parked ${mode}`, nextMessage(child, 'done', 900_000));
    return got;
  } finally {
    await stopChild(child);
    if (mode === 'durable') await withRedis(ctx.redisUrl, (redis) => dropBenchKeys(redis, prefix));
  }
}

/**
 * Scenario 6: sagas parked in one engine process, RSS after full GCs at the small and the large
 * mark. Durable (createEngine({ redis }) with no worker anywhere: snapshots in Redis, at most
 * maxActiveSagas = 10,000 actors hydrated) is the headline; embedded (ParkingQueue + the default
 * MemoryStore, which keeps every saga in the process) is shown beside it.
 */
export const parked: Scenario = {
  id: 'parked',
  title: '6. Parked sagas: RSS of one engine process after GC (full: 10k and 100k; quick: 2k and 20k)',
  async run(ctx: BenchContext): Promise<ScenarioReport> {
    const small = ctx.quick ? 2000 : 10_000;
    const large = ctx.quick ? 20_000 : 100_000;
    const durable: Mark[][] = [];
    const embedded: Mark[][] = [];
    for (let round = 1; round <= ctx.rounds; round++) {
      ctx.log(
        `round ${round}/${ctx.rounds}: ${large} parked sagas${ctx.quick ? ', durable' : ', durable then embedded'}`,
      );
      durable.push(await parkedRun(ctx, 'durable', [small, large]));
      // The embedded variant (linear by design) only in the full run: quick must stay under 3 minutes.
      if (!ctx.quick) embedded.push(await parkedRun(ctx, 'embedded', [small, large]));
    }
    const at = (runs: Mark[][], count: number, field: 'rss' | 'heapUsed') =>
      runs.map((marks) => (marks.find((m) => m.count === count)?.[field] ?? Number.NaN) / MB);
    const rows: Row[] = [];
    const ratios: Ratio[] = [];
    for (const [label, runs] of [
      ['durable', durable],
      ['embedded', embedded],
    ] as const) {
      if (runs.length === 0) continue;
      const rssSmall = at(runs, small, 'rss');
      const rssLarge = at(runs, large, 'rss');
      rows.push(
        { metric: `${label} RSS at ${small}`, unit: 'MB', values: rssSmall },
        { metric: `${label} RSS at ${large}`, unit: 'MB', values: rssLarge },
        { metric: `${label} heap at ${small}`, unit: 'MB', values: at(runs, small, 'heapUsed') },
        { metric: `${label} heap at ${large}`, unit: 'MB', values: at(runs, large, 'heapUsed') },
        {
          metric: `${label} RSS per extra parked saga`,
          unit: 'bytes',
          values: rssLarge.map((v, i) => ((v - (rssSmall[i] as number)) * MB) / (large - small)),
        },
      );
      ratios.push({
        // Named as in the brief whatever the marks (quick: 20k/2k; see params).
        name: label === 'durable' ? 'rss 100k/10k' : 'rss 100k/10k embedded',
        value: ratioOfMedians(rssLarge, rssSmall),
        perRound: pairedRatios(rssLarge, rssSmall),
        ...(label === 'durable' ? { target: { op: '<=' as const, value: 1.5 } } : {}),
      });
    }
    return {
      id: this.id,
      title: this.title,
      params: { small, large, maxActiveSagas: 10_000, startsInFlight: 200 },
      rows,
      ratios,
      notes: [
        'durable: createEngine({ redis }) with no worker: every saga waits in Pending with its first BullMQ job queued.',
        'embedded: ParkingQueue + default MemoryStore, which holds every saga in the process (linear by design).',
      ],
    };
  },
};
