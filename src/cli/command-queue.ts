import { BullMqQueue, type BullMqQueueOptions } from '../transport/bullmq-queue.ts';
import type { StepQueue } from '../transport/step-queue.ts';

/**
 * The step queue of the engine a CLI command uses: the deployment's BullMQ queues, used only to
 * publish, and opened only if the command dispatches something.
 *
 * - It never consumes outcomes. Every engine process consumes the shared outcome queue; a process
 *   that lives for one command must not take part: it would apply outcomes of sagas whose
 *   definitions its `--sagas` module may not export (failing those outcome jobs), and it would be
 *   gone before it could finish what it took. Outcomes are the long-running engines' work. A
 *   BullMqQueue whose `consume` is never called is made for this: what it would deliver locally it
 *   publishes for the engines instead.
 * - It opens BullMQ's connections on first use, so `show` or a refused `resume` costs no more than
 *   the store's one connection.
 *
 * @example
 * ```ts
 * const queue = createCommandQueue({ connection, prefix });
 * const engine = createEngine({ store, queue, sagas });
 * ```
 */
export function createCommandQueue(options: BullMqQueueOptions): StepQueue {
  let queue: BullMqQueue | undefined;
  const open = (): BullMqQueue => {
    queue ??= new BullMqQueue(options);
    return queue;
  };
  return {
    enqueue: (job, enqueueOptions) => open().enqueue(job, enqueueOptions),
    consume: () => {
      // Deliberately nothing: see above.
    },
    ack: (jobId) => open().ack(jobId),
    close: async () => {
      await queue?.close();
    },
  };
}
