import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import type { Engine } from '../../src/index.ts';
import { createEngine, DefinitionError, defineSaga, saga, TerminalError } from '../../src/index.ts';

const input = z.object({ tripId: z.string(), declined: z.boolean().default(false) });

/** The trip of the README, written step by step beside its handlers; `ledger` records each effect. */
function tripBuilt(ledger: string[]) {
  return saga('trip', 1)
    .input(input)
    .describe('book, charge, mail')
    .step('reserveFlight', {
      run: (ctx) => {
        ledger.push(`flight ${ctx.input.tripId}`);
        return { flight: 'F-1' };
      },
      compensate: () => void ledger.push('flight cancelled'),
      retry: { attempts: 2 },
    })
    .group('stay', { policy: 'any' }, (g) =>
      g
        .step('hotel', { run: () => ({ hotel: 'H-1' }), compensate: () => void ledger.push('hotel cancelled') })
        .query('rates', { run: () => ({ rate: 1 }) }),
    )
    .pivot('charge', {
      run: (ctx) => {
        if (ctx.input.declined) throw new TerminalError('declined');
        ledger.push('charged');
        return { charge: 'C-1' };
      },
      verify: () => ({ done: false }),
      verifyAlways: false,
    })
    .noncompensable('mail', { run: () => void ledger.push('mailed'), retry: { attempts: 5 } })
    .build();
}

const engines: Engine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
});

describe('saga() builder', () => {
  it('builds the definition defineSaga builds from the same steps', () => {
    const built = tripBuilt([]);
    const defined = defineSaga({
      name: 'trip',
      version: 1,
      input,
      description: 'book, charge, mail',
      steps: [
        { name: 'reserveFlight', kind: 'compensable', retry: { attempts: 2 } },
        {
          group: 'stay',
          policy: 'any',
          parallel: [
            { name: 'hotel', kind: 'compensable' },
            { name: 'rates', kind: 'query' },
          ],
        },
        { name: 'charge', kind: 'pivot' },
        { name: 'mail', kind: 'noncompensable', retry: { attempts: 5 } },
      ],
    });
    const { handlers, ...definition } = built;
    expect(definition).toEqual(defined);
    expect(Object.isFrozen(built)).toBe(true);
    expect(Object.keys(handlers)).toEqual(['reserveFlight', 'hotel', 'rates', 'charge', 'mail']);
    expect(typeof handlers.reserveFlight.compensate).toBe('function');
    expect(handlers.rates.compensate).toBeUndefined();
    expect(typeof handlers.charge.verify).toBe('function');
  });

  it('types the handlers by step name and ctx.input by the schema', () => {
    const built = tripBuilt([]);
    expectTypeOf(built.handlers).toHaveProperty('mail');
    expectTypeOf(built.name).toEqualTypeOf<'trip'>();
    saga('typed', 1)
      .input(input)
      .step('a', {
        run: (ctx) => {
          expectTypeOf(ctx.input.tripId).toEqualTypeOf<string>();
          expectTypeOf(ctx.input.declined).toEqualTypeOf<boolean>();
        },
        compensate: () => undefined,
      });
  });

  it('runs on the engine with the handlers it carries, and rolls back when the pivot is declined', async () => {
    const ledger: string[] = [];
    const trip = tripBuilt(ledger);
    const engine = createEngine({ handlers: { [trip.name]: trip.handlers } });
    engines.push(engine);

    const ok = await engine.waitFor((await engine.start(trip, { tripId: 't1' })).sagaId);
    expect(ok.state).toBe('Completed');
    expect(ledger.splice(0)).toEqual(['flight t1', 'charged', 'mailed']);

    const declined = await engine.waitFor((await engine.start(trip, { tripId: 't2', declined: true })).sagaId);
    expect(declined.state).toBe('Failed');
    expect(declined.compensated).toEqual(['hotel', 'reserveFlight']);
    expect(ledger).toEqual(['flight t2', 'hotel cancelled', 'flight cancelled']);
  });

  it('checks the same rules as defineSaga: a noncompensable step must be last', () => {
    const build = () =>
      saga('bad', 1)
        .noncompensable('mail', { run: () => undefined })
        .step('reserve', { run: () => undefined, compensate: () => undefined })
        .build();
    expect(build).toThrow(DefinitionError);
    expect(build).toThrow(/step "mail" is noncompensable, so it must be the last step/);
  });

  it("writes verifyAlways as verify: 'always' and a compensation policy as compensate", () => {
    const built = saga('opts', 1)
      .step('a', {
        run: () => undefined,
        compensate: () => undefined,
        verify: () => ({ done: true }),
        verifyAlways: true,
        compensation: { retry: { attempts: 9 } },
        inDoubt: 'escalate',
        timeoutMs: 1_234,
      })
      .build();
    expect(built.steps[0]).toMatchObject({
      verify: 'always',
      inDoubt: 'escalate',
      run: { timeoutMs: 1_234 },
      compensation: { attempts: 9 },
    });
  });

  it('writes waits and sleeps without handlers, and they park the saga until a signal', async () => {
    const ledger: string[] = [];
    const approval = saga('approval', 1)
      .input(z.object({ amount: z.number() }))
      .step('hold', { run: () => void ledger.push('held'), compensate: () => void ledger.push('released') })
      .sleep('coolOff', { forMs: 0 })
      .wait('approve', {
        signal: z.object({ ok: z.boolean() }),
        timeoutMs: 60_000,
        reject: (payload) => !payload.ok,
      })
      .pivot('charge', {
        run: (ctx) => void ledger.push(`charged ${ctx.input.amount} ${JSON.stringify(ctx.results.approve)}`),
      })
      .build();
    expect(approval.waits).toEqual(['coolOff', 'approve']);
    expect(Object.keys(approval.handlers)).toEqual(['hold', 'charge']);
    expectTypeOf(approval.handlers).toEqualTypeOf<{
      readonly hold: import('../../src/index.ts').StepHandler<{ amount: number }>;
      readonly charge: import('../../src/index.ts').StepHandler<{ amount: number }>;
    }>();
    const engine = createEngine({ handlers: { [approval.name]: approval.handlers } });
    engines.push(engine);

    const { sagaId } = await engine.start(approval, { amount: 5 });
    for (let i = 0; i < 200 && (await engine.get(sagaId)).steps[2]?.status !== 'waiting'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await engine.signal(sagaId, 'approve', { ok: true });
    expect((await engine.waitFor(sagaId)).state).toBe('Completed');
    expect(ledger).toEqual(['held', 'charged 5 {"ok":true}']);
  });
});
