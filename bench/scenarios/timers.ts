import type { Redis } from 'ioredis';
import { createEngine, type Engine, SagaEvents } from '../../src/index.ts';
import type { TransitionEntry } from '../../src/persistence/saga-store.ts';
import { type BenchContext, dropBenchKeys, uniquePrefix, withRedis } from '../lib/context.ts';
import { waitUntilParked } from '../lib/parked-state.ts';
import { runPool, sleep, withTimeout } from '../lib/pool.ts';
import type { Row, Scenario, ScenarioReport } from '../lib/report.ts';
import { percentile } from '../lib/stats.ts';
import { dueAtSaga, SHORT_WAIT_MS, shortWaitSaga, WEEK_MS, waitHandlers } from '../lib/wait-sagas.ts';

/** Starts in flight, and the co-hosted worker's concurrency (it runs `hold` and `query`). */
const IN_FLIGHT = 50;
const WORKER_CONCURRENCY = 50;
/** Pace of the spread run's starts: well below the deadlines one process fires per second (burst run). */
const SPREAD_PER_SECOND = 100;
/** Longest one run may take to settle every saga. */
const RUN_TIMEOUT_MS = 300_000;

type WaitSaga = typeof shortWaitSaga | typeof dueAtSaga;

/** Spread run: per saga, ms from its due time to its wait.deadline log entry. */
interface SpreadRun {
  lateness: number[];
}

/** Burst run: K deadlines due at one instant. */
interface BurstRun {
  lateness: number[];
  /** Deadlines delivered per second, from the due time to the last one. */
  perSecond: number;
  /** Sagas that reached the wait after the due time (their lateness would include their start). */
  parkedLate: number;
  /** CPU of the engine process from the due time until every saga completed, % of one core. */
  cpuPercent: number;
}

/** Signal run: K parked sagas signalled at once. */
interface SignalRun {
  /** How long each `engine.signal` call took, ms. */
  callMs: number[];
  /** Per saga, ms from the `engine.signal` call to its Completed log entry. */
  toCompleted: number[];
  /** Sagas completed per second, from the first signal to the last Completed. */
  perSecond: number;
  /** From the first start until all K were parked, ms (sizes the burst's due time). */
  parkSpanMs: number;
}

/** An engine with handlers on a fresh prefix (it runs the steps itself); closed and its keys dropped after. */
async function withWaitEngine<T>(
  ctx: BenchContext,
  run: (engine: Engine, redis: Redis, prefix: string) => Promise<T>,
): Promise<T> {
  const prefix = uniquePrefix('timer');
  const engine = createEngine({
    redis: { connection: ctx.redisUrl, prefix, workerConcurrency: WORKER_CONCURRENCY },
    sagas: [shortWaitSaga, dueAtSaga],
    handlers: waitHandlers,
  });
  const errors: unknown[] = [];
  engine.on('error', (error) => errors.push(error));
  try {
    const result = await withRedis(ctx.redisUrl, (redis) => run(engine, redis, prefix));
    if (errors.length > 0) throw new Error(`engine reported ${errors.length} errors: ${String(errors[0])}`);
    return result;
  } finally {
    await engine.close();
    await withRedis(ctx.redisUrl, (redis) => dropBenchKeys(redis, prefix));
  }
}

/** Starts `count` sagas, `IN_FLIGHT` at once; returns their ids and when the first start began (epoch ms). */
async function startAll(
  count: number,
  start: (i: number) => Promise<{ sagaId: string }>,
): Promise<{ ids: string[]; began: number }> {
  const ids: string[] = [];
  const began = Date.now();
  await runPool(count, IN_FLIGHT, async (i) => {
    ids.push((await start(i)).sagaId);
  });
  return { ids, began };
}

/**
 * Starts `count` sagas at a steady `perSecond`, each without waiting for the one before: deadlines
 * then come due at that pace, below what one process can fire, so lateness is the delivery path's
 * own and not a queue's.
 */
async function startPaced(
  count: number,
  perSecond: number,
  start: (i: number) => Promise<{ sagaId: string }>,
): Promise<{ ids: string[]; began: number }> {
  const began = Date.now();
  const starts: Promise<{ sagaId: string }>[] = [];
  for (let i = 0; i < count; i++) {
    const wait = began + (i * 1000) / perSecond - Date.now();
    if (wait > 0) await sleep(wait);
    starts.push(start(i));
  }
  return { ids: (await Promise.all(starts)).map((r) => r.sagaId), began };
}

