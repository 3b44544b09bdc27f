import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import type {
  CompensationContext,
  SagaDefinition,
  SagaHandlers,
  SagaInput,
  SagaStepName,
  SagaWaitName,
  StartResult,
  StepContext,
} from '../../src/index.ts';
import { createEngine, defineDynamicSaga, defineHandlers, defineSaga } from '../../src/index.ts';

const trip = defineSaga({
  name: 'trip-booking',
  version: 1,
  input: z.object({ tripId: z.string(), nights: z.number().default(1) }),
  steps: [
    { name: 'reserveFlight', compensate: true },
    { name: 'reserveHotel', compensate: true },
    { name: 'sendMail', kind: 'query' },
  ],
});

type TripInput = { tripId: string; nights: number };

describe('defineSaga types', () => {
  it('carries the saga name, the step names and the (parsed) input type', () => {
    expectTypeOf(trip).toEqualTypeOf<
      SagaDefinition<
        'trip-booking',
        TripInput,
        'reserveFlight' | 'reserveHotel' | 'sendMail',
        { tripId: string; nights?: number | undefined }
      >
    >();
    expectTypeOf(trip.name).toEqualTypeOf<'trip-booking'>();
    expectTypeOf<SagaStepName<typeof trip>>().toEqualTypeOf<'reserveFlight' | 'reserveHotel' | 'sendMail'>();
    expectTypeOf<SagaInput<typeof trip>>().toEqualTypeOf<TripInput>();
    expectTypeOf<(typeof trip.steps)[number]['name']>().toEqualTypeOf<'reserveFlight' | 'reserveHotel' | 'sendMail'>();
  });

  it('does not widen step names to string', () => {
    expectTypeOf<SagaStepName<typeof trip>>().not.toEqualTypeOf<string>();
  });
});

describe('defineHandlers types', () => {
  it('gives ctx.input the saga input type, in run and in compensate', () => {
    defineHandlers(trip, {
      reserveFlight: {
        run: (ctx) => {
          expectTypeOf(ctx).toEqualTypeOf<StepContext<TripInput>>();
          expectTypeOf(ctx.input).toEqualTypeOf<TripInput>();
          expectTypeOf(ctx.input.tripId).toBeString();
          expectTypeOf(ctx.signal).toEqualTypeOf<AbortSignal>();
          expectTypeOf(ctx.idempotencyKey).toBeString();
          expectTypeOf(ctx.attempt).toBeNumber();
          // @ts-expect-error the input has no such field
          void ctx.input.hotelId;
          return { bookingId: `F-${ctx.input.tripId}` };
        },
        compensate: (ctx) => {
          expectTypeOf(ctx).toEqualTypeOf<CompensationContext<TripInput>>();
          expectTypeOf(ctx.input).toEqualTypeOf<TripInput>();
          expectTypeOf(ctx.result).toBeUnknown();
        },
      },
      reserveHotel: { run: () => undefined, compensate: () => undefined },
      sendMail: { run: async () => undefined },
    });
  });

  it('returns handlers typed by step name', () => {
    const handlers = defineHandlers(trip, {
      reserveFlight: { run: () => 1, compensate: () => undefined },
      reserveHotel: { run: () => 2, compensate: () => undefined },
      sendMail: { run: () => 3 },
    });
    expectTypeOf(handlers).toEqualTypeOf<SagaHandlers<typeof trip>>();
    expectTypeOf<keyof typeof handlers>().toEqualTypeOf<'reserveFlight' | 'reserveHotel' | 'sendMail'>();
  });

  it('rejects an unknown step name', () => {
    defineHandlers(trip, {
      reserveFlight: { run: () => 1, compensate: () => undefined },
      reserveHotel: { run: () => 2, compensate: () => undefined },
      sendMail: { run: () => 3 },
      // @ts-expect-error reserveCar is not a step of trip-booking
      reserveCar: { run: () => 4 },
    });
  });

  it('rejects a missing step', () => {
    // @ts-expect-error sendMail has no handler
    defineHandlers(trip, {
      reserveFlight: { run: () => 1, compensate: () => undefined },
      reserveHotel: { run: () => 2, compensate: () => undefined },
    });
  });

  it('rejects a handler without run', () => {
    defineHandlers(trip, {
      reserveFlight: { run: () => 1, compensate: () => undefined },
      reserveHotel: { run: () => 2, compensate: () => undefined },
      // @ts-expect-error run is required
      sendMail: { compensate: () => undefined },
    });
  });
});

