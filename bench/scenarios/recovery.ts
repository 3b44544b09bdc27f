import type { ChildProcess } from 'node:child_process';
import type { Redis } from 'ioredis';
import { type ChildMessage, nextMessage, spawnChild, stopChild } from '../lib/child.ts';
import { type BenchContext, dropBenchKeys, uniquePrefix, withRedis } from '../lib/context.ts';
import { sleep } from '../lib/pool.ts';
import type { Row, Scenario, ScenarioReport } from '../lib/report.ts';
import { STEPS as STEP_NAMES } from '../lib/saga.ts';
import { median, pairedRatios, ratioOfMedians } from '../lib/stats.ts';

const STEPS = STEP_NAMES.length;
/** xsaga's default step queue (BullMQ keys `<prefix>:bull:<queue>:<jobId>`). */
const STEP_QUEUE = 'xsaga-steps';
/** The kill comes when this fraction of the forward steps (worker kill) or of the saga creates (engine kill) is done. */
const KILL_AT = 0.3;
/** Step jobs the worker runs at once: at most this many are active (and locked) when it dies. */
const WORKER_CONCURRENCY = 50;
/**
 * BullMQ lock duration and stall-check interval of every worker process of this scenario (the
 * killed one, its replacement, and the uninterrupted runs'): BullMQ's default is 30 s.
 */
const LOCK_MS = 2_000;
const RUN_ID = 'r';

/** What is killed in a run: nothing (the baseline), the worker process, or the engine process. */
type Kill = 'none' | 'worker' | 'engine';

/** What one recovery run measured (ms from the start command). */
interface RecoveryRun {
  /** Until every saga was Completed, or the cap (then `notFinal` > 0). */
  totalMs: number;
  /** Sagas not Completed when the cap was reached (0: all finished). */
  notFinal: number;
  /** When the killed process was seen to exit, and when its replacement said ready (killed runs only). */
  killedAtMs?: number;
  replacementReadyMs?: number;
  /** Engine kill: sagas the dead engine left in `Started` (the new engine's recovery starts them). */
  startedAtKill?: number;
  /** Engine kill: sagas the dead engine left `Pending` with no step job (recovery re-dispatches them). */
  pendingWithoutJob?: number;
  /** Engine kill: sagas the dead engine never stored (the bench starts them on the new engine). */
  neverStored?: number;
  /** Forward step handlers run beyond one per step: steps run again after a crash. */
  extraSteps: number;
}

/**
 * One run: an engine child starts `n` sagas at once; one worker child runs the steps and advances
 * the sagas itself (createWorker({ sagas })). With `kill: 'worker'`, the worker SIGKILLs itself as
 * the handler of the 30%-th forward step returns, and a new worker process is started on the same
 * prefix; with `kill: 'engine'`, the engine SIGKILLs itself as the 30%-th of its saga creates (the
 * first write of a start) returns, and a new engine process is started on the same prefix (its background recovery starts the sagas left
 * in `Started`; sagas the dead engine never stored are started on it by the bench, as a client whose
 * start call failed would). The kill is counted inside the process that dies (exact, where an IPC
 * report would lag); the bench sees the SIGKILL exit and starts the replacement at once. Ends when
 * every saga is Completed (polled from the store's state index) or at `capMs`, recording how many
 * were not final then.
 */
