import type { StepJob, StepQueue } from '../../src/index.ts';

/**
 * A StepQueue whose jobs are never run: `enqueue` only counts. An engine on it parks every saga in
 * its first step, which is how the parked-sagas scenario fills one process with waiting sagas.
 */
export class ParkingQueue implements StepQueue {
  enqueued = 0;

  async enqueue(_job: StepJob): Promise<void> {
    this.enqueued++;
  }

  consume(): void {
    // No job ever finishes, so there is never an outcome to deliver.
  }

  async ack(): Promise<void> {}

  async close(): Promise<void> {}
}
