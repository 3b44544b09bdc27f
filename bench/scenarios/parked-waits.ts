import type { ChildProcess } from 'node:child_process';
import type { Redis } from 'ioredis';
import { createRedisKeys } from '../../src/persistence/redis-keys.ts';
import { type ChildMessage, nextMessage, spawnChild, stopChild } from '../lib/child.ts';
import { type BenchContext, dropBenchKeys, uniquePrefix, withRedis } from '../lib/context.ts';
import type { MemoryFigures } from '../lib/heap.ts';
import { countBullKeys, type ParkedState, waitUntilParked } from '../lib/parked-state.ts';
import { usedMemory } from '../lib/redis-info.ts';
import type { Ratio, Row, Scenario, ScenarioReport } from '../lib/report.ts';
import { pairedRatios, ratioOfMedians } from '../lib/stats.ts';
import { WEEK_MS } from '../lib/wait-sagas.ts';

const MB = 1024 * 1024;
/** Starts in flight, and the co-hosted worker's concurrency (it runs the `hold` steps). */
const IN_FLIGHT = 200;
const WORKER_CONCURRENCY = 50;
/** Longest a mark may take to start and park (full run: 90,000 sagas on a shared machine). */
const MARK_TIMEOUT_MS = 900_000;

/** What the child reports at a mark. */
interface MemoryMark extends ChildMessage, MemoryFigures {
  count: number;
  /** Active handles and requests (`process.getActiveResourcesInfo()`), and how many are timers. */
  resources: number;
  timeouts: number;
}

/** What the child says once a mark's starts have returned. */
interface Started extends ChildMessage {
  count: number;
  ms: number;
}

/** One mark of one run: the child's memory beside what Redis holds. */
interface Mark extends MemoryMark {
  redis: ParkedState;
  /** Start of the mark's starts to every saga of it parked (the child's start time + the drain). */
  parkMs: number;
  usedMemory: number;
  bullKeys: number;
  timerSetBytes: number;
}

interface Run {
  /** `used_memory` once the engine was up, before any saga. */
  baseline: number;
  marks: Mark[];
}

/** Reads what Redis holds at a mark (after the child measured itself, so the reads cost it nothing). */
async function redisFigures(redis: Redis, prefix: string) {
  const timers = createRedisKeys(prefix).timers;
  return {
    usedMemory: await usedMemory(redis),
    bullKeys: await countBullKeys(redis, prefix),
    timerSetBytes: Number(await redis.call('MEMORY', 'USAGE', timers, 'SAMPLES', '0')),
  };
}

/**
 * The next message of `type`, awaited later: registered now so a message the child sends while the
 * benchmark reads Redis is not missed, and marked handled so a child's failure in between surfaces
 * where it is awaited instead of as an unhandled rejection.
 */
function expect<T extends ChildMessage>(child: ChildProcess, type: string): Promise<T> {
  const message = nextMessage<T>(child, type, MARK_TIMEOUT_MS);
  message.catch(() => undefined);
  return message;
}

/** One child: starts sagas to each mark, and at each mark measures it once every saga is parked. */
async function waitParkedRun(ctx: BenchContext, counts: number[]): Promise<Run> {
  const prefix = uniquePrefix('wpark');
  const child = spawnChild('wait-parked-engine', {
    nodeFlags: ['--expose-gc'],
    env: {
      REDIS_URL: ctx.redisUrl,
      BENCH_PREFIX: prefix,
      BENCH_MARKS: counts.join(','),
      BENCH_IN_FLIGHT: String(IN_FLIGHT),
      BENCH_CONCURRENCY: String(WORKER_CONCURRENCY),
    },
  });
  try {
    return await withRedis(ctx.redisUrl, async (redis) => {
      await nextMessage(child, 'ready', 30_000);
      let next = expect<Started>(child, 'started');
      const baseline = await usedMemory(redis);
      // A wait deadline is 7 days out; a `hold` step's job deadline is due within seconds.
      const waitDueFrom = Date.now() + WEEK_MS / 2;
      const marks: Mark[] = [];
      for (const [i, count] of counts.entries()) {
        const started = await next;
        const drainBegan = performance.now();
        const state = await waitUntilParked(redis, prefix, count, waitDueFrom, MARK_TIMEOUT_MS);
        const parkMs = started.ms + (performance.now() - drainBegan);
        const measured = expect<MemoryMark>(child, 'mark');
        child.send({ type: 'measure' });
        const memory = await measured;
        next = expect(child, i === counts.length - 1 ? 'done' : 'started');
        const mark: Mark = { ...memory, redis: state, parkMs, ...(await redisFigures(redis, prefix)) };
        marks.push(mark);
        ctx.log(
          `  ${count} parked at a wait in ${(parkMs / 1000).toFixed(1)} s: rss ${(mark.rss / MB).toFixed(0)} MB, heap ${(mark.heapUsed / MB).toFixed(0)} MB, timers ${state.timers}, jobs ${state.jobsQueued + state.jobsActive}`,
        );
      }
      await next;
      return { baseline, marks };
    });
  } finally {
    await stopChild(child);
    await withRedis(ctx.redisUrl, (redis) => dropBenchKeys(redis, prefix));
  }
}

