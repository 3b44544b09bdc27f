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

/**
 * Where the `hold` step runs: `co-hosted`, in the engine process that starts the sagas (its
 * handlers), so the sagas park there; `beside a worker`, in a worker child process, so they park there
 * and the engine process only started them.
 */
type Variant = 'co-hosted' | 'beside a worker';

interface Run {
  /** `used_memory` once the engine was up, before any saga. */
  baseline: number;
  marks: Mark[];
}

/** Reads what Redis holds at a mark, every saga started so far parked. */
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

/**
 * One engine child (and, beside a worker, one worker child): starts sagas to each mark, and at each
 * mark measures the engine process once every saga is parked.
 */
async function waitParkedRun(ctx: BenchContext, variant: Variant, counts: number[]): Promise<Run> {
  const prefix = uniquePrefix('wpark');
  const env = { REDIS_URL: ctx.redisUrl, BENCH_PREFIX: prefix, BENCH_CONCURRENCY: String(WORKER_CONCURRENCY) };
  const worker =
    variant === 'co-hosted' ? undefined : spawnChild('xsaga-worker', { env: { ...env, BENCH_SAGA: 'hold' } });
  const child = spawnChild('wait-parked-engine', {
    nodeFlags: ['--expose-gc'],
    env: {
      ...env,
      BENCH_MARKS: counts.join(','),
      BENCH_IN_FLIGHT: String(IN_FLIGHT),
      BENCH_HANDLERS: variant === 'co-hosted' ? '1' : '0',
    },
  });
  try {
    return await withRedis(ctx.redisUrl, async (redis) => {
      await Promise.all([child, worker].flatMap((c) => (c ? [nextMessage(c, 'ready', 30_000)] : [])));
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
        // Read while the child waits for "measure": once measured it starts the next mark's sagas.
        const figures = await redisFigures(redis, prefix);
        const measured = expect<MemoryMark>(child, 'mark');
        child.send({ type: 'measure' });
        const memory = await measured;
        next = expect(child, i === counts.length - 1 ? 'done' : 'started');
        const mark: Mark = { ...memory, redis: state, parkMs, ...figures };
        marks.push(mark);
        ctx.log(
          `  ${variant}: ${count} parked at a wait in ${(parkMs / 1000).toFixed(1)} s: rss ${(mark.rss / MB).toFixed(0)} MB, heap ${(mark.heapUsed / MB).toFixed(0)} MB, timers ${state.timers}, jobs ${state.jobsQueued + state.jobsActive}`,
        );
      }
      await next;
      return { baseline, marks };
    });
  } finally {
    await stopChild(child);
    if (worker) await stopChild(worker);
    await withRedis(ctx.redisUrl, (redis) => dropBenchKeys(redis, prefix));
  }
}

/** The runs' marks at `count`, in round order. */
const marksAt = (runs: Run[], count: number) => runs.map((run) => run.marks.find((m) => m.count === count) as Mark);

/** The engine process's memory at both marks, and per saga between them. */
function memoryRows(label: string, runs: Run[], small: number, large: number): Row[] {
  const [s, l] = [marksAt(runs, small), marksAt(runs, large)];
  const perExtra = (field: 'rss' | 'heapUsed') => l.map((m, i) => (m[field] - (s[i] as Mark)[field]) / (large - small));
  return [
    { metric: `${label}: RSS at ${small}`, unit: 'MB', values: s.map((m) => m.rss / MB) },
    { metric: `${label}: RSS at ${large}`, unit: 'MB', values: l.map((m) => m.rss / MB) },
    { metric: `${label}: heap at ${small}`, unit: 'MB', values: s.map((m) => m.heapUsed / MB) },
    { metric: `${label}: heap at ${large}`, unit: 'MB', values: l.map((m) => m.heapUsed / MB) },
    { metric: `${label}: RSS per extra parked saga`, unit: 'bytes', values: perExtra('rss') },
    { metric: `${label}: heap per extra parked saga`, unit: 'bytes', values: perExtra('heapUsed') },
  ];
}

/** What else the co-hosting process holds (handles, timers), and what Redis holds per parked saga. */
function holdingRows(runs: Run[], small: number, large: number): Row[] {
  const [s, l] = [marksAt(runs, small), marksAt(runs, large)];
  return [
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

/** `rss` and `heap` at the large mark over the small one, for one variant (`suffix` names it). */
function ratiosOf(runs: Run[], small: number, large: number, suffix: string): Ratio[] {
  const [s, l] = [marksAt(runs, small), marksAt(runs, large)];
  const ratio = (field: 'rss' | 'heapUsed', name: string, target?: Ratio['target']): Ratio => {
    const [a, b] = [l.map((m) => m[field]), s.map((m) => m[field])];
    return { name, value: ratioOfMedians(a, b), perRound: pairedRatios(a, b), ...(target ? { target } : {}) };
  };
  return [
    // Named as in the issue whatever the marks (quick: 20k/2k; see params).
    ratio('rss', `rss 100k/10k (parked at a wait${suffix})`, { op: '<=', value: 1.5 }),
    ratio('heapUsed', `heap 100k/10k (parked at a wait${suffix})`),
  ];
}

/**
 * Scenario 12: sagas parked at a wait (issue 13), `node --expose-gc`. Headline, co-hosted: one engine
 * process with handlers on Redis runs the `hold` step in its co-hosted worker, applies the outcome,
 * and evicts each saga as it parks at its 7-day wait. Beside it, the usual split: an engine process
 * without handlers starts the sagas and a worker child parks them. At each mark, once Redis shows
 * every saga parked (timer set = N, no job left), the engine process's RSS and heap after full GCs:
 * a parked saga must cost it nothing, so the large mark must cost no more than the small one.
 */
export const parkedWaits: Scenario = {
  id: 'parked-waits',
  title:
    '12. Parked at a wait: RSS of one engine process after GC, timer set, jobs (full: 10k and 100k; quick: 2k and 20k)',
  async run(ctx: BenchContext): Promise<ScenarioReport> {
    const small = ctx.quick ? 2000 : 10_000;
    const large = ctx.quick ? 20_000 : 100_000;
    const coHosted: Run[] = [];
    const beside: Run[] = [];
    for (let round = 1; round <= ctx.rounds; round++) {
      ctx.log(`round ${round}/${ctx.rounds}: ${large} sagas parked at a wait, co-hosted then beside a worker`);
      coHosted.push(await waitParkedRun(ctx, 'co-hosted', [small, large]));
      beside.push(await waitParkedRun(ctx, 'beside a worker', [small, large]));
    }
    return {
      id: this.id,
      title: this.title,
      params: { small, large, startsInFlight: IN_FLIGHT, workerConcurrency: WORKER_CONCURRENCY, waitMs: WEEK_MS },
      rows: [
        ...memoryRows('co-hosted', coHosted, small, large),
        ...holdingRows(coHosted, small, large),
        ...memoryRows('engine beside a worker', beside, small, large),
      ],
      ratios: [...ratiosOf(coHosted, small, large, ''), ...ratiosOf(beside, small, large, ', engine beside a worker')],
      notes: [
        "saga: { name: 'hold' }, { wait: 'approval', signal: z.object({ ok: z.boolean() }), timeoutMs: 7 days }.",
        'co-hosted: createEngine({ redis, handlers }) runs the hold steps in its co-hosted worker and parks every saga.',
        'beside a worker: createEngine({ redis }) starts the sagas, a createWorker child parks them; the engine is measured.',
        'measured once Redis shows every saga parked: timer set = N wait deadlines, no BullMQ job queued or active.',
      ],
    };
  },
};