/** CPU this process used over a stretch, in % of one core (how busy the one engine process was). */
async function cpuPercentWhile(work: () => Promise<void>): Promise<number> {
  const [cpu, t0] = [process.cpuUsage(), performance.now()];
  await work();
  const used = process.cpuUsage(cpu);
  return ((used.user + used.system) / 1000 / (performance.now() - t0)) * 100;
}

/** Polls the store's counts (cheap: one ZCARD per state) until every saga of `saga` is Completed. */
async function untilCompleted(engine: Engine, saga: WaitSaga, count: number): Promise<void> {
  const poll = async () => {
    while (((await engine.stats()).byName[saga.name]?.Completed ?? 0) < count) await sleep(100);
  };
  await withTimeout(RUN_TIMEOUT_MS, `${count} ${saga.name} sagas completing`, poll());
}

/** Each saga's log, read back once the run is over (so reading costs the measured path nothing). */
async function logsOf(engine: Engine, ids: string[]): Promise<TransitionEntry[][]> {
  const logs: TransitionEntry[][] = [];
  await runPool(ids.length, 50, async (i) => {
    logs[i] = (await engine.get(ids[i] as string)).history;
  });
  return logs;
}

/** The `at` of the first log entry that `match` picks; throws if the saga's log has none. */
function atOf(log: TransitionEntry[], what: string, match: (entry: TransitionEntry) => boolean): number {
  const entry = log.find(match);
  if (!entry) throw new Error(`saga ${log[0]?.sagaId} has no ${what} entry in its log`);
  return entry.at;
}

/** When the saga reached its wait: the `hold` step's outcome (the wait's deadline counts from that entry's time). */
const parkedAt = (log: TransitionEntry[]) =>
  atOf(log, 'hold done', (e) => e.event === SagaEvents.stepDone && e.step === 'hold' && e.direction === 'run');
const deadlineAt = (log: TransitionEntry[]) => atOf(log, 'deadline', (e) => e.event === SagaEvents.deadline);
const completedAt = (log: TransitionEntry[]) => atOf(log, 'Completed', (e) => e.to === 'Completed');

/**
 * K sagas, each with a 2 s deadline counted from when it reaches its wait, started at a steady
 * `SPREAD_PER_SECOND`: deadlines come due one after another while other sagas start, as in everyday use.
 */
async function spreadRun(ctx: BenchContext, k: number): Promise<SpreadRun> {
  return withWaitEngine(ctx, async (engine) => {
    const { ids } = await startPaced(k, SPREAD_PER_SECOND, (i) =>
      engine.start(shortWaitSaga, { n: i }, { sagaId: `d-${i}` }),
    );
    await untilCompleted(engine, shortWaitSaga, k);
    const logs = await logsOf(engine, ids);
    return { lateness: logs.map((log) => deadlineAt(log) - (parkedAt(log) + SHORT_WAIT_MS)) };
  });
}

/**
 * K sagas whose deadlines all fall due at one instant (`until`: a date in the input), `parkBudgetMs`
 * after the first start: how fast one process works off a backlog of due deadlines.
 */
async function burstRun(ctx: BenchContext, k: number, parkBudgetMs: number): Promise<BurstRun> {
  return withWaitEngine(ctx, async (engine) => {
    const dueAt = Date.now() + parkBudgetMs;
    const { ids } = await startAll(k, (i) => engine.start(dueAtSaga, { dueAt }, { sagaId: `b-${i}` }));
    await sleep(dueAt - Date.now());
    const cpuPercent = await cpuPercentWhile(() => untilCompleted(engine, dueAtSaga, k));
    const logs = await logsOf(engine, ids);
    const fired = logs.map(deadlineAt);
    return {
      lateness: fired.map((at) => at - dueAt),
      perSecond: k / ((Math.max(...fired) - dueAt) / 1000),
      parkedLate: logs.filter((log) => parkedAt(log) > dueAt).length,
      cpuPercent,
    };
  });
}

/** K sagas parked at a 7-day wait, then all signalled at once: signal to Completed (one `query` step after). */
async function signalRun(ctx: BenchContext, k: number): Promise<SignalRun> {
  return withWaitEngine(ctx, async (engine, redis, prefix) => {
    const dueAt = Date.now() + WEEK_MS;
    const { ids, began } = await startAll(k, (i) => engine.start(dueAtSaga, { dueAt }, { sagaId: `s-${i}` }));
    await waitUntilParked(redis, prefix, k, dueAt, RUN_TIMEOUT_MS);
    const parkSpanMs = Date.now() - began;
    const sentAt: number[] = [];
    const callMs: number[] = [];
    await Promise.all(
      ids.map(async (sagaId, i) => {
        sentAt[i] = Date.now();
        const t0 = performance.now();
        await engine.signal(sagaId, 'approval', { ok: true });
        callMs.push(performance.now() - t0);
      }),
    );
    await untilCompleted(engine, dueAtSaga, k);
    const done = (await logsOf(engine, ids)).map(completedAt);
    return {
      callMs,
      toCompleted: done.map((at, i) => at - (sentAt[i] as number)),
      perSecond: k / ((Math.max(...done) - Math.min(...sentAt)) / 1000),
      parkSpanMs,
    };
  });
}

