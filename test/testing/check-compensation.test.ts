import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { order, orderHandlers } from '../../examples/order-fulfilment/saga.ts';
import { restock, restockHandlers } from '../../examples/parallel-group/saga.ts';
import { Participants, trip, tripHandlers } from '../../examples/trip-booking/saga.ts';
import { defineDynamicSaga, defineSaga } from '../../src/index.ts';
import { checkCompensationAtEveryIndex } from '../../src/testing/index.ts';

describe('checkCompensationAtEveryIndex', () => {
  it('passes on the trip-booking example, one run per failure index plus a clean run', async () => {
    const participants = new Participants();
    const runs = await checkCompensationAtEveryIndex(trip, tripHandlers(participants), { input: { tripId: 't-1' } });
    expect(runs.map((r) => [r.failAt, r.failure, r.state, r.compensations.join()])).toEqual([
      [0, 'terminal', 'Failed', ''],
      [1, 'terminal', 'Failed', 'reserveFlight'],
      [2, 'terminal', 'Failed', 'reserveHotel,reserveFlight'],
      [3, 'terminal', 'Failed', 'reserveCar,reserveHotel,reserveFlight'],
      // The confirmation comes after the pivot (the charge): its failure escalates, nothing is undone.
      [4, 'terminal', 'Escalated', ''],
      // A reservation in doubt is undone first, in doubt (found nothing: the check never ran it).
      [0, 'inDoubt', 'Failed', 'reserveFlight'],
      [1, 'inDoubt', 'Failed', 'reserveHotel,reserveFlight'],
      [2, 'inDoubt', 'Failed', 'reserveCar,reserveHotel,reserveFlight'],
      // A charge in doubt (the pivot) is not guessed at: a person decides.
      [3, 'inDoubt', 'Escalated', ''],
      [4, 'inDoubt', 'Escalated', ''],
      [undefined, 'terminal', 'Completed', ''],
    ]);
    // Left behind: four bookings each by the clean run and both escalated confirmations, and the
    // three reservations of the escalated charge.
    expect(participants.bookings.size).toBe(15);
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

  it('passes on the parallel-group example, whatever order its suppliers finish in', async () => {
    const ledger: string[] = [];
    const runs = await checkCompensationAtEveryIndex(restock, restockHandlers(ledger), {
      input: { sku: 'mug' },
      transientFailures: false,
    });
    const byFailure = (failAt: number, failure: string) =>
      runs.find((r) => r.failAt === failAt && r.failure === failure);
    // One supplier refusing leaves two: the policy (at least two) is met and the order goes ahead.
    expect(byFailure(1, 'terminal')).toMatchObject({ state: 'Completed', compensations: [] });
    // In doubt, that supplier's share is cancelled before the saga goes on.
    expect(byFailure(1, 'inDoubt')).toMatchObject({ state: 'Completed', compensations: ['north'] });
    // The purchase order (the pivot) refused: every share, newest first, then the budget.
    const pivot = byFailure(4, 'terminal');
    expect(pivot?.state).toBe('Failed');
    expect(pivot?.compensations).toEqual([...(pivot?.completed ?? [])].reverse());
  });

  describe('with waits and sleeps', () => {
    const approval = defineSaga({
      name: 'approval-check',
      version: 1,
      input: z.object({}),
      steps: [
        { name: 'hold' },
        { sleep: 'coolOff', forMs: 86_400_000 },
        { wait: 'approve', signal: z.object({ ok: z.boolean() }), timeoutMs: 60_000, reject: (p) => !p.ok },
        { name: 'charge', kind: 'pivot' },
      ],
    });
    const handlers = { hold: { run: () => 'held', compensate: () => undefined }, charge: { run: () => 'charged' } };

    it('signals each wait with its payload, ends sleeps at once, and never fails a wait', async () => {
      const runs = await checkCompensationAtEveryIndex(approval, handlers, { signals: { approve: { ok: true } } });
      expect(runs.map((r) => [r.failAt, r.failure, r.state, r.completed.join(), r.compensations.join()])).toEqual([
        [0, 'terminal', 'Failed', '', ''],
        [3, 'terminal', 'Failed', 'hold,coolOff,approve', 'hold'],
        [0, 'inDoubt', 'Failed', '', 'hold'],
        [3, 'inDoubt', 'Escalated', 'hold,coolOff,approve', ''],
        [undefined, 'terminal', 'Completed', 'hold,coolOff,approve,charge', ''],
      ]);
    });

    it('says which wait needs a payload when signals lack one', async () => {
      await expect(checkCompensationAtEveryIndex(approval, handlers)).rejects.toThrow(
        /waits for signal "approve": give checkCompensationAtEveryIndex a payload for it in options.signals/,
      );
    });
  });

  it('refuses a dynamic saga, which has no step index to fail at, and says what checks it', async () => {
    const agent = defineDynamicSaga({
      name: 'agent-check',
      version: 1,
      input: z.object({}),
      idleTimeoutMs: 1_000,
      tools: { look: { kind: 'query', args: z.object({}), run: () => 1 } },
    });
    await expect(checkCompensationAtEveryIndex(agent, agent.handlers)).rejects.toThrow(
      /saga "agent-check" is dynamic: .*check it with createSagaTestModel\(saga, \{ maxSteps \}\)/,
    );
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
