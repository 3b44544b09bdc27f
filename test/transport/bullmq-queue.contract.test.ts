import { randomUUID } from 'node:crypto';
import { BullMqQueue, createWorker } from '../../src/index.ts';
import { describeStepQueueContract } from '../contracts/step-queue.contract.ts';
import { dropPrefix, REDIS_URL } from '../durable/redis-helpers.ts';

describeStepQueueContract('BullMqQueue + createWorker', async (runAttempt) => {
  const prefix = `xsaga-test-${randomUUID()}`;
  const queue = new BullMqQueue({ connection: REDIS_URL, prefix, deadlineGraceMs: false });
  const worker = createWorker({ connection: REDIS_URL, prefix, runAttempt, random: () => 0 });
  return {
    queue,
    cleanup: async () => {
      await worker.close();
      await queue.close();
      await dropPrefix(prefix);
    },
  };
});
