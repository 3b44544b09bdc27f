/**
 * The xsaga step worker process of the durable scenarios: createWorker with the no-op handlers.
 *
 * Env: REDIS_URL, BENCH_PREFIX (the xsaga prefix, the same as the engine's), BENCH_CONCURRENCY.
 */
import { createWorker } from '../../src/index.ts';
import { failChild, readyUntilStopped, requireEnv } from '../lib/child.ts';
import { registry } from '../lib/saga.ts';

try {
  const worker = createWorker({
    connection: requireEnv('REDIS_URL'),
    prefix: requireEnv('BENCH_PREFIX'),
    handlers: registry,
    concurrency: Number(requireEnv('BENCH_CONCURRENCY')),
  });
  readyUntilStopped(() => worker.close());
} catch (error) {
  failChild(error);
}
