import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { order, orderHandlers } from '../../examples/order-fulfilment/saga.ts';
import { Participants, trip, tripHandlers } from '../../examples/trip-booking/saga.ts';
import { defineSaga } from '../../src/index.ts';
import { checkCompensationAtEveryIndex } from '../../src/testing/index.ts';

describe('checkCompensationAtEveryIndex', () => {
  it('passes on the trip-booking example, one run per failure index plus a clean run', async () => {
    const participants = new Participants();
    const runs = await checkCompensationAtEveryIndex(trip, tripHandlers(participants), { input: { tripId: 't-1' } });
    expect(runs.map((r) => [r.failAt, r.state, r.compensations.join()])).toEqual([
      [0, 'Failed', ''],
      [1, 'Failed', 'reserveFlight'],
      [2, 'Failed', 'reserveHotel,reserveFlight'],
      [3, 'Failed', 'reserveCar,reserveHotel,reserveFlight'],
      // The confirmation comes after the pivot (the charge): its failure escalates, nothing is undone.
      [4, 'Escalated', ''],
      [undefined, 'Completed', ''],
    ]);
    // The clean run and the escalated one leave bookings behind: flight, hotel, car and charge each.
    expect(participants.bookings.size).toBe(8);
  });

  it('passes on the order-fulfilment example, rolling back up to its pivot and escalating after it', async () => {
    const ledger: string[] = [];
    const runs = await checkCompensationAtEveryIndex(
      order,
      orderHandlers({ stockBlips: 0, releaseBlips: 0, carrierRefuses: false }, ledger),
      { input: { orderId: 'o', sku: 'mug', quantity: 1 }, seed: 7 },
    );
    expect(runs.find((r) => r.failAt === 2)?.compensations).toEqual(['chargeCustomer', 'reserveStock']);
    expect(runs.find((r) => r.failAt === 3)).toMatchObject({ state: 'Escalated', compensations: [] });
    expect(runs.some((r) => r.calls.some((c) => c.outcome === 'transient'))).toBe(true);
  });

  it('fails loudly when a compensation handler undoes the wrong thing', async () => {
    const saga = defineSaga({
      name: 'broken',
      version: 1,
      input: z.object({}),
      steps: [
        { name: 'a', compensate: true },
        { name: 'b', compensate: true },
        { name: 'c', kind: 'query' },
      ],
    });
    // A handler that "succeeds" but hides a failure of the engine cannot be faked from outside, so
    // instead prove the check reads real outcomes: a compensation that throws terminally every time
    // leaves the saga Escalated, which the check must report.
    const handlers = {
      a: {
        run: async () => 1,
        compensate: async () => {
          throw new Error('participant down');
        },
      },
      b: { run: async () => 2, compensate: async () => undefined },
      c: { run: async () => 3 },
    };
    await expect(checkCompensationAtEveryIndex(saga, handlers, { transientFailures: false })).rejects.toThrow(
      /with step "b" failing: ended Escalated, expected Failed/,
    );
  });
});
