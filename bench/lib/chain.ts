/** Job data of one link of a raw BullMQ chain (scenario 1). */
export interface ChainJob {
  chain: number;
  step: number;
}

/** Queue of the raw chain jobs. */
export const CHAIN_QUEUE = 'chain';

/** How a person would usually add chain jobs: nothing kept once done. */
export const CHAIN_JOB_OPTIONS = { removeOnComplete: true, removeOnFail: true } as const;
