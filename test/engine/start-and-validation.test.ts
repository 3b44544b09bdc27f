import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Engine, HandlerRegistry, SagaInput, StepContext, TransitionEntry } from '../../src/index.ts';
import {
  createEngine,
  DefinitionError,
  defineSaga,
  EngineClosedError,
  HandlerMissingError,
  InputError,
  SagaNotFoundError,
  TerminalError,
} from '../../src/index.ts';
import { TestClock } from '../../src/testing/test-clock.ts';
import { caught } from '../support/caught.ts';

const trip = defineSaga({
  name: 'trip',
  version: 1,
  input: z.object({
    tripId: z.string().min(1),
    traveller: z.object({ email: z.email() }),
    nights: z.number().int().default(1),
  }),
  steps: [
    { name: 'reserveFlight', compensate: true },
    { name: 'reserveHotel', compensate: true },
    { name: 'sendMail', kind: 'noncompensable' },
  ],
});
/**
 * What a caller sends (no `nights`: the schema defaults it). Cast because `engine.start` types its
 * input as the schema's output, not its input (see test/types/handlers.test-d.ts).
 */
const goodInput = { tripId: 't1', traveller: { email: 'ada@example.com' } } as SagaInput<typeof trip>;

type Calls = string[];

function tripHandlers(calls: Calls = []): HandlerRegistry {
  const step = (name: string) => ({
    run: async (ctx: StepContext) => {
      calls.push(`${name}.run`);
      return { id: `${name}-${(ctx.input as { tripId: string }).tripId}` };
    },
    compensate: async () => {
      calls.push(`${name}.compensate`);
    },
  });
  return {
    trip: {
      reserveFlight: step('reserveFlight'),
      reserveHotel: step('reserveHotel'),
      sendMail: { run: step('sendMail').run },
    },
  };
}

const engines: Engine[] = [];
function engineWith(options: Parameters<typeof createEngine>[0]): Engine {
  const engine = createEngine({ clock: new TestClock(1_000), random: () => 0, ...options });
  engines.push(engine);
  return engine;
}
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
});

