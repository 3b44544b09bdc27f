/**
 * The xsaga step worker process of the durable scenarios: createWorker with the no-op handlers and
 * the bench saga's definition (so it applies the outcomes of the steps it runs itself).
 *
 * Env: REDIS_URL, BENCH_PREFIX (the xsaga prefix, the same as the engine's), BENCH_CONCURRENCY;
 * BENCH_PROGRESS=1: sends `steps-run { count }` every 10 ms (forward step handlers that returned);
 * BENCH_WORKER_SAGAS=0: no `sagas` (every outcome is published for the engines to apply);
 * BENCH_LOG=0, BENCH_RETENTION_S: the engine's store settings, which a worker given `sagas` needs too;
 * BENCH_LOCK_MS: BullMQ lock duration and stall-check interval (`lockDurationMs`; default BullMQ's 30 s);
 * BENCH_KILL_AFTER_STEPS=k (with BENCH_PROGRESS=1): the process SIGKILLs itself (a crash, by its own PID)
 * as the k-th forward step handler returns, before that step's outcome is applied.
 * BENCH_SAGA=hold: runs the parked-at-a-wait saga (lib/wait-sagas.ts) instead of the trip.
 * IPC in: read-counters (answered with counters: client commands and CPU of this process).
 */
import { createWorker } from '../../src/index.ts';
import { failChild, readyUntilStopped, requireEnv, tell } from '../lib/child.ts';
import { answerCounterRequests } from '../lib/process-counters.ts';
import { benchTrip, makeNoopHandlers, registry } from '../lib/saga.ts';
import { holdSaga, waitHandlers } from '../lib/wait-sagas.ts';

try {
  answerCounterRequests();
  let stepsRun = 0;
  const killAfter = Number(process.env.BENCH_KILL_AFTER_STEPS ?? 0);
  const onRunDone = () => {
    if (++stepsRun === killAfter) process.kill(process.pid, 'SIGKILL');
  };
  const progress =
    process.env.BENCH_PROGRESS === '1'
      ? setInterval(() => tell({ type: 'steps-run', count: stepsRun }), 10)
      : undefined;
  const hold = process.env.BENCH_SAGA === 'hold';
  const worker = createWorker({
    connection: requireEnv('REDIS_URL'),
    prefix: requireEnv('BENCH_PREFIX'),
    handlers: hold ? waitHandlers : progress ? { [benchTrip.name]: makeNoopHandlers(onRunDone) } : registry,
    sagas: process.env.BENCH_WORKER_SAGAS === '0' ? [] : [hold ? holdSaga : benchTrip],
    concurrency: Number(requireEnv('BENCH_CONCURRENCY')),
    ...(process.env.BENCH_LOCK_MS ? { lockDurationMs: Number(process.env.BENCH_LOCK_MS) } : {}),
    ...(process.env.BENCH_LOG === '0' ? { log: false } : {}),
    ...(process.env.BENCH_RETENTION_S ? { retention: { finalTtlSeconds: Number(process.env.BENCH_RETENTION_S) } } : {}),
  });
  readyUntilStopped(async () => {
    clearInterval(progress);
    await worker.close();
  });
} catch (error) {
  failChild(error);
}
