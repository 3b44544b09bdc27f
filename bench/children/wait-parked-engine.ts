/**
 * The parked-at-a-wait process (run with --expose-gc): ONE engine on Redis that starts the sagas.
 * BENCH_HANDLERS=1: it has the handlers, so it also runs the step worker and applies each `hold`
 * outcome itself; every saga then parks at its 7-day wait in this process, which evicts it.
 * BENCH_HANDLERS=0: no handlers; a worker process runs `hold` and parks the saga there, and this
 * engine keeps what it hosted at `start` until it is trimmed (maxActiveSagas). At each mark the
 * benchmark waits until Redis shows every saga parked, then asks for this process's memory after
 * full GCs.
 *
 * Env: REDIS_URL, BENCH_PREFIX, BENCH_MARKS (e.g. "10000,100000"), BENCH_IN_FLIGHT, BENCH_HANDLERS,
 * BENCH_CONCURRENCY (the co-hosted worker's).
 * IPC out: ready; started { count, ms } (the starts of a mark returned); mark { count, rss, heapUsed,
 * external, arrayBuffers, resources, timeouts }; done. IPC in: measure (every saga started so far is
 * parked).
 */
import { createEngine } from '../../src/index.ts';
import { failChild, fromParent, requireEnv, tell } from '../lib/child.ts';
import { settledMemory } from '../lib/heap.ts';
import { runPool } from '../lib/pool.ts';
import { holdSaga, waitHandlers } from '../lib/wait-sagas.ts';

/** Handles and timers keeping this process busy: a count that must not grow with parked sagas. */
function activeResources(): { resources: number; timeouts: number } {
  const info = process.getActiveResourcesInfo();
  return { resources: info.length, timeouts: info.filter((kind) => kind === 'Timeout').length };
}

try {
  const marks = requireEnv('BENCH_MARKS').split(',').map(Number);
  const inFlight = Number(requireEnv('BENCH_IN_FLIGHT'));
  const coHosted = requireEnv('BENCH_HANDLERS') === '1';
  const engine = createEngine({
    redis: {
      connection: requireEnv('REDIS_URL'),
      prefix: requireEnv('BENCH_PREFIX'),
      workerConcurrency: Number(requireEnv('BENCH_CONCURRENCY')),
    },
    sagas: [holdSaga],
    ...(coHosted ? { handlers: waitHandlers } : {}),
  });
  const errors: unknown[] = [];
  engine.on('error', (error) => errors.push(error));
  tell({ type: 'ready' });
  let started = 0;
  for (const mark of marks) {
    const from = started;
    const began = performance.now();
    await runPool(mark - from, inFlight, async (i) => {
      await engine.start(holdSaga, { n: from + i }, { sagaId: `w-${from + i}` });
    });
    started = mark;
    tell({ type: 'started', count: mark, ms: performance.now() - began });
    // The benchmark watches Redis until the last `hold` outcome is applied: measuring earlier would
    // count sagas still hosted for their step.
    await fromParent('measure');
    tell({ type: 'mark', count: mark, ...(await settledMemory()), ...activeResources() });
  }
  await engine.close();
  if (errors.length > 0) throw new Error(`engine reported ${errors.length} errors: ${String(errors[0])}`);
  tell({ type: 'done' });
  process.disconnect?.();
} catch (error) {
  failChild(error);
}