async function recoveryRun(ctx: BenchContext, n: number, kill: Kill, capMs: number): Promise<RecoveryRun> {
  const prefix = uniquePrefix('rec');
  const env = { REDIS_URL: ctx.redisUrl, BENCH_PREFIX: prefix };
  const totalSteps = n * STEPS;
  const killAfterSteps = Math.ceil(KILL_AT * totalSteps);
  const killAfterCreates = Math.ceil(KILL_AT * n);
  const workerEnv = {
    ...env,
    BENCH_CONCURRENCY: String(WORKER_CONCURRENCY),
    BENCH_PROGRESS: '1',
    BENCH_LOCK_MS: String(LOCK_MS),
  };
  const children: ChildProcess[] = [];
  // Forward step handlers that returned, as last reported by each worker process (every 10 ms).
  const stepsRun = new Map<ChildProcess, number>();
  const spawnWorker = (extra: Record<string, string> = {}) => {
    const child = spawnChild('xsaga-worker', { env: { ...workerEnv, ...extra } });
    children.push(child);
    stepsRun.set(child, 0);
    child.on('message', (message: ChildMessage) => {
      // Max: a report still in the pipe must not undo the exact count set at the kill.
      if (message.type === 'steps-run')
        stepsRun.set(child, Math.max(stepsRun.get(child) ?? 0, message.count as number));
    });
    return child;
  };
  const spawnEngine = (extra: Record<string, string> = {}) => {
    const child = spawnChild('xsaga-engine', { env: { ...env, ...extra } });
    children.push(child);
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'log') ctx.log(`  ${String(message.message)}`);
    });
    return child;
  };
  const worker = spawnWorker(kill === 'worker' ? { BENCH_KILL_AFTER_STEPS: String(killAfterSteps) } : {});
  const engine = spawnEngine(kill === 'engine' ? { BENCH_KILL_AFTER_CREATES: String(killAfterCreates) } : {});
  let finished = false;
  try {
    await Promise.all([nextMessage(worker, 'ready', 30_000), nextMessage(engine, 'ready', 30_000)]);
    return await withRedis(ctx.redisUrl, async (redis) => {
      const completed = () => redis.zcard(`${prefix}:state:Completed`);
      const result: RecoveryRun = { totalMs: 0, notFinal: 0, extraSteps: 0 };
      let failure: Error | undefined;
      const began = performance.now();
      const since = () => performance.now() - began;
      /** Records when a replacement says ready, then runs `then`. */
      const whenReady = (child: ChildProcess, then: () => void = () => undefined) =>
        void nextMessage(child, 'ready', 60_000).then(
          () => {
            result.replacementReadyMs = since();
            then();
          },
          (error: unknown) => {
            if (!finished) failure = error instanceof Error ? error : new Error(String(error));
          },
        );
      /** The crash this run is about (the one SIGKILL of the process told to die), or a failure. */
      const watch = (child: ChildProcess, role: 'worker' | 'engine', onKilled: () => void) =>
        child.once('exit', (code, signal) => {
          if (finished) return;
          if (kill === role && signal === 'SIGKILL' && result.killedAtMs === undefined) {
            result.killedAtMs = since();
            onKilled();
          } else {
            failure = new Error(`${role} child ${child.pid} exited during the run (code ${code}, signal ${signal})`);
          }
        });
      watch(worker, 'worker', () => {
        // It died as its killAfterSteps-th handler returned: that count is exact.
        stepsRun.set(worker, killAfterSteps);
        whenReady(spawnWorker());
      });
      watch(engine, 'engine', () => {
        const replacement = spawnEngine();
        // What the dead engine left: sagas in Started are the new engine's recovery's to start (no
        // one else moves them meanwhile); sagas it never stored exist nowhere, so a client would
        // start them again. Read while the replacement boots.
        const ids = Array.from({ length: n }, (_, i) => `${RUN_ID}-${i}`);
        const left = Promise.all([
          redis.zcard(`${prefix}:state:Started`),
          pendingWithoutJob(redis, prefix),
          redis.zmscore(`${prefix}:all`, ...ids),
        ]).then(([started, jobless, scores]) => {
          const missing = scores.flatMap((score, i) => (score === null ? [i] : []));
          result.startedAtKill = started;
          result.pendingWithoutJob = jobless;
          result.neverStored = missing.length;
          return missing;
        });
        left.catch((error: unknown) => {
          failure = error instanceof Error ? error : new Error(String(error));
        });
        whenReady(replacement, () => {
          left.then(
            (missing) => {
              if (missing.length > 0) replacement.send({ type: 'start', runId: RUN_ID, indices: missing });
            },
            () => undefined, // reported above
          );
        });
      });
      engine.send({ type: 'start', count: n, runId: RUN_ID });
      for (;;) {
        if (failure) throw failure;
        if (since() > capMs) {
          if (kill === 'none') throw new Error(`uninterrupted run: not every saga Completed within ${capMs / 1000} s`);
          result.totalMs = since();
          result.notFinal = n - (await completed());
          break;
        }
        if ((await completed()) === n) {
          result.totalMs = since();
          break;
        }
        await sleep(20);
      }
      if (kill !== 'none' && result.killedAtMs === undefined) throw new Error(`the ${kill} was not killed`);
      await sleep(50); // the workers' last steps-run reports (every 10 ms)
      result.extraSteps = [...stepsRun.values()].reduce((sum, count) => sum + count, 0) - totalSteps;
      return result;
    });
  } finally {
    finished = true;
    for (const child of children) await stopChild(child);
    await withRedis(ctx.redisUrl, (redis) => dropBenchKeys(redis, prefix));
  }
}

