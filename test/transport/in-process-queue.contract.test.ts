import { InProcessQueue } from '../../src/index.ts';
import { describeStepQueueContract } from '../contracts/step-queue.contract.ts';

describeStepQueueContract('InProcessQueue', async (runAttempt) => {
  const queue = new InProcessQueue({ runAttempt, random: () => 0 });
  return { queue, cleanup: () => queue.close() };
});

describeStepQueueContract('InProcessQueue with concurrency 1', async (runAttempt) => {
  const queue = new InProcessQueue({ runAttempt, random: () => 0, concurrency: 1 });
  return { queue, cleanup: () => queue.close() };
});
