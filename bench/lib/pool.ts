/** What {@link runPool} measured. */
export interface PoolRun {
  elapsedMs: number;
  /** Per-task latency, ms, in completion order. */
  latencies: number[];
}

/**
 * Runs `total` tasks with at most `inFlight` at once (each lane starts its next task when the
 * previous one ends), timing each task and the whole. The first failure rejects the run.
 */
export async function runPool(
  total: number,
  inFlight: number,
  task: (index: number) => Promise<void>,
): Promise<PoolRun> {
  const latencies: number[] = [];
  let next = 0;
  const lane = async () => {
    for (;;) {
      const index = next++;
      if (index >= total) return;
      const began = performance.now();
      await task(index);
      latencies.push(performance.now() - began);
    }
  };
  const began = performance.now();
  await Promise.all(Array.from({ length: Math.min(inFlight, total) }, lane));
  return { elapsedMs: performance.now() - began, latencies };
}

/** Rejects after `ms` with a message naming what took too long; `clear` to cancel. */
export function deadline(ms: number, what: string): { promise: Promise<never>; clear: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${Math.round(ms / 1000)} s`)), ms);
  });
  return { promise, clear: () => clearTimeout(timer) };
}

/** Runs `work` and fails it after `ms`. */
export async function withTimeout<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  const limit = deadline(ms, what);
  try {
    return await Promise.race([work, limit.promise]);
  } finally {
    limit.clear();
  }
}

/** Waits `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
