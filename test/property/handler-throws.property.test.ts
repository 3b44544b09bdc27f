import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createEngine,
  createWorker,
  defineSaga,
  type Engine,
  type ErrorInfo,
  type HandlerRegistry,
  isTerminalError,
  type SagaView,
  type StepWorker,
  TerminalError,
} from '../../src/index.ts';
import { dropPrefix, REDIS_URL } from '../durable/redis-helpers.ts';

/**
 * A handler may throw anything JavaScript can throw. Whatever it is, both backends must count the
 * attempt, retry it under the step's policy (once only if it looks terminal), record the error as
 * plain `{ name, message }` data, and settle the saga the same way. (On Redis, a thrown value without
 * a `message` used to leave the BullMQ job active, to stall and run again at the same attempt.)
 */

/** One way to throw: `make` builds the value afresh, `label` is what a failing run prints. */
interface ThrowCase {
  label: string;
  make: () => unknown;
}

const fixed = (label: string, make: () => unknown): ThrowCase => ({ label, make });
const valued = (label: string) => (value: unknown) => fixed(`${label} ${fc.stringify(value)}`, () => value);

class PaymentDeclined extends Error {
  override name = 'PaymentDeclined';
}

/** Hand-made values that are hard to describe or to read. */
const hostileCases: ThrowCase[] = [
  fixed('a getter that throws', () => ({
    get message(): string {
      throw new Error('no message');
    },
    get name(): string {
      throw new Error('no name');
    },
  })),
  fixed('a toString/toJSON/toPrimitive that throw', () => ({
    toString() {
      throw new Error('toString');
    },
    toJSON() {
      throw new Error('toJSON');
    },
    [Symbol.toPrimitive]() {
      throw new Error('toPrimitive');
    },
  })),
  fixed('a Proxy whose every trap throws', () => {
    const trap = () => {
      throw new Error('trap');
    };
    return new Proxy({}, { get: trap, has: trap, ownKeys: trap, getPrototypeOf: trap, getOwnPropertyDescriptor: trap });
  }),
  fixed('a circular object', () => {
    const value: Record<string, unknown> = { reason: 'loop' };
    value.self = value;
    return value;
  }),
  fixed('an Error whose message is a number', () => Object.assign(new Error('x'), { message: 42 })),
  fixed('an Error whose code getter throws', () =>
    Object.defineProperty(new Error('x'), 'code', {
      get() {
        throw new Error('no code');
      },
    }),
  ),
  fixed('a huge string', () => 'x'.repeat(1_000_000)),
  fixed('a huge BigInt', () => 10n ** 2_000n),
  fixed('a function', () => () => 'thrown'),
];

/** Values that say "terminal" by name or code, without being an Error. */
const terminalLikeCases: ThrowCase[] = [
  fixed('{ name: TerminalError }', () => ({ name: 'TerminalError', message: 'declined' })),
  fixed('{ code: TERMINAL }', () => ({ code: 'TERMINAL' })),
  fixed('a frozen { name: TerminalError }', () => Object.freeze({ name: 'TerminalError' })),
  fixed('{ code: HANDLER_MISSING }', () => ({ code: 'HANDLER_MISSING' })),
];