describe('engine.start', () => {
  describe('a valid start', () => {
    it('stores the saga, runs every step in order and ends Completed', async () => {
      const calls: Calls = [];
      const engine = engineWith({ handlers: tripHandlers(calls) });

      const started = await engine.start(trip, goodInput, { sagaId: 'trip-1' });
      const view = await engine.waitFor('trip-1');

      expect(started).toEqual({ sagaId: 'trip-1', created: true });
      expect(calls).toEqual(['reserveFlight.run', 'reserveHotel.run', 'sendMail.run']);
      expect(view.state).toBe('Completed');
      expect(view.name).toBe('trip');
      expect(view.version).toBe(1);
      expect(view.completed).toEqual(['reserveFlight', 'reserveHotel', 'sendMail']);
      expect(view.compensated).toEqual([]);
      expect(view.steps).toEqual([
        {
          name: 'reserveFlight',
          status: 'completed',
          attempts: 1,
          compensationAttempts: 0,
          result: { id: 'reserveFlight-t1' },
        },
        {
          name: 'reserveHotel',
          status: 'completed',
          attempts: 1,
          compensationAttempts: 0,
          result: { id: 'reserveHotel-t1' },
        },
        { name: 'sendMail', status: 'completed', attempts: 1, compensationAttempts: 0, result: { id: 'sendMail-t1' } },
      ]);
      expect(view.failure).toBeUndefined();
      expect(view.createdAt).toBe(1_000);
    });

    it('keeps the validated input, with the schema defaults applied', async () => {
      const engine = engineWith({ handlers: tripHandlers() });
      const { sagaId } = await engine.start(trip, goodInput);
      expect((await engine.get(sagaId)).input).toEqual({ ...goodInput, nights: 1 });
    });

    it('writes one log entry per transition, in order', async () => {
      const engine = engineWith({ handlers: tripHandlers() });
      const seen: TransitionEntry[] = [];
      engine.on('transition', (entry) => seen.push(entry));

      const { sagaId } = await engine.start(trip, goodInput);
      const view = await engine.waitFor(sagaId);

      expect(view.history.map((e) => [e.from, e.to, e.event, e.step ?? null])).toEqual([
        ['', 'Started', 'saga.created', null],
        ['Started', 'Pending.reserveFlight', 'saga.start', null],
        ['Pending.reserveFlight', 'Pending.reserveHotel', 'step.done', 'reserveFlight'],
        ['Pending.reserveHotel', 'Pending.sendMail', 'step.done', 'reserveHotel'],
        ['Pending.sendMail', 'Completed', 'step.done', 'sendMail'],
      ]);
      // The `transition` event carries the same entries, except the creation.
      expect(seen).toEqual(view.history.slice(1));
      expect(view.revision).toBe(5);
    });

    it('gives every handler the saga input, its ids and the results of earlier steps', async () => {
      const seen: Array<Pick<StepContext, 'sagaId' | 'sagaName' | 'step' | 'attempt' | 'results' | 'input'>> = [];
      const record = (ctx: StepContext) => {
        seen.push({
          sagaId: ctx.sagaId,
          sagaName: ctx.sagaName,
          step: ctx.step,
          attempt: ctx.attempt,
          results: ctx.results,
          input: ctx.input,
        });
        return { from: ctx.step };
      };
      const engine = engineWith({
        handlers: {
          trip: {
            reserveFlight: { run: record, compensate: () => undefined },
            reserveHotel: { run: record, compensate: () => undefined },
            sendMail: { run: record },
          },
        },
      });
      await engine.start(trip, goodInput, { sagaId: 's1' });
      await engine.waitFor('s1');

      const input = { ...goodInput, nights: 1 };
      expect(seen).toEqual([
        { sagaId: 's1', sagaName: 'trip', step: 'reserveFlight', attempt: 1, results: {}, input },
        {
          sagaId: 's1',
          sagaName: 'trip',
          step: 'reserveHotel',
          attempt: 1,
          results: { reserveFlight: { from: 'reserveFlight' } },
          input,
        },
        {
          sagaId: 's1',
          sagaName: 'trip',
          step: 'sendMail',
          attempt: 1,
          results: { reserveFlight: { from: 'reserveFlight' }, reserveHotel: { from: 'reserveHotel' } },
          input,
        },
      ]);
    });

    it('gives a random id when none is chosen', async () => {
      const engine = engineWith({ handlers: tripHandlers() });
      const a = await engine.start(trip, goodInput);
      const b = await engine.start(trip, goodInput);
      expect(a.sagaId).toMatch(/^[0-9a-f-]{36}$/);
      expect(b.sagaId).not.toBe(a.sagaId);
      expect(a.created && b.created).toBe(true);
    });
  });

  describe('input validation', () => {
    it('refuses input that fails the saga schema with INPUT_INVALID naming the field, storing nothing', async () => {
      const calls: Calls = [];
      const engine = engineWith({ handlers: tripHandlers(calls) });

      const error = await caught(engine.start(trip, { ...goodInput, traveller: { email: 'not-an-email' } }));

      expect(error).toBeInstanceOf(InputError);
      expect(error.code).toBe('INPUT_INVALID');
      expect((error as InputError).path).toBe('traveller.email');
      expect(error.message).toContain('saga "trip"');
      expect(error.message).toContain('traveller.email');
      expect((await engine.list()).items).toEqual([]);
      expect(calls).toEqual([]);
    });

    it('names the first offending field in `path` and every one in the message', async () => {
      const engine = engineWith({ handlers: tripHandlers() });
      const error = (await caught(
        engine.start(trip, { tripId: '', traveller: { email: 'x' }, nights: 1.5 } as never),
      )) as InputError;
      expect(error.path).toBe('tripId');
      expect(error.message).toContain('tripId');
      expect(error.message).toContain('traveller.email');
      expect(error.message).toContain('nights');
    });

    it('names a field inside an array by its index', async () => {
      const cart = defineSaga({
        name: 'cart',
        version: 1,
        input: z.object({ lines: z.array(z.object({ sku: z.string(), qty: z.number().int().positive() })) }),
        steps: [{ name: 'reserve', kind: 'query' }],
      });
      const engine = engineWith({ handlers: { cart: { reserve: { run: () => undefined } } } });
      const error = (await caught(
        engine.start(cart, {
          lines: [
            { sku: 'A', qty: 1 },
            { sku: 'B', qty: 0 },
          ],
        }),
      )) as InputError;
      expect(error.path).toBe('lines.1.qty');
      expect(error.message).toContain('lines.1.qty');
      expect((await engine.list()).items).toEqual([]);
    });

    it('refuses input that is not even an object, with an empty path', async () => {
      const engine = engineWith({ handlers: tripHandlers() });
      const error = (await caught(engine.start(trip, 'tripId=1' as never))) as InputError;
      expect(error.code).toBe('INPUT_INVALID');
      expect(error.path).toBe('');
      expect(error.message).toContain('input');
    });

    it.each(['has space', 'a:b', 'a~b', '', 'x'.repeat(129), 'ünïcode'])(
      'refuses the saga id %j, storing nothing',
      async (sagaId) => {
        const engine = engineWith({ handlers: tripHandlers() });
        const error = (await caught(engine.start(trip, goodInput, { sagaId }))) as InputError;
        expect(error).toBeInstanceOf(InputError);
        expect(error.code).toBe('INPUT_INVALID');
        expect(error.path).toBe('sagaId');
        expect(error.message).toContain('sagaId');
        expect((await engine.list()).items).toEqual([]);
      },
    );

    it('accepts a saga id of letters, digits, "_", "-" and "."', async () => {
      const engine = engineWith({ handlers: tripHandlers() });
      const sagaId = `Order_42-x.${'y'.repeat(100)}`;
      expect(await engine.start(trip, goodInput, { sagaId })).toEqual({ sagaId, created: true });
    });

    it.each(['', 'k'.repeat(257)])('refuses the idempotency key %j', async (idempotencyKey) => {
      const engine = engineWith({ handlers: tripHandlers() });
      const error = (await caught(engine.start(trip, goodInput, { idempotencyKey }))) as InputError;
      expect(error.code).toBe('INPUT_INVALID');
      expect(error.path).toBe('idempotencyKey');
      expect(error.message).toContain('idempotencyKey');
      expect((await engine.list()).items).toEqual([]);
    });
  });

  describe('handler checks', () => {
    it('refuses a saga with no handlers registered, naming the saga', async () => {
      const engine = engineWith({ handlers: {} });
      const error = await caught(engine.start(trip, goodInput));
      expect(error).toBeInstanceOf(HandlerMissingError);
      expect(error.code).toBe('HANDLER_MISSING');
      expect(error.message).toContain('"trip"');
      expect((await engine.list()).items).toEqual([]);
    });

    it('refuses a step without a run handler, naming it, storing nothing', async () => {
      const handlers = tripHandlers();
      const { run: _run, ...onlyCompensate } = handlers.trip?.reserveHotel ?? { run: () => undefined };
      const engine = engineWith({ handlers: { trip: { ...handlers.trip, reserveHotel: onlyCompensate as never } } });

      const error = await caught(engine.start(trip, goodInput));

      expect(error.code).toBe('HANDLER_MISSING');
      expect(error.message).toContain('reserveHotel.run');
      expect((await engine.list()).items).toEqual([]);
    });

    it('refuses a compensable step without a compensate handler, naming it, storing nothing', async () => {
      const calls: Calls = [];
      const handlers = tripHandlers(calls);
      const engine = engineWith({
        handlers: { trip: { ...handlers.trip, reserveFlight: { run: async () => calls.push('reserveFlight.run') } } },
      });

      const error = await caught(engine.start(trip, goodInput));

      expect(error.code).toBe('HANDLER_MISSING');
      expect(error.message).toContain('reserveFlight.compensate');
      expect(error.message).not.toContain('sendMail');
      expect((await engine.list()).items).toEqual([]);
      expect(calls).toEqual([]);
    });

    it('refuses handlers for steps the saga does not have, naming them', async () => {
      const handlers = tripHandlers();
      const engine = engineWith({ handlers: { trip: { ...handlers.trip, reserveCar: { run: () => undefined } } } });
      const error = await caught(engine.start(trip, goodInput));
      expect(error.code).toBe('HANDLER_MISSING');
      expect(error.message).toContain('reserveCar');
    });

    it('refuses incomplete handlers of a saga passed to createEngine({ sagas })', () => {
      expect(() => createEngine({ sagas: [trip], handlers: { trip: {} } })).toThrow(HandlerMissingError);
    });
  });

  describe('definitions', () => {
    it('refuses another definition under a name and version already started, naming the version', async () => {
      const engine = engineWith({ handlers: tripHandlers() });
      await engine.start(trip, goodInput);
      const changed = defineSaga({
        name: 'trip',
        version: 1,
        input: trip.input,
        steps: [
          { name: 'reserveFlight', compensate: true },
          { name: 'reserveHotel', retry: { attempts: 7 } },
          { name: 'sendMail', kind: 'noncompensable' },
        ],
      });
      const error = await caught(engine.start(changed, goodInput));
      expect(error).toBeInstanceOf(DefinitionError);
      expect((error as DefinitionError).path).toBe('version');
    });

    it('refuses a definition that did not come from defineSaga, storing nothing', async () => {
      // A hand-built (or deserialised) definition with two steps named "a": defineSaga would refuse it.
      const handMade = {
        name: 'handmade',
        version: 1,
        input: z.object({}),
        steps: [
          { name: 'a', kind: 'query' },
          { name: 'a', kind: 'query' },
        ],
      };
      const engine = engineWith({ handlers: { handmade: { a: { run: () => 1 } } } });
      const error = await caught(engine.start(handMade as never, {}));
      expect(error.code).toBe('DEFINITION_INVALID');
      expect((await engine.list()).items).toEqual([]);
    });

    it('refuses a saga id already used by a saga of another name', async () => {
      const other = defineSaga({
        name: 'other',
        version: 1,
        input: z.object({}),
        steps: [{ name: 'only', kind: 'query' }],
      });
      const engine = engineWith({ handlers: { ...tripHandlers(), other: { only: { run: () => undefined } } } });
      await engine.start(trip, goodInput, { sagaId: 'shared' });
      const error = await caught(engine.start(other, {}, { sagaId: 'shared' }));
      expect(error.code).toBe('SAGA_EXISTS');
      expect(error.message).toContain('"shared"');
    });
  });
});