/** p50 / p99 / max rows of one per-saga distribution, one value per round. */
function percentileRows(label: string, runs: number[][]): Row[] {
  return [
    { metric: `${label} p50`, unit: 'ms', values: runs.map((v) => percentile(v, 50)) },
    { metric: `${label} p99`, unit: 'ms', values: runs.map((v) => percentile(v, 99)) },
    { metric: `${label} max`, unit: 'ms', values: runs.map((v) => Math.max(...v)) },
  ];
}

/**
 * Scenario 13: how late wait deadlines fire, and how long a signal takes, in one engine process with
 * handlers on Redis (the bench process: it runs the steps and parks the sagas, so it holds the one
 * local wake-up at the earliest deadline; the 1 s sweep is the fallback). Lateness is read from each
 * saga's log: the deadline's entry time minus the due time.
 */
export const timers: Scenario = {
  id: 'timers',
  title: '13. Wait deadlines and signals: lateness of due deadlines, signal to Completed (one engine process)',
  async run(ctx: BenchContext): Promise<ScenarioReport> {
    const k = ctx.quick ? 400 : 2000;
    const spread: SpreadRun[] = [];
    const signal: SignalRun[] = [];
    const burst: BurstRun[] = [];
    for (let round = 1; round <= ctx.rounds; round++) {
      ctx.log(`round ${round}/${ctx.rounds}: ${k} sagas with a 2 s deadline, ${k} signalled at once, ${k} due at once`);
      const s = await spreadRun(ctx, k);
      const g = await signalRun(ctx, k);
      // Twice the time K sagas just took to park, so every burst saga is parked before the common due time.
      const b = await burstRun(ctx, k, 2 * g.parkSpanMs + 1000);
      spread.push(s);
      signal.push(g);
      burst.push(b);
      const p99 = (values: number[]) => `${percentile(values, 99).toFixed(0)} ms`;
      ctx.log(
        `  p99: 2 s deadline late by ${p99(s.lateness)}, signal->Completed ${p99(g.toCompleted)}, burst late by ${p99(b.lateness)} (${b.perSecond.toFixed(0)}/s)`,
      );
    }
    const rows: Row[] = [
      ...percentileRows(
        `${SHORT_WAIT_MS / 1000} s deadline, ${SPREAD_PER_SECOND} starts/s: lateness`,
        spread.map((r) => r.lateness),
      ),
      ...percentileRows(
        `${k} signals at once: engine.signal call`,
        signal.map((r) => r.callMs),
      ),
      ...percentileRows(
        'signal -> Completed (a query step after the wait)',
        signal.map((r) => r.toCompleted),
      ),
      { metric: 'signalled sagas completed per second', unit: '/s', values: signal.map((r) => r.perSecond) },
      ...percentileRows(
        `${k} deadlines due at one instant: lateness`,
        burst.map((r) => r.lateness),
      ),
      { metric: 'deadlines fired per second (burst)', unit: '/s', values: burst.map((r) => r.perSecond) },
      { metric: 'engine process CPU while the burst drains', unit: '% core', values: burst.map((r) => r.cpuPercent) },
      {
        metric: 'burst sagas parked after the due time (must be 0)',
        unit: 'count',
        values: burst.map((r) => r.parkedLate),
      },
    ];
    return {
      id: this.id,
      title: this.title,
      params: {
        k,
        startsInFlight: IN_FLIGHT,
        spreadStartsPerSecond: SPREAD_PER_SECOND,
        workerConcurrency: WORKER_CONCURRENCY,
        deadlineMs: SHORT_WAIT_MS,
      },
      rows,
      ratios: [],
      notes: [
        "sagas: { name: 'hold' }, { wait: 'approval', signal, timeoutMs: 2 s or until: input.dueAt, onTimeout: 'continue' }, { name: 'query', kind: 'query' }.",
        'lateness = log time of the wait.deadline entry - due time (the hold entry time + 2 s, or the input dueAt).',
        'signal -> Completed = log time of the Completed entry - when engine.signal was called; all K signals sent at once.',
      ],
    };
  },
};
