import { describe, expect, it } from 'vitest';
import { checkCompensationAtEveryIndex, createSagaTestModel } from 'xsaga/testing';
import { bookTrip, trip, tripHandlers } from '../src/trip.js';

describe('trip-booking, tested with xsaga/testing from the installed package', () => {
  it('keeps every invariant on every path of the machine', () => {
    expect(createSagaTestModel(trip).check()).toBeGreaterThan(0);
  });

  it('compensates in reverse at every failure point', async () => {
    const runs = await checkCompensationAtEveryIndex(trip, tripHandlers, { input: { tripId: 't1' } });
    expect(runs.map((run) => [run.failAt, run.state, run.compensations.join()])).toEqual([
      [0, 'Failed', ''],
      [1, 'Failed', 'reserveFlight'],
      [2, 'Failed', 'reserveHotel,reserveFlight'],
      [undefined, 'Completed', ''],
    ]);
  });

  it('runs on the embedded engine', async () => {
    await expect(bookTrip('t2')).resolves.toBe('Completed');
  });
});
