import { sleep } from './pool.ts';

const gc = (globalThis as { gc?: () => void }).gc;

/** Memory of this process after full GCs: what the parked scenarios compare between counts. */
export interface MemoryFigures {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

/**
 * Runs full GCs a few times, a tick apart (finalizers and weak callbacks free more on the next
 * pass), then reads the process's memory. Needs `node --expose-gc`.
 */
export async function settledMemory(): Promise<MemoryFigures> {
  if (!gc) throw new Error('run with node --expose-gc');
  for (let i = 0; i < 4; i++) {
    gc();
    await sleep(50);
  }
  const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
  return { rss, heapUsed, external, arrayBuffers };
}
