/**
 * Scenario 1's worker process: one BullMQ Worker whose processor adds the chain's next job before it
 * returns (the cheapest honest job chain), and tells the benchmark when a chain's last job completed.
 *
 * Env: REDIS_URL, BENCH_PREFIX (BullMQ prefix), BENCH_CONCURRENCY, BENCH_CHAIN_LENGTH.
 * IPC in: read-counters (answered with counters: client commands and CPU of this process).
 */
import { type Job, Queue, Worker } from 'bullmq';
import { CHAIN_JOB_OPTIONS, CHAIN_QUEUE, type ChainJob } from '../lib/chain.ts';
import { failChild, readyUntilStopped, requireEnv, tell } from '../lib/child.ts';
import { bullConnection } from '../lib/context.ts';
import { answerCounterRequests } from '../lib/process-counters.ts';

try {
  answerCounterRequests();
  const connection = bullConnection(requireEnv('REDIS_URL'));
  const prefix = requireEnv('BENCH_PREFIX');
  const concurrency = Number(requireEnv('BENCH_CONCURRENCY'));
  const length = Number(requireEnv('BENCH_CHAIN_LENGTH'));
  const queue = new Queue<ChainJob>(CHAIN_QUEUE, { connection, prefix });
  const worker = new Worker<ChainJob>(
    CHAIN_QUEUE,
    async (job: Job<ChainJob>) => {
      const { chain, step } = job.data;
      if (step + 1 < length) await queue.add('link', { chain, step: step + 1 }, CHAIN_JOB_OPTIONS);
    },
    { connection, prefix, concurrency },
  );
  worker.on('completed', (job) => {
    if (job.data.step + 1 === length) tell({ type: 'chain-done', chain: job.data.chain });
  });
  worker.on('error', (error) => tell({ type: 'error', message: String(error) }));
  await worker.waitUntilReady();
  await queue.waitUntilReady();
  readyUntilStopped(async () => {
    await worker.close();
    await queue.close();
  });
} catch (error) {
  failChild(error);
}
