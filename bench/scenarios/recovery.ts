import type { ChildProcess } from 'node:child_process';
import { type ChildMessage, killChild, nextMessage, spawnChild, stopChild } from '../lib/child.ts';
import { type BenchContext, dropBenchKeys, uniquePrefix, withRedis } from '../lib/context.ts';
import { sleep } from '../lib/pool.ts';
import type { Scenario, ScenarioReport } from '../lib/report.ts';
import { median, pairedRatios, ratioOfMedians } from '../lib/stats.ts';

const STEPS = 4;

/** What one recovery run measured (ms from the start command). */
interface RecoveryRun {
  /** Until every saga was Completed, or the cap (then `notFinal` > 0). */
  totalMs: number;
  /** Sagas not Completed when the cap was reached (0: all finished). */
  notFinal: number;
  /** When the engine was killed, and when its replacement said ready (killed runs only). */
  killedAtMs?: number;
  replacementReadyMs?: number;
}

/**
 * One run: an engine child starts `n` sagas at once (all in flight); one worker child runs the
 * steps. With `kill`, the engine is SIGKILLed once the worker has run 30% of the forward steps and a new
 * engine process is started on the same prefix. Ends when every saga is Completed (polled from
 * the store's state index) or at `capMs`, recording how many were not final then.
 */
async function recoveryRun(ctx: BenchContext, n: number, kill: boolean, capMs: number): Promise<RecoveryRun> {
  const prefix = uniquePrefix('rec');
  const env = { REDIS_URL: ctx.redisUrl, BENCH_PREFIX: prefix };
  const worker = spawnChild('xsaga-worker', {
    env: { ...env, BENCH_CONCURRENCY: '50', BENCH_PROGRESS: '1' },
  });
  let engine: ChildProcess = spawnChild('xsaga-engine', { env });
  const children: ChildProcess[] = [worker, engine];
  try {
    await Promise.all([nextMessage(worker, 'ready', 30_000), nextMessage(engine, 'ready', 30_000)]);
    return await withRedis(ctx.redisUrl, async (redis) => {
      let started = false;
      // Forward steps whose handler returned, counted by the worker: the worker applies the outcomes
      // itself (createWorker({ sagas })), so the engine does not see every step go by.
      let stepsDone = 0;
      engine.on('message', (message: ChildMessage) => {
        if (message.type === 'started') started = true;
      });
      worker.on('message', (message: ChildMessage) => {
        if (message.type === 'steps-run') stepsDone = message.count as number;
      });
      const began = performance.now();
      engine.send({ type: 'start', count: n, runId: 'r' });
      const result: RecoveryRun = { totalMs: 0, notFinal: 0 };
      const killAt = Math.ceil(0.3 * n * STEPS);
      for (;;) {
        const elapsed = performance.now() - began;
        if (elapsed > capMs) {
          if (!kill) throw new Error(`uninterrupted run: not every saga Completed within ${capMs / 1000} s`);
          result.totalMs = elapsed;
          result.notFinal = n - (await redis.zcard(`${prefix}:state:Completed`));
          return result;
        }
        if (kill && result.killedAtMs === undefined && started && stepsDone >= killAt) {
          await killChild(engine);
          result.killedAtMs = performance.now() - began;
          engine = spawnChild('xsaga-engine', { env });
          children.push(engine);
          void nextMessage(engine, 'ready', 60_000).then(
            () => {
              result.replacementReadyMs = performance.now() - began;
            },
            () => undefined,
          );
        }
        if ((await redis.zcard(`${prefix}:state:Completed`)) === n) {
          result.totalMs = performance.now() - began;
          return result;
        }
        await sleep(kill && result.killedAtMs === undefined ? 2 : 20);
      }
    });
  } finally {
    for (const child of children) await stopChild(child);
    await withRedis(ctx.redisUrl, (redis) => dropBenchKeys(redis, prefix));
  }
}

