import { z } from 'zod';
import { defineHandlers, defineSaga, TerminalError } from '../../src/index.ts';

/**
 * The benchmark's saga: the trip-booking shape (four compensable steps, the first with its own retry
 * policy and timeout), defined here so changes to the example do not move the benchmark.
 * `cardDeclined: true` makes step 4 throw a TerminalError: three compensations run.
 */
export const benchTrip = defineSaga({
  name: 'bench-trip',
  version: 1,
  description: 'Flight, hotel and car, then payment (benchmark copy of trip-booking)',
  input: z.object({
    tripId: z.string().min(1),
    cardDeclined: z.boolean().default(false),
  }),
  steps: [
    {
      name: 'reserveFlight',
      compensate: true,
      retry: { attempts: 3, backoff: { type: 'exponential', delayMs: 50 } },
      timeoutMs: 2000,
    },
    { name: 'reserveHotel', compensate: true },
    { name: 'reserveCar', compensate: true },
    { name: 'chargePayment', compensate: true },
  ],
});

/** Step names in order. */
export const STEPS = benchTrip.steps.map((step) => step.name);

const noop = async () => ({});

/**
 * No-op handlers: every step returns at once; step 4 throws a TerminalError when the card is declined.
 * `onRunDone` is called when a forward step's handler has returned (how the recovery scenario's worker
 * counts progress whoever applies the outcomes).
 */
export function makeNoopHandlers(onRunDone?: () => void) {
  const run = onRunDone
    ? async () => {
        onRunDone();
        return {};
      }
    : noop;
  return defineHandlers(benchTrip, {
    reserveFlight: { run, compensate: noop },
    reserveHotel: { run, compensate: noop },
    reserveCar: { run, compensate: noop },
    chargePayment: {
      run: async (ctx) => {
        if (ctx.input.cardDeclined) throw new TerminalError('card declined');
        onRunDone?.();
        return {};
      },
      compensate: noop,
    },
  });
}

/** The no-op handlers, counting nothing. */
export const noopHandlers = makeNoopHandlers();

/** The handler registry an engine or worker takes. */
export const registry = { [benchTrip.name]: noopHandlers };
