import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { trip } from '../../examples/trip-booking/saga.ts';
import { defineDynamicSaga, defineSaga } from '../../src/index.ts';
import { createSagaTestModel, type SagaPathScenario, type SagaTestModel } from '../../src/testing/index.ts';
import { SagaEvents } from '../../src/vocabulary/events.ts';

/**
 * Definitions of 1..5 steps (a 6-step saga has about 2,400 paths once runs may end in doubt, and
 * @xstate/graph takes about 30 s to list them here) with every mix of compensable and non-compensable steps we care about. */
function definitionOf(size: number, compensable: (index: number) => boolean) {
  return defineSaga({
    name: `paths-${size}`,
    version: 1,
    input: z.object({}),
    steps: Array.from({ length: size }, (_, i) => ({
      name: `step${i}`,
      ...(compensable(i) ? {} : { kind: 'query' as const }),
    })),
  });
}

const patterns: Array<[string, (i: number) => boolean]> = [
  ['every step compensable', () => true],
  ['no step compensable', () => false],
  ['every other step compensable', (i) => i % 2 === 0],
  ['only the last step not compensable', (i) => i !== 5 && i !== 4 && i !== 3],
];

/** A guard against a hang, not a speed check: @xstate/graph lists thousands of paths on 2 shared cores. */
const PATH_LISTING_TIMEOUT_MS = 240_000;

