/**
 * The parked-sagas process (run with --expose-gc): starts sagas that never get past their first
 * step and reports RSS and heap after full GCs at each mark.
 *
 * - BENCH_MODE=durable: createEngine({ redis }) with no handlers and no worker anywhere, so every
 *   saga waits in Pending with its first step job queued in BullMQ.
 * - BENCH_MODE=embedded: createEngine({ queue: new ParkingQueue() }): the default MemoryStore keeps
 *   every saga in this process, so memory grows with the count by design.
 *
 * Env: BENCH_MODE, BENCH_MARKS (e.g. "10000,100000"), BENCH_IN_FLIGHT, REDIS_URL, BENCH_PREFIX.
 * IPC out: mark { count, rss, heapUsed, external, arrayBuffers, ms }, done.
 */
import { createEngine, type Engine } from '../../src/index.ts';
import { failChild, requireEnv, tell } from '../lib/child.ts';
import { settledMemory } from '../lib/heap.ts';
import { ParkingQueue } from '../lib/parking-queue.ts';
import { runPool } from '../lib/pool.ts';
import { benchTrip } from '../lib/saga.ts';

try {
  const mode = requireEnv('BENCH_MODE');
  const marks = requireEnv('BENCH_MARKS').split(',').map(Number);
  const inFlight = Number(requireEnv('BENCH_IN_FLIGHT'));
  const queue = new ParkingQueue();
  const engine: Engine =
    mode === 'durable'
      ? createEngine({
          redis: { connection: requireEnv('REDIS_URL'), prefix: requireEnv('BENCH_PREFIX') },
          sagas: [benchTrip],
        })
      : createEngine({ queue, sagas: [benchTrip] });
  let started = 0;
  const began = performance.now();
  for (const mark of marks) {
    const from = started;
    await runPool(mark - from, inFlight, async (i) => {
      await engine.start(benchTrip, { tripId: `t${from + i}` }, { sagaId: `p-${from + i}` });
    });
    started = mark;
    tell({ type: 'mark', count: mark, ...(await settledMemory()), ms: performance.now() - began });
  }
  if (mode !== 'durable' && queue.enqueued !== started) {
    throw new Error(`expected ${started} parked step jobs, the queue saw ${queue.enqueued}`);
  }
  await engine.close();
  tell({ type: 'done' });
  process.disconnect?.();
} catch (error) {
  failChild(error);
}