const throwCases: fc.Arbitrary<ThrowCase> = fc.oneof(
  fc.constantFrom(undefined, null, true, 0, -0, Number.NaN, Number.POSITIVE_INFINITY).map(valued('primitive')),
  fc.string().map(valued('string')),
  fc.double().map(valued('number')),
  fc.bigInt().map(valued('BigInt')),
  fc.string().map((description) => fixed(`Symbol(${description})`, () => Symbol(description))),
  fc.dictionary(fc.string(), fc.jsonValue()).map(valued('plain object')),
  fc.dictionary(fc.string(), fc.jsonValue()).map((value) => valued('frozen object')(Object.freeze(value))),
  fc.array(fc.jsonValue(), { maxLength: 5 }).map(valued('array')),
  fc
    .anything({
      withBigInt: true,
      withBoxedValues: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withNullPrototype: true,
      withObjectString: true,
      withTypedArray: true,
      withSparseArray: true,
      withUnicodeString: true,
    })
    .map(valued('anything')),
  fc.string().map((message) => fixed(`new Error(${JSON.stringify(message)})`, () => new Error(message))),
  fc
    .string()
    .map((message) => fixed(`new PaymentDeclined(${JSON.stringify(message)})`, () => new PaymentDeclined(message))),
  fc
    .string()
    .map((message) => fixed(`new TerminalError(${JSON.stringify(message)})`, () => new TerminalError(message))),
  fc.constantFrom(...hostileCases),
  fc.constantFrom(...terminalLikeCases),
);

/** The attempts a failing step gets: every value is tried under each of these policies. */
type Attempts = 1 | 2 | 3;
const attemptsArb = fc.constantFrom<Attempts>(1, 2, 3);

/** Alike but for the failing step's attempts, so one engine per backend serves every run. */
const sagas = ([1, 2, 3] as const).map((attempts) =>
  defineSaga({
    name: `throws-${attempts}`,
    version: 1,
    input: z.object({}),
    steps: [
      { name: 'reserve', compensate: true },
      { name: 'explode', compensate: true, retry: { attempts, backoff: { type: 'fixed', delayMs: 5, jitter: 0 } } },
    ],
  }),
);

/** What each saga's `explode` step throws, and the attempt numbers it saw, by saga id. */
const plans = new Map<string, () => unknown>();
const seen = new Map<string, number[]>();

function recordAndThrow(sagaId: string, attempt: number): never {
  seen.set(sagaId, [...(seen.get(sagaId) ?? []), attempt]);
  throw plans.get(sagaId)?.();
}

const handlers: HandlerRegistry = Object.fromEntries(
  sagas.map((saga) => [
    saga.name,
    {
      reserve: { run: () => ({ seat: '12A' }), compensate: () => undefined },
      explode: { run: (ctx) => recordAndThrow(ctx.sagaId, ctx.attempt), compensate: () => undefined },
    },
  ]),
);

/** isTerminalError on the raw value, where reading it may throw (then it is not terminal). */
function looksTerminal(value: unknown): boolean {
  try {
    return isTerminalError(value);
  } catch {
    return false;
  }
}

async function runOn(
  engine: Engine,
  thrown: ThrowCase,
  attempts: Attempts,
): Promise<{ view: SagaView; tries: number[] }> {
  const sagaId = `throws-${randomUUID()}`;
  plans.set(sagaId, thrown.make);
  await engine.start(sagas[attempts - 1] as (typeof sagas)[number], {}, { sagaId });
  const view = await engine.waitFor(sagaId, { timeoutMs: 15_000 });
  return { view, tries: seen.get(sagaId) ?? [] };
}

/** What must hold on any backend after `explode` threw `thrown` on every attempt. */
function expectSettled(run: { view: SagaView; tries: number[] }, thrown: ThrowCase, attempts: Attempts): void {
  const terminal = looksTerminal(thrown.make());
  const expected = terminal ? 1 : attempts;
  const explode = run.view.steps[1];

  expect(run.view.state).toBe('Failed');
  // Anything but a terminal error leaves the step in doubt: it is compensated too, first.
  expect(run.view.compensated).toEqual(terminal ? ['reserve'] : ['explode', 'reserve']);
  expect(explode?.status).toBe(terminal ? 'failed' : 'compensated');
  expect(explode?.attempts).toBe(expected);
  // Each attempt ran once, numbered in order: no attempt re-ran after a stall.
  expect(run.tries).toEqual(Array.from({ length: expected }, (_, i) => i + 1));
  expectPlainErrorInfo(explode?.error, terminal);
}