/**
 * Sagas in `Pending` none of whose forward step jobs exists in BullMQ (in one script, so a worker
 * moving a saga from one step job to the next cannot make it look jobless: it adds the next job
 * before its own is removed). Keys built in the script: fine on the benchmark's own standalone Redis.
 */
async function pendingWithoutJob(redis: Redis, prefix: string): Promise<number> {
  const script = `
    local count = 0
    for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
      local keys = {}
      for i, step in ipairs(ARGV) do
        if i > 1 then keys[#keys + 1] = ARGV[1] .. id .. '~' .. step .. '~run' end
      end
      if redis.call('EXISTS', unpack(keys)) == 0 then count = count + 1 end
    end
    return count`;
  const jobPrefix = `${prefix}:bull:${STEP_QUEUE}:`;
  return (await redis.eval(script, 1, `${prefix}:state:Pending`, jobPrefix, ...STEP_NAMES)) as number;
}

/** A line for the log: when it was killed, when the replacement was ready, when it ended. */
function describe(run: RecoveryRun, what: string): string {
  const s = (ms: number | undefined) => (ms === undefined ? 'never' : `${(ms / 1000).toFixed(2)} s`);
  const end = run.notFinal > 0 ? `${run.notFinal} sagas still not final at the cap,` : 'all final at';
  const left =
    run.startedAtKill === undefined
      ? ''
      : ` (left ${run.startedAtKill} sagas in Started, ${run.pendingWithoutJob} Pending without a step job, ${run.neverStored} never stored)`;
  return (
    `  ${what} killed at ${s(run.killedAtMs)}${left}, replacement ready at ${s(run.replacementReadyMs)}, ` +
    `${end} ${s(run.totalMs)}, ${run.extraSteps} forward steps run twice`
  );
}

/**
 * Scenario 8: recovery. One step worker advances the sagas (one hop per step), so what must survive
 * a crash is the worker (every saga in flight) and the engine (the sagas it was starting). Per round:
 * an uninterrupted run, a run whose worker is SIGKILLed at 30% of the forward steps, and a run whose
 * engine is SIGKILLed at 30% of its saga creates (all n started at once), each killed process
 * replaced by a new one on the same prefix; the ratios of the times until every saga is Completed.
 */