describe('engine.get and engine.list', () => {
  it('get throws SagaNotFoundError (SAGA_NOT_FOUND) for an unknown id, naming it', async () => {
    const engine = engineWith({ handlers: tripHandlers() });
    const error = await caught(engine.get('nope'));
    expect(error).toBeInstanceOf(SagaNotFoundError);
    expect(error.code).toBe('SAGA_NOT_FOUND');
    expect((error as SagaNotFoundError).sagaId).toBe('nope');
    expect(error.message).toContain('"nope"');
  });

  it('list filters by state and returns views without history', async () => {
    const engine = engineWith({
      handlers: {
        trip: {
          ...tripHandlers().trip,
          sendMail: {
            run: (ctx: StepContext) => {
              if ((ctx.input as { tripId: string }).tripId === 'bad') throw new TerminalError('no');
            },
          },
        },
      },
    });
    await engine.start(trip, goodInput, { sagaId: 'ok' });
    await engine.start(trip, { ...goodInput, tripId: 'bad' }, { sagaId: 'bad' });
    await engine.waitFor('ok');
    await engine.waitFor('bad');

    expect((await engine.list()).items.map((v) => v.sagaId)).toEqual(['ok', 'bad']);
    expect((await engine.list({ state: 'Completed' })).items.map((v) => v.sagaId)).toEqual(['ok']);
    const failed = await engine.list({ state: 'Failed' });
    expect(failed.items.map((v) => v.sagaId)).toEqual(['bad']);
    expect(failed.items[0]?.history).toEqual([]);
  });
});