function expectPlainErrorInfo(info: ErrorInfo | undefined, terminal: boolean): void {
  const { name, message, code, terminal: isTerminal, ...rest } = info ?? ({} as ErrorInfo);
  expect(rest).toEqual({});
  expect(typeof name).toBe('string');
  expect(typeof message).toBe('string');
  if (code !== undefined) expect(typeof code).toBe('string');
  expect(isTerminal).toBe(terminal ? true : undefined);
  if (name === 'NonError') expect(message.length).toBeLessThan(300);
  expect(JSON.parse(JSON.stringify(info))).toEqual(info);
}

/** Every hand-made case at 2 attempts (so a retry is needed), run before the random ones. */
const examples: Array<[ThrowCase, Attempts]> = [
  fixed('undefined', () => undefined),
  fixed('null', () => null),
  fixed('a string', () => 'boom'),
  fixed('a number', () => 503),
  fixed('a plain object', () => ({ status: 503 })),
  fixed('an array', () => ['a', 1]),
  fixed('a symbol', () => Symbol('why')),
  fixed('a BigInt', () => 7n),
  ...hostileCases,
  ...terminalLikeCases,
].map((thrown): [ThrowCase, Attempts] => [thrown, 2]);

describe('a handler that throws anything (property)', () => {
  const embedded = createEngine({ sagas, handlers });
  const prefix = `xsaga-test-${randomUUID()}`;
  let redis: Engine;

  beforeAll(() => {
    redis = createEngine({ redis: { connection: REDIS_URL, prefix, deadlineGraceMs: false }, sagas, handlers });
  });
  afterAll(async () => {
    await embedded.close();
    await redis?.close();
    await dropPrefix(prefix);
  });

  it('embedded: the attempt is counted, retried under the policy, and recorded as plain data', async () => {
    await fc.assert(
      fc.asyncProperty(throwCases, attemptsArb, async (thrown, attempts) => {
        expectSettled(await runOn(embedded, thrown, attempts), thrown, attempts);
      }),
      { numRuns: 150, examples },
    );
  });

  it('Redis + BullMQ: the same, and both backends agree on state, attempts and error', async () => {
    await fc.assert(
      fc.asyncProperty(throwCases, attemptsArb, async (thrown, attempts) => {
        const onRedis = await runOn(redis, thrown, attempts);
        const inProcess = await runOn(embedded, thrown, attempts);
        expectSettled(onRedis, thrown, attempts);
        expect(onRedis.view.state).toBe(inProcess.view.state);
        expect(onRedis.view.steps).toEqual(inProcess.view.steps);
        expect(onRedis.view.failure).toEqual(inProcess.view.failure);
      }),
      // Few random runs on Redis, after every hand-made case; no shrinking: a hang costs a timeout.
      { numRuns: 10, examples, endOnFailure: true },
    );
  }, 180_000);
});

describe("a worker's own runAttempt that throws anything", () => {
  const prefix = `xsaga-test-${randomUUID()}`;
  let engine: Engine;
  let worker: StepWorker;

  beforeAll(() => {
    // No handlers: the engine runs no worker of its own, so every step goes through `runAttempt`.
    engine = createEngine({ redis: { connection: REDIS_URL, prefix, deadlineGraceMs: false }, sagas });
    worker = createWorker({
      connection: REDIS_URL,
      prefix,
      runAttempt: async (job, attempt) =>
        job.step === 'explode' && job.direction === 'run' ? recordAndThrow(job.sagaId, attempt) : { seat: '12A' },
    });
  });
  afterAll(async () => {
    await worker?.close();
    await engine?.close();
    await dropPrefix(prefix);
  });

  it.each(examples.map(([thrown]) => [thrown.label, thrown] as const))(
    '%s: counted and retried by the worker itself, not left to stall',
    async (_, thrown) => {
      expectSettled(await runOn(engine, thrown, 2), thrown, 2);
    },
  );
});