describe('engine.start types', () => {
  it('takes the saga input type and returns a StartResult', () => {
    const engine = createEngine();
    expectTypeOf(engine.start(trip, { tripId: 't1', nights: 2 })).resolves.toEqualTypeOf<StartResult>();
    // @ts-expect-error tripId must be a string
    void engine.start(trip, { tripId: 1, nights: 2 });
  });

  it('takes what the schema accepts (its input type), while handlers see what it produces', () => {
    const booking = defineSaga({
      name: 'booking',
      version: 1,
      input: z.object({ when: z.string().transform((s) => new Date(s)), nights: z.number().default(1) }),
      steps: [{ name: 'reserve', kind: 'query' }],
    });
    defineHandlers(booking, {
      reserve: {
        run: (ctx) => {
          expectTypeOf(ctx.input).toEqualTypeOf<{ when: Date; nights: number }>();
        },
      },
    });
    const engine = createEngine();
    // The only input that passes validation at run time: a date string, `nights` left to its default.
    void engine.start(booking, { when: '2025-01-01' });
    // @ts-expect-error a Date fails `z.string()` at run time
    void engine.start(booking, { when: new Date(), nights: 1 });
  });

  it('leaves waits and sleeps out of the handlers a saga needs', () => {
    const approval = defineSaga({
      name: 'approval',
      version: 1,
      input: z.object({}),
      steps: [
        { name: 'hold' },
        { wait: 'approve', signal: z.object({ ok: z.boolean() }) },
        { sleep: 'coolOff', forMs: 5 },
      ],
    });
    expectTypeOf<SagaStepName<typeof approval>>().toEqualTypeOf<'hold' | 'approve' | 'coolOff'>();
    expectTypeOf<SagaWaitName<typeof approval>>().toEqualTypeOf<'approve' | 'coolOff'>();
    expectTypeOf<keyof SagaHandlers<typeof approval>>().toEqualTypeOf<'hold'>();
    // @ts-expect-error a wait takes no handler
    defineHandlers(approval, { hold: { run: () => 1, compensate: () => undefined }, approve: { run: () => 1 } });
  });

  it("types a dynamic saga's tool arguments and its waits' payloads by their schemas", () => {
    defineDynamicSaga({
      name: 'agent',
      version: 1,
      input: z.object({ customer: z.string() }),
      idleTimeoutMs: 1_000,
      waits: { approval: { signal: z.object({ approved: z.boolean() }), reject: (p) => !p.approved } },
      tools: {
        upsert: {
          args: z.object({ email: z.string() }),
          run: (ctx) => {
            expectTypeOf(ctx.args).toEqualTypeOf<{ email: string }>();
            expectTypeOf(ctx.input).toEqualTypeOf<{ customer: string }>();
          },
          compensate: (ctx) => {
            expectTypeOf(ctx.args).toEqualTypeOf<{ email: string }>();
          },
        },
      },
    });
    defineDynamicSaga({
      name: 'agent',
      version: 1,
      input: z.object({}),
      idleTimeoutMs: 1_000,
      // @ts-expect-error the payload has no field `yes`
      waits: { approval: { signal: z.object({ approved: z.boolean() }), reject: (p) => p.yes } },
      tools: { look: { kind: 'query', args: z.object({}), run: () => 1 } },
    });
  });
});
