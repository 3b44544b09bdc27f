import { describe, expect, it } from 'vitest';
import { checkCompensationAtEveryIndex, createSagaTestModel } from 'xsaga/testing';
import { builtTrip } from '../src/built.js';
import { bookTrip, trip, tripHandlers } from '../src/trip.js';

describe('trip-booking, tested with xsaga/testing from the installed package', () => {
  it('keeps every invariant on every path of the machine', () => {
    expect(createSagaTestModel(trip).check()).toBeGreaterThan(0);
  });

  it('compensates in reverse at every failure point', async () => {
    const runs = await checkCompensationAtEveryIndex(trip, tripHandlers, { input: { tripId: 't1' } });
    expect(runs.map((run) => [run.failAt, run.failure, run.state, run.compensations.join()])).toEqual([
      [0, 'terminal', 'Failed', ''],
      [1, 'terminal', 'Failed', 'reserveFlight'],
      [2, 'terminal', 'Failed', 'reserveHotel,reserveFlight'],
      [0, 'inDoubt', 'Failed', 'reserveFlight'],
      [1, 'inDoubt', 'Failed', 'reserveHotel,reserveFlight'],
      // The pivot's verify answers that it did not happen: a definite failure, rolled back.
      [2, 'inDoubt', 'Failed', 'reserveHotel,reserveFlight'],
      [undefined, 'terminal', 'Completed', ''],
    ]);
  });

  it('runs on the embedded engine', async () => {
    await expect(bookTrip('t2')).resolves.toBe('Completed');
  });

  it('builds a saga with the builder, handlers included', () => {
    expect(builtTrip.pivot).toBe('chargePayment');
    expect(Object.keys(builtTrip.handlers)).toEqual(['reserveFlight', 'chargePayment']);
  });
});