/**
 * Scenario 8: recovery. The same run with and without a SIGKILL of the engine process at ~30%
 * progress, interleaved; the ratio of the times until every saga is final.
 */
export const recovery: Scenario = {
  id: 'recovery',
  title: '8. Recovery: engine process SIGKILLed at 30% of steps, new engine started',
  async run(ctx: BenchContext): Promise<ScenarioReport> {
    const n = ctx.quick ? 200 : 1000;
    // A saga whose outcome job was locked by the killed engine waits for BullMQ's stalled-job check
    // (lock 30 s + check interval 30 s): the cap bounds a run; quick keeps it short to stay < 3 min.
    const capMs = ctx.quick ? 15_000 : 150_000;
    const plain: RecoveryRun[] = [];
    const killed: RecoveryRun[] = [];
    for (let round = 1; round <= ctx.rounds; round++) {
      ctx.log(`round ${round}/${ctx.rounds}: ${n} sagas uninterrupted, then with the engine killed at 30%`);
      plain.push(await recoveryRun(ctx, n, false, capMs));
      const run = await recoveryRun(ctx, n, true, capMs);
      const end = run.notFinal > 0 ? `${run.notFinal} sagas still not final at the cap,` : 'all final at';
      const ready =
        run.replacementReadyMs === undefined
          ? 'replacement not ready before the end'
          : `replacement ready at ${(run.replacementReadyMs / 1000).toFixed(2)} s`;
      ctx.log(
        `  killed at ${((run.killedAtMs ?? 0) / 1000).toFixed(2)} s, ${ready}, ${end} ${(run.totalMs / 1000).toFixed(2)} s`,
      );
      killed.push(run);
    }
    const seconds = (runs: RecoveryRun[], field: keyof RecoveryRun) => runs.map((r) => (r[field] ?? Number.NaN) / 1000);
    const total = (runs: RecoveryRun[]) => seconds(runs, 'totalMs');
    return {
      id: this.id,
      title: this.title,
      params: { n, workerConcurrency: 50, killAtFractionOfSteps: 0.3, capSeconds: capMs / 1000 },
      rows: [
        { metric: 'uninterrupted: all final', unit: 's', values: total(plain) },
        { metric: 'killed: all final (or cap)', unit: 's', values: total(killed) },
        { metric: 'killed: sagas not final at cap', unit: 'sagas', values: killed.map((r) => r.notFinal) },
        { metric: 'killed: engine SIGKILLed at', unit: 's', values: seconds(killed, 'killedAtMs') },
        { metric: 'killed: new engine ready at', unit: 's', values: seconds(killed, 'replacementReadyMs') },
        {
          metric: 'killed: ready -> all final',
          unit: 's',
          values: killed.map((r) => (r.totalMs - (r.replacementReadyMs ?? Number.NaN)) / 1000),
        },
      ],
      ratios: [
        {
          name: 'recovery/uninterrupted',
          value: ratioOfMedians(total(killed), total(plain)),
          perRound: pairedRatios(total(killed), total(plain)),
          target: { op: '<=', value: 2 },
        },
      ],
      notes: [
        'The new engine process is started right after the kill; its start-up (node + tsx) counts.',
        ...(killed.some((r) => r.notFinal > 0)
          ? [
              `${killed.filter((r) => r.notFinal > 0).length} killed run(s) hit the ${capMs / 1000} s cap: their time is a lower bound`,
            ]
          : []),
        ...(killed.some((r) => r.replacementReadyMs === undefined)
          ? [
              `${killed.filter((r) => r.replacementReadyMs === undefined).length} killed run(s) ended before the new engine was ready (NaN above): the worker applies step outcomes itself (createWorker({ sagas })), so the sagas went on without an engine`,
            ]
          : []),
        `slowest killed run / median uninterrupted: ${(Math.max(...total(killed)) / median(total(plain))).toFixed(2)}x`,
      ],
    };
  },
};
