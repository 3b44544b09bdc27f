import { z } from 'zod';
import { type CompensationContext, defineSaga, type StepContext, TerminalError } from '../../src/index.ts';

/**
 * The saga of the observability tests: `a` and `b` are compensable, `c` is not; the input says
 * what goes wrong. `a` may time out on its first attempt, `c` may refuse (terminally), and the undo
 * of `b` may keep failing (two attempts, then the saga is Escalated).
 */
export const shop = defineSaga({
  name: 'shop',
  version: 1,
  input: z.object({
    slowFirst: z.boolean().default(false),
    refuse: z.boolean().default(false),
    undoFails: z.boolean().default(false),
  }),
  steps: [
    { name: 'a', compensate: true, retry: { attempts: 2, backoff: { type: 'fixed', delayMs: 10 } }, timeoutMs: 1000 },
    {
      name: 'b',
      compensate: { retry: { attempts: 2, backoff: { type: 'fixed', delayMs: 10 } } },
    },
    { name: 'c', retry: { attempts: 1 }, kind: 'query' },
  ],
});

export type ShopInput = { slowFirst: boolean; refuse: boolean; undoFails: boolean };

/** Waits until the attempt's signal is aborted (its timeout), then rejects with the reason. */
function hang(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
}

/**
 * Handlers of {@link shop}; `onRun` lets a test do something inside a handler (e.g. start a span).
 */
export function shopHandlers(onRun: (ctx: StepContext<ShopInput>) => void = () => undefined) {
  return {
    a: {
      run: async (ctx: StepContext<ShopInput>) => {
        onRun(ctx);
        if (ctx.input.slowFirst && ctx.attempt === 1) await hang(ctx.signal);
        return { a: 1 };
      },
      compensate: (_ctx: CompensationContext<ShopInput>) => undefined,
    },
    b: {
      run: (ctx: StepContext<ShopInput>) => {
        onRun(ctx);
        return { b: 1 };
      },
      compensate: (ctx: CompensationContext<ShopInput>) => {
        if (ctx.input.undoFails) throw new Error('undo of b failed');
      },
    },
    c: {
      run: (ctx: StepContext<ShopInput>) => {
        onRun(ctx);
        if (ctx.input.refuse) throw new TerminalError('c refused');
        return { c: 1 };
      },
    },
  };
}