describe('model-based path tests (@xstate/graph)', () => {
  for (let size = 1; size <= 5; size++) {
    for (const [label, compensable] of patterns) {
      it(
        `keeps every invariant on every path of a ${size}-step saga (${label})`,
        () => {
          const model = createSagaTestModel(definitionOf(size, compensable));
          expect(model.check()).toBe(model.paths.length);
          // Each path is a real scenario: the model reaches every settled state that is possible.
          const finals = new Set(model.paths.map((p) => p.finalState));
          expect(finals.has('Completed')).toBe(true);
          expect(finals.has('Failed')).toBe(true);
          expect(finals.has('Escalated')).toBe(Array.from({ length: size }, (_, i) => i).some(compensable));
          // Listing a 5-step saga's 1,142 paths takes 10 s alone and four times that on a loaded machine.
        },
        PATH_LISTING_TIMEOUT_MS,
      );
    }
  }

  it('finds the failure of every single step among its paths', () => {
    const model = createSagaTestModel(definitionOf(4, () => true));
    for (let k = 0; k < 4; k++) {
      const path = model.paths.find(
        (p) =>
          !p.events.some((e) => e.type === SagaEvents.cancel) &&
          p.events.some((e) => e.type === SagaEvents.stepFailed && e.step === `step${k}` && e.direction === 'run') &&
          p.finalState === 'Failed' &&
          p.compensations.length === k,
      );
      expect(path?.compensations).toEqual(Array.from({ length: k }, (_, i) => `step${k - 1 - i}`));
    }
  });

  it('undoes a step whose run ended in doubt first, in doubt, then the completed steps newest first', () => {
    const model = createSagaTestModel(definitionOf(3, () => true));
    const path = model.paths.find(
      (p) =>
        p.description ===
        'step0 ok, step1 ok, step2 fails in doubt, undo step2 ok, undo step1 ok, undo step0 ok -> Failed',
    );
    expect(path?.context.steps.step2).toMatchObject({ status: 'compensated', inDoubt: true });
    expect(model.violations(path as SagaPathScenario)).toEqual([]);
  });

  it('reports a path that drops an in-doubt step instead of compensating it', () => {
    const model = createSagaTestModel(definitionOf(3, () => true));
    const path = model.paths.find(
      (p) => p.description.startsWith('step0 ok, step1 fails in doubt') && p.finalState === 'Failed',
    );
    if (!path) throw new Error('the model has no path where step1 fails in doubt and the saga rolls back');
    const tampered = { ...path, compensations: path.compensations.filter((s) => s !== 'step1') };
    tampered.context = { ...tampered.context, compensated: tampered.compensations };
    expect(model.violations(tampered).join()).toMatch(/in-doubt step1 was dropped/);
  });

  describe('with a parallel group', () => {
    // Built once per policy: listing every path of a group takes @xstate/graph 10-20 s here.
    const models = new Map<string, SagaTestModel>();
    const modelOf = (policy: 'all' | 'any') => {
      const model = models.get(policy) ?? createSagaTestModel(grouped(policy));
      models.set(policy, model);
      return model;
    };
    const grouped = (policy: 'all' | 'any') =>
      defineSaga({
        name: `grouped-${policy}`,
        version: 1,
        input: z.object({}),
        steps: [
          { name: 'hold' },
          { group: 'reserve', parallel: [{ name: 'hotel' }, { name: 'car' }], policy },
          { name: 'charge', kind: 'pivot' },
        ],
      });

    it.each(['all', 'any'] as const)(
      'keeps every invariant on every path, in every order the members finish (policy %s)',
      (policy) => {
        const model = modelOf(policy);
        expect(model.check()).toBe(model.paths.length);
        const descriptions = model.paths.map((p) => p.description);
        // Both completion orders, each undone in reverse when the pivot then fails.
        expect(descriptions).toContain(
          'hold ok, hotel ok, car ok, charge fails, undo car ok, undo hotel ok, undo hold ok -> Failed',
        );
        expect(descriptions).toContain(
          'hold ok, car ok, hotel ok, charge fails, undo hotel ok, undo car ok, undo hold ok -> Failed',
        );
      },
      PATH_LISTING_TIMEOUT_MS,
    );

    it(
      'goes on with policy any when one member fails, and undoes an in-doubt member before it does',
      () => {
        const model = modelOf('any');
        const descriptions = model.paths.map((p) => p.description);
        expect(descriptions).toContain('hold ok, hotel ok, car fails, charge ok -> Completed');
        expect(descriptions).toContain('hold ok, hotel ok, car fails in doubt, undo car ok, charge ok -> Completed');
      },
      PATH_LISTING_TIMEOUT_MS,
    );

    it(
      'reports a path that moves past a group whose policy was not met',
      () => {
        const model = modelOf('all');
        const path = model.paths.find((p) => p.description === 'hold ok, hotel ok, car ok, charge ok -> Completed');
        if (!path) throw new Error('the model has no path completing every step');
        const tampered = { ...path, completed: ['hold', 'hotel', 'charge'] };
        expect(model.violations(tampered).join()).toMatch(/steps completed out of order|Completed without every step/);
      },
      PATH_LISTING_TIMEOUT_MS,
    );
  });

  it('explores definite outcomes only when asked to leave in-doubt runs out', () => {
    const full = createSagaTestModel(definitionOf(3, () => true));
    const definite = createSagaTestModel(
      definitionOf(3, () => true),
      { inDoubt: false },
    );
    expect(definite.check()).toBe(definite.paths.length);
    expect(definite.paths.some((p) => p.description.includes('in doubt'))).toBe(false);
    expect(full.paths.some((p) => p.description.includes('in doubt'))).toBe(true);
    expect(definite.paths.length).toBeLessThan(full.paths.length);
  });

  it('reports a path whose compensations are out of order', () => {
    const model = createSagaTestModel(definitionOf(3, () => true));
    const path = model.paths.find((p) => p.finalState === 'Failed' && p.compensations.length === 2);
    if (!path) throw new Error('the model has no Failed path with two compensations');
    const tampered = { ...path, compensations: [...path.compensations].reverse() };
    tampered.context = { ...tampered.context, compensated: tampered.compensations };
    expect(model.violations(tampered).join()).toMatch(/compensated step0,step1, expected step1,step0/);
  });

  describe('with waits and sleeps', () => {
    const approval = defineSaga({
      name: 'approval-paths',
      version: 1,
      input: z.object({}),
      steps: [
        { name: 'hold' },
        { sleep: 'coolOff', forMs: 10 },
        { wait: 'approve', signal: z.object({}), timeoutMs: 10, reject: () => false },
        { name: 'charge', kind: 'pivot' },
        { wait: 'receipt', signal: z.object({}), timeoutMs: 10, onTimeout: 'continue' },
      ],
    });

    it('keeps every invariant with signals, rejections and deadlines at every wait', () => {
      const model = createSagaTestModel(approval, { inDoubt: false });
      expect(model.check()).toBeGreaterThan(10);
      const descriptions = model.paths.map((p) => p.description);
      expect(descriptions).toContain('hold ok, coolOff deadline, approve rejected, undo hold ok -> Failed');
      expect(descriptions).toContain('hold ok, coolOff deadline, approve deadline, undo hold ok -> Failed');
      expect(descriptions).toContain('hold ok, coolOff deadline, cancel, undo hold ok -> Failed');
      expect(descriptions).toContain(
        'hold ok, coolOff deadline, approve signalled, charge ok, receipt deadline -> Completed',
      );
      // Past the pivot a cancel is refused, so no path cancels at the receipt.
      expect(descriptions.some((d) => d.includes('receipt') && d.includes('cancel'))).toBe(false);
    });

    it('reports a path that goes on past a wait no signal or deadline ended', () => {
      const model = createSagaTestModel(approval, { inDoubt: false });
      const path = model.paths.find((p) => p.finalState === 'Completed');
      if (!path) throw new Error('the model has no Completed path');
      const tampered = { ...path, completed: path.completed.filter((name) => name !== 'approve') };
      expect(model.violations(tampered).join()).toMatch(/Completed without every step/);
    });

    it('accepts an escalating wait deadline before the pivot, and nothing else escalating there', () => {
      const escalating = defineSaga({
        name: 'escalating-wait',
        version: 1,
        input: z.object({}),
        steps: [{ name: 'hold' }, { wait: 'approve', signal: z.object({}), timeoutMs: 5, onTimeout: 'escalate' }],
      });
      const model = createSagaTestModel(escalating, { inDoubt: false });
      expect(model.check()).toBeGreaterThan(0);
      const escalated = model.paths.find((p) => p.description === 'hold ok, approve deadline -> Escalated');
      expect(escalated?.context.escalation?.uncompensated).toEqual(['hold']);
    });
  });

  describe('with a dynamic saga', () => {
    const agent = defineDynamicSaga({
      name: 'agent-paths',
      version: 1,
      input: z.object({}),
      idleTimeoutMs: 1_000,
      waits: { approve: { signal: z.object({}), timeoutMs: 5, reject: () => false } },
      tools: {
        upsert: { args: z.object({}), run: () => 1, compensate: () => undefined },
        invoice: { kind: 'pivot', args: z.object({}), run: () => 1 },
        post: { kind: 'noncompensable', args: z.object({}), run: () => 1 },
      },
    });

    it('keeps every invariant on every plan of up to two steps, with idle deadlines and cancels', () => {
      const model = createSagaTestModel(agent, { inDoubt: false });
      expect(model.check()).toBeGreaterThan(50);
      const descriptions = model.paths.map((p) => p.description);
      expect(descriptions).toContain(
        'append upsert, upsert-1 ok, append upsert, upsert-2 ok, idle deadline, undo upsert-2 ok, undo upsert-1 ok -> Failed',
      );
      expect(descriptions).toContain(
        'append upsert, upsert-1 ok, append invoice, invoice-2 fails, undo upsert-1 ok -> Failed',
      );
      expect(descriptions).toContain('append invoice, invoice-1 ok, append post, post-2 fails -> Escalated');
      expect(descriptions).toContain('append invoice, invoice-1 ok, idle deadline -> Escalated');
      expect(descriptions).toContain(
        'append upsert, upsert-1 ok, append approve, approve rejected, undo upsert-1 ok -> Failed',
      );
      expect(descriptions).toContain('append invoice, invoice-1 ok, append approve, approve rejected -> Escalated');
      expect(descriptions).toContain('append approve, approve signalled, complete -> Completed');
      // The kind rule holds at every append: nothing compensable ever follows the pivot.
      expect(descriptions.some((d) => /append invoice.*append upsert/.test(d))).toBe(false);
    });

    it('reports a path that compensates a step appended after the pivot', () => {
      const model = createSagaTestModel(agent, { inDoubt: false });
      const path = model.paths.find(
        (p) => p.description === 'append invoice, invoice-1 ok, append post, post-2 fails -> Escalated',
      );
      if (!path) throw new Error('the model has no path escalating after the pivot');
      const tampered = { ...path, compensations: ['invoice-1'] };
      tampered.context = { ...tampered.context, compensated: ['invoice-1'] };
      expect(model.violations(tampered).join()).toMatch(/compensated invoice-1, at or after the pivot/);
    });
  });

  it('checks the trip-booking example on all its paths', () => {
    const model = createSagaTestModel(trip);
    expect(model.check()).toBeGreaterThan(50);
    expect(model.paths.map((p) => p.description)).toContain(
      'reserveFlight ok, reserveHotel ok, reserveCar ok, chargePayment fails, undo reserveCar ok, undo reserveHotel ok, undo reserveFlight ok -> Failed',
    );
  });
});