export const recovery: Scenario = {
  id: 'recovery',
  title: '8. Recovery: worker SIGKILLed at 30% of steps / engine SIGKILLed at 30% of creates, replaced',
  async run(ctx: BenchContext): Promise<ScenarioReport> {
    const n = ctx.quick ? 200 : 1000;
    // A run that goes wrong (jobs left locked, a saga nobody restarts) is bounded by the cap; quick
    // keeps it short.
    const capMs = ctx.quick ? 15_000 : 150_000;
    const plain: RecoveryRun[] = [];
    const workerKilled: RecoveryRun[] = [];
    const engineKilled: RecoveryRun[] = [];
    for (let round = 1; round <= ctx.rounds; round++) {
      ctx.log(`round ${round}/${ctx.rounds}: ${n} sagas uninterrupted, then worker killed, then engine killed`);
      plain.push(await recoveryRun(ctx, n, 'none', capMs));
      const byWorker = await recoveryRun(ctx, n, 'worker', capMs);
      ctx.log(describe(byWorker, 'worker'));
      workerKilled.push(byWorker);
      const byEngine = await recoveryRun(ctx, n, 'engine', capMs);
      ctx.log(describe(byEngine, 'engine'));
      engineKilled.push(byEngine);
    }
    const seconds = (runs: RecoveryRun[], field: 'totalMs' | 'killedAtMs' | 'replacementReadyMs') =>
      runs.map((r) => (r[field] ?? Number.NaN) / 1000);
    const total = (runs: RecoveryRun[]) => seconds(runs, 'totalMs');
    const killedRows = (label: string, runs: RecoveryRun[]): Row[] => [
      { metric: `${label}: all final (or cap)`, unit: 's', values: total(runs) },
      {
        metric: `${label}: time lost (- same round uninterrupted)`,
        unit: 's',
        values: runs.map((r, i) => (r.totalMs - (plain[i]?.totalMs ?? Number.NaN)) / 1000),
      },
      { metric: `${label}: sagas not final at cap`, unit: 'sagas', values: runs.map((r) => r.notFinal) },
      { metric: `${label}: SIGKILLed at`, unit: 's', values: seconds(runs, 'killedAtMs') },
      { metric: `${label}: replacement ready at`, unit: 's', values: seconds(runs, 'replacementReadyMs') },
      {
        metric: `${label}: ready -> all final`,
        unit: 's',
        values: runs.map((r) => (r.totalMs - (r.replacementReadyMs ?? Number.NaN)) / 1000),
      },
      { metric: `${label}: forward steps run twice`, unit: 'steps', values: runs.map((r) => r.extraSteps) },
    ];
    const capped = (label: string, runs: RecoveryRun[]) => {
      const hit = runs.filter((r) => r.notFinal > 0).length;
      return hit > 0 ? [`${hit} ${label} run(s) hit the ${capMs / 1000} s cap: their time is a lower bound`] : [];
    };
    const slowest = (label: string, runs: RecoveryRun[]) =>
      `slowest ${label} run / median uninterrupted: ${(Math.max(...total(runs)) / median(total(plain))).toFixed(2)}x`;
    return {
      id: this.id,
      title: this.title,
      params: {
        n,
        workerConcurrency: WORKER_CONCURRENCY,
        killAtFraction: KILL_AT,
        workerLockDurationMs: LOCK_MS,
        capSeconds: capMs / 1000,
      },
      rows: [
        { metric: 'uninterrupted: all final', unit: 's', values: total(plain) },
        {
          metric: 'uninterrupted: forward steps run twice',
          unit: 'steps',
          values: plain.map((r) => r.extraSteps),
        },
        ...killedRows('worker killed', workerKilled),
        ...killedRows('engine killed', engineKilled),
        {
          metric: 'engine killed: sagas left in Started',
          unit: 'sagas',
          values: engineKilled.map((r) => r.startedAtKill ?? Number.NaN),
        },
        {
          metric: 'engine killed: sagas left Pending without a step job',
          unit: 'sagas',
          values: engineKilled.map((r) => r.pendingWithoutJob ?? Number.NaN),
        },
        {
          metric: 'engine killed: sagas never stored',
          unit: 'sagas',
          values: engineKilled.map((r) => r.neverStored ?? Number.NaN),
        },
      ],
      ratios: [
        {
          name: 'recovery/uninterrupted (worker killed)',
          value: ratioOfMedians(total(workerKilled), total(plain)),
          perRound: pairedRatios(total(workerKilled), total(plain)),
          target: { op: '<=', value: 2 },
        },
        {
          name: 'recovery/uninterrupted (engine killed)',
          value: ratioOfMedians(total(engineKilled), total(plain)),
          perRound: pairedRatios(total(engineKilled), total(plain)),
          target: { op: '<=', value: 2 },
        },
      ],
      notes: [
        `every worker process here (the killed one, its replacement, the uninterrupted runs') runs with lockDurationMs ${LOCK_MS} ms (BullMQ lock duration and stall-check interval; default 30 s): the killed worker's active jobs (up to ${WORKER_CONCURRENCY}) stay locked until their lock expires; a stall check marks them, the next one (an interval later; BullMQ runs at most one per interval across workers) moves them back to wait. That wait, ~${(2 * LOCK_MS) / 1000}-${(3 * LOCK_MS) / 1000} s after the new worker is up, is most of the worker-killed time (with the default lock it would be ~60-90 s)`,
        'the process to kill SIGKILLs itself (by its own PID) at an exact count: the worker as its 30%-th forward step handler returns (before that outcome is applied), the engine as its 30%-th saga create returns (RedisStore.prototype.create wrapped in that child only; a kill from the bench came too late: the burst of starts was already written to Redis). The bench starts the replacement on seeing the exit: its start-up (node + tsx) counts',
        'engine killed: the worker runs throughout; the new engine (createEngine({ redis })) recovers in the background: it starts the sagas left in Started and re-enqueues the step jobs of the Pending ones; sagas the dead engine never stored are started on it by the bench, as a client whose start call failed would',
        ...(engineKilled.every((r) => (r.startedAtKill ?? 0) === 0)
          ? ['no engine-killed run left a saga in Started: that ratio measured no recovery of starts']
          : []),
        ...capped('worker-killed', workerKilled),
        ...capped('engine-killed', engineKilled),
        slowest('worker-killed', workerKilled),
        slowest('engine-killed', engineKilled),
      ],
    };
  },
};