describe('engine.waitFor', () => {
  const saga = defineSaga({
    name: 'one',
    version: 1,
    input: z.object({ outcome: z.enum(['complete', 'fail', 'escalate']) }),
    steps: [
      { name: 'first', compensate: { retry: { attempts: 1 } } },
      { name: 'second', retry: { attempts: 1 }, kind: 'query' },
    ],
  });
  const handlers: HandlerRegistry = {
    one: {
      first: {
        run: () => 'ok',
        compensate: (ctx) => {
          if ((ctx.input as { outcome: string }).outcome === 'escalate') throw new Error('cannot undo');
        },
      },
      second: {
        run: (ctx) => {
          if ((ctx.input as { outcome: string }).outcome !== 'complete') throw new Error('second failed');
        },
      },
    },
  };

  it.each([
    ['complete', 'Completed'],
    ['fail', 'Failed'],
    ['escalate', 'Escalated'],
  ] as const)('resolves when the saga settles (%s -> %s)', async (outcome, state) => {
    const engine = engineWith({ handlers });
    const { sagaId } = await engine.start(saga, { outcome });
    const view = await engine.waitFor(sagaId);
    expect(view.state).toBe(state);
    expect((await engine.get(sagaId)).state).toBe(state);
  });

  it('resolves at once for a saga already settled', async () => {
    const engine = engineWith({ handlers });
    const { sagaId } = await engine.start(saga, { outcome: 'complete' });
    await engine.waitFor(sagaId);
    expect((await engine.waitFor(sagaId)).state).toBe('Completed');
  });

  it('rejects with SAGA_NOT_FOUND for an unknown id', async () => {
    const engine = engineWith({ handlers });
    const error = await caught(engine.waitFor('missing'));
    expect(error.code).toBe('SAGA_NOT_FOUND');
  });

  it('rejects after timeoutMs on the engine clock when the saga does not settle', async () => {
    const clock = new TestClock();
    const engine = engineWith({
      clock,
      handlers: { one: { ...handlers.one, first: { run: () => new Promise(() => {}), compensate: () => undefined } } },
    });
    const { sagaId } = await engine.start(saga, { outcome: 'complete' });
    const waiting = caught(engine.waitFor(sagaId, { timeoutMs: 500 }));
    await clock.advance(500);
    const error = await waiting;
    expect(error.message).toContain('did not settle within 500 ms');
  });
});

describe('engine.close', () => {
  it('makes start throw EngineClosedError (ENGINE_CLOSED), storing nothing', async () => {
    const engine = engineWith({ handlers: tripHandlers() });
    await engine.close();
    const error = await caught(engine.start(trip, goodInput));
    expect(error).toBeInstanceOf(EngineClosedError);
    expect(error.code).toBe('ENGINE_CLOSED');
  });

  it('can be called twice', async () => {
    const engine = engineWith({ handlers: tripHandlers() });
    await engine.close();
    await expect(engine.close()).resolves.toBeUndefined();
  });
});
