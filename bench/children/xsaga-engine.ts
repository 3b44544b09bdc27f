/**
 * The engine process of the recovery scenario: a durable engine (no handlers: steps run in the
 * worker process) that starts sagas when told and reports how many steps have completed, so the
 * benchmark can SIGKILL it part-way. A replacement started on the same prefix recovers the sagas.
 *
 * Env: REDIS_URL, BENCH_PREFIX. IPC in: { type: 'start', count, runId }.
 * IPC out: ready, started { count }, progress { stepsDone } (every 10 ms).
 */
import { createEngine } from '../../src/index.ts';
import { failChild, readyUntilStopped, requireEnv, tell } from '../lib/child.ts';
import { benchTrip } from '../lib/saga.ts';

try {
  const engine = createEngine({
    redis: { connection: requireEnv('REDIS_URL'), prefix: requireEnv('BENCH_PREFIX') },
    sagas: [benchTrip],
  });
  engine.on('error', (error) => tell({ type: 'log', message: `engine ${process.pid}: ${String(error)}` }));
  let stepsDone = 0;
  engine.on('transition', (entry) => {
    if (entry.event === 'step.done' && entry.direction === 'run') stepsDone++;
  });
  const progress = setInterval(() => tell({ type: 'progress', stepsDone }), 10);

  process.on('message', (message: { type: string; count: number; runId: string }) => {
    if (message.type !== 'start') return;
    const starts = Array.from({ length: message.count }, (_, i) =>
      engine.start(benchTrip, { tripId: `t${i}` }, { sagaId: `${message.runId}-${i}` }),
    );
    Promise.all(starts).then(
      () => tell({ type: 'started', count: message.count }),
      (error: unknown) => failChild(error),
    );
  });
  readyUntilStopped(async () => {
    clearInterval(progress);
    await engine.close();
  });
} catch (error) {
  failChild(error);
}
