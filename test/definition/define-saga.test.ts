import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DEFAULT_COMPENSATION_POLICY, DEFAULT_RUN_POLICY } from '../../src/definition/defaults.ts';
import { DefinitionError, defineSaga, isSagaDefinition, isSagaError } from '../../src/index.ts';

const input = z.object({ tripId: z.string() });

/** Calls defineSaga with a config TypeScript would reject, and returns what it threw. */
function definitionError(config: unknown): DefinitionError {
  try {
    defineSaga(config as never);
  } catch (error) {
    if (error instanceof DefinitionError) return error;
    throw error;
  }
  throw new Error('defineSaga accepted an invalid definition');
}

/** A valid config with one step replaced, for checking one step field at a time. */
function withStep(step: Record<string, unknown>): unknown {
  return { name: 'trip', version: 1, input, steps: [step] };
}

describe('defineSaga', () => {
  describe('parallel groups', () => {
    const saga = (steps: Record<string, unknown>[]) => ({ name: 'trip', version: 1, input, steps });

    it('flattens a group into its members, in place, and resolves its policy', () => {
      const trip = defineSaga({
        name: 'trip',
        version: 1,
        input,
        steps: [
          { name: 'quote' },
          {
            group: 'reserve',
            parallel: [{ name: 'hotel' }, { name: 'car' }, { name: 'rates', kind: 'query' }],
            policy: 'majority',
          },
          { name: 'charge', kind: 'pivot' },
        ],
      });
      expect(trip.steps.map((s) => [s.name, s.index, s.group])).toEqual([
        ['quote', 0, undefined],
        ['hotel', 1, 'reserve'],
        ['car', 2, 'reserve'],
        ['rates', 3, 'reserve'],
        ['charge', 4, undefined],
      ]);
      expect(trip.groups).toEqual([
        { name: 'reserve', members: ['hotel', 'car', 'rates'], policy: 'majority', needed: 2, surplus: 'keep' },
      ]);
    });

    it.each([
      ['all', 3],
      ['any', 1],
      ['majority', 2],
      [{ atLeast: 3 }, 3],
    ])('needs as many members as the policy %j says', (policy, needed) => {
      const trip = defineSaga(
        saga([{ group: 'g', parallel: [{ name: 'a' }, { name: 'b' }, { name: 'c' }], policy }]) as never,
      );
      expect(trip.groups[0]?.needed).toBe(needed);
    });

    it('refuses a group of one step, a policy it can never meet, and a member that is a pivot', () => {
      expect(definitionError(saga([{ group: 'g', parallel: [{ name: 'a' }] }])).message).toMatch(
        /steps\.0\.parallel: a parallel group needs at least two steps/,
      );
      const never = definitionError(
        saga([{ group: 'g', parallel: [{ name: 'a' }, { name: 'b' }], policy: { atLeast: 3 } }]),
      );
      expect(never.path).toBe('steps.0.policy.atLeast');
      expect(never.message).toMatch(/group "g" has 2 steps, so at least 3 of them can never complete/);
      const pivot = definitionError(saga([{ group: 'g', parallel: [{ name: 'a' }, { name: 'p', kind: 'pivot' }] }]));
      expect(pivot.path).toBe('steps.0.parallel.1.kind');
      expect(pivot.message).toMatch(/step "p" of group "g" is pivot: a group's steps are compensable or query steps/);
    });

    it('refuses a group after the pivot, naming the member that could never be compensated', () => {
      const error = definitionError(
        saga([
          { name: 'charge', kind: 'pivot' },
          { group: 'g', parallel: [{ name: 'a' }, { name: 'b' }] },
        ]),
      );
      expect(error.path).toBe('steps.1.parallel.0.kind');
      expect(error.message).toMatch(/step "a" is compensable but comes after the pivot "charge"/);
    });

    it('refuses a member name used by another step or by a group', () => {
      const twice = definitionError(saga([{ name: 'a' }, { group: 'g', parallel: [{ name: 'a' }, { name: 'b' }] }]));
      expect(twice.path).toBe('steps.1.parallel.0.name');
      expect(twice.message).toMatch(/duplicate step name "a" \(already used by steps\.0\)/);
      const group = definitionError(saga([{ group: 'g', parallel: [{ name: 'g' }, { name: 'b' }] }]));
      expect(group.message).toMatch(/duplicate step name "g"/);
    });

    it('refuses a member that would escalate in doubt while the others still run', () => {
      const error = definitionError(
        saga([{ group: 'g', parallel: [{ name: 'a', inDoubt: 'escalate' }, { name: 'b' }] }]),
      );
      expect(error.path).toBe('steps.0.parallel.0.inDoubt');
    });
  });

  describe('step kinds', () => {
    const saga = (steps: Record<string, unknown>[]) => ({ name: 'trip', version: 1, input, steps });

    it('makes a step compensable by default, and names the pivot', () => {
      const trip = defineSaga({
        name: 'trip',
        version: 1,
        input,
        steps: [
          { name: 'reserve' },
          { name: 'lookup', kind: 'query' },
          { name: 'charge', kind: 'pivot' },
          { name: 'ship', kind: 'retryable' },
          { name: 'mail', kind: 'noncompensable' },
        ],
      });
      expect(trip.steps.map((s) => s.kind)).toEqual(['compensable', 'query', 'pivot', 'retryable', 'noncompensable']);
      expect(trip.steps.map((s) => s.compensation !== undefined)).toEqual([true, false, false, false, false]);
      expect(trip.pivot).toBe('charge');
    });

    it('takes a last noncompensable step as the pivot of a saga without one, and none when all can roll back', () => {
      expect(defineSaga(saga([{ name: 'a' }, { name: 'mail', kind: 'noncompensable' }]) as never).pivot).toBe('mail');
      expect(defineSaga(saga([{ name: 'a' }, { name: 'b', kind: 'query' }]) as never).pivot).toBeUndefined();
    });

    it('refuses a noncompensable step that is not last, naming it and what to write instead', () => {
      const error = definitionError(saga([{ name: 'a' }, { name: 'notify', kind: 'noncompensable' }, { name: 'c' }]));
      expect(error.code).toBe('DEFINITION_INVALID');
      expect(error.path).toBe('steps.1.kind');
      expect(error.message).toMatch(/step "notify" is noncompensable, so it must be the last step/);
      expect(error.message).toMatch(/'query' if it only reads/);
    });

    it('refuses compensate: false, saying which kind to declare instead', () => {
      const error = definitionError(saga([{ name: 'a' }, { name: 'notify', compensate: false }, { name: 'c' }]));
      expect(error.path).toBe('steps.1.compensate');
      expect(error.message).toMatch(/step "notify" has compensate: false.*declare its kind: 'query'/);
    });

    it('refuses a compensable step after the pivot: it could never be compensated', () => {
      const error = definitionError(saga([{ name: 'charge', kind: 'pivot' }, { name: 'reserve' }]));
      expect(error.path).toBe('steps.1.kind');
      expect(error.message).toMatch(/step "reserve" is compensable but comes after the pivot "charge"/);
      expect(error.message).toMatch(/'retryable'/);
    });

    it('refuses a second pivot and a retryable step without a pivot before it', () => {
      expect(
        definitionError(
          saga([
            { name: 'p1', kind: 'pivot' },
            { name: 'p2', kind: 'pivot' },
          ]),
        ).message,
      ).toMatch(/step "p2" is a second pivot \(the first is "p1"\)/);
      expect(definitionError(saga([{ name: 'a' }, { name: 'r', kind: 'retryable' }])).message).toMatch(
        /step "r" is retryable, which is allowed only after a pivot/,
      );
    });

    it('refuses a compensation policy on a step that is never compensated', () => {
      const error = definitionError(saga([{ name: 'p', kind: 'pivot', compensate: { timeoutMs: 5 } }]));
      expect(error.path).toBe('steps.0.compensate');
      expect(error.message).toMatch(/step "p" is pivot, which is never compensated: remove its compensate option/);
    });

    it('refuses an unknown kind, listing the kinds', () => {
      const error = definitionError(saga([{ name: 'a', kind: 'undoable' }]));
      expect(error.path).toBe('steps.0.kind');
      expect(error.message).toMatch(/compensable/);
    });

    it('allows query steps anywhere, before and after the pivot', () => {
      const trip = defineSaga(
        saga([
          { name: 'q1', kind: 'query' },
          { name: 'a' },
          { name: 'p', kind: 'pivot' },
          { name: 'q2', kind: 'query' },
          { name: 'r', kind: 'retryable' },
          { name: 'q3', kind: 'query' },
          { name: 'mail', kind: 'noncompensable' },
        ]) as never,
      );
      expect(trip.pivot).toBe('p');
    });
  });

  describe('a valid definition', () => {
    it('returns a frozen definition with its steps in order and indexed', () => {
      const trip = defineSaga({
        name: 'trip',
        version: 2,
        description: 'book a trip',
        input,
        steps: [{ name: 'reserveFlight', compensate: true }, { name: 'chargePayment' }],
      });

      expect(trip.kind).toBe('xsaga.definition');
      expect(trip.name).toBe('trip');
      expect(trip.version).toBe(2);
      expect(trip.description).toBe('book a trip');
      expect(trip.input).toBe(input);
      expect(trip.steps.map((s) => [s.name, s.index])).toEqual([
        ['reserveFlight', 0],
        ['chargePayment', 1],
      ]);
      expect(Object.isFrozen(trip)).toBe(true);
      expect(Object.isFrozen(trip.steps)).toBe(true);
      expect(Object.isFrozen(trip.steps[0])).toBe(true);
    });

    it('fills in the default run policy, and the compensation policy only for compensable steps', () => {
      const trip = defineSaga({
        name: 'trip',
        version: 1,
        input,
        steps: [{ name: 'a', compensate: true }, { name: 'b' }, { name: 'c', kind: 'query' }],
      });

      expect(trip.steps[0]?.run).toEqual(DEFAULT_RUN_POLICY);
      expect(trip.steps[0]?.compensation).toEqual(DEFAULT_COMPENSATION_POLICY);
      expect(trip.steps[1]?.compensation).toEqual(DEFAULT_COMPENSATION_POLICY);
      expect(trip.steps[2]?.compensation).toBeUndefined();
      expect(DEFAULT_RUN_POLICY).toEqual({
        attempts: 3,
        backoff: { type: 'exponential', delayMs: 100, maxDelayMs: 30_000, jitter: 0.5 },
        timeoutMs: 30_000,
      });
    });

    it('merges a partial retry policy over the defaults', () => {
      const trip = defineSaga({
        name: 'trip',
        version: 1,
        input,
        steps: [
          {
            name: 'a',
            retry: { attempts: 7, backoff: { type: 'fixed', delayMs: 10 } },
            timeoutMs: 500,
            compensate: { retry: { attempts: 2 } },
          },
        ],
      });

      expect(trip.steps[0]?.run).toEqual({
        attempts: 7,
        backoff: { type: 'fixed', delayMs: 10, maxDelayMs: 30_000, jitter: 0.5 },
        timeoutMs: 500,
      });
      // The compensation inherits the step's timeout unless it sets its own.
      expect(trip.steps[0]?.compensation).toEqual({
        attempts: 2,
        backoff: DEFAULT_COMPENSATION_POLICY.backoff,
        timeoutMs: 500,
      });
    });

    it('gives a compensation its own timeout when it sets one', () => {
      const trip = defineSaga({
        name: 'trip',
        version: 1,
        input,
        steps: [{ name: 'a', timeoutMs: 500, compensate: { timeoutMs: 9_000 } }],
      });
      expect(trip.steps[0]?.run.timeoutMs).toBe(500);
      expect(trip.steps[0]?.compensation?.timeoutMs).toBe(9_000);
    });

    it('does not mutate or freeze the config it was given', () => {
      const config = {
        name: 'trip',
        version: 1,
        input,
        steps: [{ name: 'a', retry: { attempts: 2 } }],
      };
      const copy = { ...config, steps: [{ name: 'a', retry: { attempts: 2 } }] };

      defineSaga(config);

      expect(config).toEqual(copy);
      expect(Object.isFrozen(config)).toBe(false);
      expect(Object.isFrozen(config.steps)).toBe(false);
    });
  });

  describe('definition-time rules', () => {
    it('throws a DefinitionError (code DEFINITION_INVALID) that is a SagaError', () => {
      const error = definitionError({ name: 'trip', version: 1, input, steps: [] });
      expect(error).toBeInstanceOf(DefinitionError);
      expect(isSagaError(error)).toBe(true);
      expect(error.code).toBe('DEFINITION_INVALID');
      expect(error.name).toBe('DefinitionError');
      expect(error.message).toContain('saga "trip"');
    });

    it('refuses duplicate step names, naming the second one and the first', () => {
      const error = definitionError({
        name: 'trip',
        version: 1,
        input,
        steps: [{ name: 'a' }, { name: 'b' }, { name: 'a' }],
      });
      expect(error.path).toBe('steps.2.name');
      expect(error.message).toContain('steps.2.name');
      expect(error.message).toContain('duplicate step name "a"');
      expect(error.message).toContain('steps.0');
    });

    it('refuses a saga without steps', () => {
      const error = definitionError({ name: 'trip', version: 1, input, steps: [] });
      expect(error.path).toBe('steps');
      expect(error.message).toContain('steps');
      expect(error.message).toContain('at least one step');
    });

    it('refuses an unknown top-level key, naming it', () => {
      const error = definitionError({ name: 'trip', version: 1, input, steps: [{ name: 'a' }], retries: 3 });
      expect(error.code).toBe('DEFINITION_INVALID');
      expect(error.message).toContain('"retries"');
    });

    it('refuses an unknown key in a step, naming the key and the step', () => {
      const error = definitionError(withStep({ name: 'a', retyr: { attempts: 2 } }));
      expect(error.path).toMatch(/^steps\.0(\.retyr)?$/);
      expect(error.message).toContain('steps.0');
      expect(error.message).toContain('"retyr"');
    });

    it('refuses an unknown key in a compensation, naming the key', () => {
      const error = definitionError(withStep({ name: 'a', compensate: { retyr: 1 } }));
      expect(error.path).toMatch(/^steps\.0\.compensate(\.retyr)?$/);
      expect(error.message).toContain('"retyr"');
    });

    it.each([
      ['zero attempts', { attempts: 0 }, 'steps.0.retry.attempts'],
      ['non-integer attempts', { attempts: 1.5 }, 'steps.0.retry.attempts'],
      ['more than 100 attempts', { attempts: 101 }, 'steps.0.retry.attempts'],
      ['a negative delay', { attempts: 2, backoff: { type: 'fixed', delayMs: -1 } }, 'steps.0.retry.backoff.delayMs'],
      [
        'a non-integer delay',
        { attempts: 2, backoff: { type: 'fixed', delayMs: 0.5 } },
        'steps.0.retry.backoff.delayMs',
      ],
      [
        'a jitter above 1',
        { attempts: 2, backoff: { type: 'fixed', delayMs: 1, jitter: 2 } },
        'steps.0.retry.backoff.jitter',
      ],
      [
        'an unknown backoff type',
        { attempts: 2, backoff: { type: 'linear', delayMs: 1 } },
        'steps.0.retry.backoff.type',
      ],
    ])('refuses a retry policy with %s', (_label, retry, path) => {
      const error = definitionError(withStep({ name: 'a', retry }));
      expect(error.path).toBe(path);
      expect(error.message).toContain(path);
    });

    it('accepts the bounds of a retry policy: 1 and 100 attempts, a zero delay', () => {
      expect(() => defineSaga(withStep({ name: 'a', retry: { attempts: 1 } }) as never)).not.toThrow();
      expect(() =>
        defineSaga(withStep({ name: 'a', retry: { attempts: 100, backoff: { type: 'fixed', delayMs: 0 } } }) as never),
      ).not.toThrow();
    });

    it.each([
      ['zero', 0],
      ['negative', -5],
      ['non-integer', 1.5],
      ['longer than a day', 86_400_001],
    ])('refuses a %s step timeout', (_label, timeoutMs) => {
      const error = definitionError(withStep({ name: 'a', timeoutMs }));
      expect(error.path).toBe('steps.0.timeoutMs');
      expect(error.message).toContain('steps.0.timeoutMs');
    });

    it('refuses a bad compensation retry policy and timeout, naming the nested field', () => {
      const attempts = definitionError(withStep({ name: 'a', compensate: { retry: { attempts: 0 } } }));
      expect(attempts.path).toBe('steps.0.compensate.retry.attempts');
      expect(attempts.message).toContain('steps.0.compensate.retry.attempts');

      const timeout = definitionError(withStep({ name: 'a', compensate: { timeoutMs: 0 } }));
      expect(timeout.path).toBe('steps.0.compensate.timeoutMs');
      expect(timeout.message).toContain('steps.0.compensate.timeoutMs');
    });

    it.each(['a.b', 'a:b', 'a~b', 'a b', '1a', ''])('refuses the step name %j', (name) => {
      const error = definitionError(withStep({ name }));
      expect(error.path).toBe('steps.0.name');
      expect(error.message).toContain('steps.0.name');
    });

    it('refuses a bad saga name, version and input schema, naming each field', () => {
      expect(definitionError({ name: 'my saga', version: 1, input, steps: [{ name: 'a' }] }).path).toBe('name');
      expect(definitionError({ name: 'trip', version: 0, input, steps: [{ name: 'a' }] }).path).toBe('version');
      expect(definitionError({ name: 'trip', version: 1.5, input, steps: [{ name: 'a' }] }).path).toBe('version');
      const schema = definitionError({ name: 'trip', version: 1, input: {}, steps: [{ name: 'a' }] });
      expect(schema.path).toBe('input');
      expect(schema.message).toContain('input: must be a zod schema');
    });

    it('reports the first offending field in `path` and every one in the message', () => {
      const error = definitionError({
        name: 'trip',
        version: 1,
        input,
        steps: [
          { name: 'a', retry: { attempts: 0 } },
          { name: 'b', timeoutMs: 0 },
        ],
      });
      expect(error.path).toBe('steps.0.retry.attempts');
      expect(error.message).toContain('steps.0.retry.attempts');
      expect(error.message).toContain('steps.1.timeoutMs');
    });
  });
});

describe('isSagaDefinition', () => {
  it('is true for a definition and false for anything else', () => {
    const trip = defineSaga({ name: 'trip', version: 1, input, steps: [{ name: 'a' }] });
    expect(isSagaDefinition(trip)).toBe(true);
    expect(isSagaDefinition({ name: 'trip', steps: [] })).toBe(false);
    expect(isSagaDefinition(null)).toBe(false);
    expect(isSagaDefinition('trip')).toBe(false);
  });
});