/** The rows of the report: memory at both marks, and what Redis holds per parked saga. */
function rowsOf(runs: Run[], small: number, large: number): Row[] {
  const at = (count: number) => runs.map((run) => run.marks.find((m) => m.count === count) as Mark);
  const [s, l] = [at(small), at(large)];
  const perExtra = (field: 'rss' | 'heapUsed') => l.map((m, i) => (m[field] - (s[i] as Mark)[field]) / (large - small));
  return [
    { metric: `RSS at ${small}`, unit: 'MB', values: s.map((m) => m.rss / MB) },
    { metric: `RSS at ${large}`, unit: 'MB', values: l.map((m) => m.rss / MB) },
    { metric: `heap at ${small}`, unit: 'MB', values: s.map((m) => m.heapUsed / MB) },
    { metric: `heap at ${large}`, unit: 'MB', values: l.map((m) => m.heapUsed / MB) },
    { metric: 'RSS per extra parked saga', unit: 'bytes', values: perExtra('rss') },
    { metric: 'heap per extra parked saga', unit: 'bytes', values: perExtra('heapUsed') },
    { metric: `active handles at ${small}`, unit: 'count', values: s.map((m) => m.resources) },
    { metric: `active handles at ${large}`, unit: 'count', values: l.map((m) => m.resources) },
    { metric: `Node timers among them at ${small}`, unit: 'count', values: s.map((m) => m.timeouts) },
    { metric: `Node timers among them at ${large}`, unit: 'count', values: l.map((m) => m.timeouts) },
    { metric: `timer set entries at ${large} (must be ${large})`, unit: 'count', values: l.map((m) => m.redis.timers) },
    {
      metric: `BullMQ jobs queued + active at ${large} (must be 0)`,
      unit: 'count',
      values: l.map((m) => m.redis.jobsQueued + m.redis.jobsActive),
    },
    { metric: `BullMQ keys at ${small}`, unit: 'count', values: s.map((m) => m.bullKeys) },
    { metric: `BullMQ keys at ${large}`, unit: 'count', values: l.map((m) => m.bullKeys) },
    {
      metric: 'Redis bytes per parked saga (used_memory delta / N)',
      unit: 'bytes',
      values: runs.map((run, i) => ((l[i] as Mark).usedMemory - run.baseline) / large),
    },
    {
      metric: `same, ${small} -> ${large} only`,
      unit: 'bytes',
      values: l.map((m, i) => (m.usedMemory - (s[i] as Mark).usedMemory) / (large - small)),
    },
    { metric: 'timer set bytes per entry', unit: 'bytes', values: l.map((m) => m.timerSetBytes / large) },
    {
      metric: `sagas started and parked per second (${small} -> ${large})`,
      unit: 'sagas/s',
      values: l.map((m) => (large - small) / (m.parkMs / 1000)),
    },
  ];
}

/**
 * Scenario 12: sagas parked at a wait (issue 13). One engine process with handlers on Redis (it runs
 * the `hold` step in its co-hosted worker and applies the outcome), `node --expose-gc`; every saga
 * parks at a 7-day wait and the engine evicts it. At each mark, once Redis shows every saga parked
 * (timer set = N, no job left), the process's RSS and heap after full GCs: a parked saga must cost
 * this process nothing, so the large mark must cost no more than the small one.
 */
export const parkedWaits: Scenario = {
  id: 'parked-waits',
  title:
    '12. Parked at a wait: RSS of one engine process after GC, timer set, jobs (full: 10k and 100k; quick: 2k and 20k)',
  async run(ctx: BenchContext): Promise<ScenarioReport> {
    const small = ctx.quick ? 2000 : 10_000;
    const large = ctx.quick ? 20_000 : 100_000;
    const runs: Run[] = [];
    for (let round = 1; round <= ctx.rounds; round++) {
      ctx.log(`round ${round}/${ctx.rounds}: ${large} sagas parked at a wait`);
      runs.push(await waitParkedRun(ctx, [small, large]));
    }
    const rows = rowsOf(runs, small, large);
    const values = (metric: string) => rows.find((row) => row.metric === metric)?.values ?? [];
    const ratio = (field: string, name: string, target?: Ratio['target']): Ratio => {
      const [a, b] = [values(`${field} at ${large}`), values(`${field} at ${small}`)];
      return { name, value: ratioOfMedians(a, b), perRound: pairedRatios(a, b), ...(target ? { target } : {}) };
    };
    return {
      id: this.id,
      title: this.title,
      params: { small, large, startsInFlight: IN_FLIGHT, workerConcurrency: WORKER_CONCURRENCY, waitMs: WEEK_MS },
      rows,
      ratios: [
        // Named as in the issue whatever the marks (quick: 20k/2k; see params).
        ratio('RSS', 'rss 100k/10k (parked at a wait)', { op: '<=', value: 1.5 }),
        ratio('heap', 'heap 100k/10k (parked at a wait)'),
      ],
      notes: [
        "saga: { name: 'hold' }, { wait: 'approval', signal: z.object({ ok: z.boolean() }), timeoutMs: 7 days }.",
        'one process: createEngine({ redis, handlers }) runs the hold steps in its co-hosted worker and parks every saga.',
        'measured once Redis shows every saga parked: timer set = N wait deadlines, no BullMQ job queued or active.',
      ],
    };
  },
};
