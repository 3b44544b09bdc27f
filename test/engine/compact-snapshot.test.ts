import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createActor, fromCallback } from 'xstate';
import { z } from 'zod';
import { readStoredSnapshot, toStoredSnapshot } from '../../src/engine/compact-snapshot.ts';
import { persistedSnapshotOf } from '../../src/engine/restore-actor.ts';
import { checkSagaSnapshot } from '../../src/engine/snapshot-schema.ts';
import type { SagaEvent, SagaMachine, SagaRecord } from '../../src/index.ts';
import { buildSagaMachine, defineSaga, SagaEvents, SagaStates } from '../../src/index.ts';
import type { SagaContext, StepJobRequest } from '../../src/machines/context.ts';
import { activeStep, topLevelState } from '../../src/vocabulary/states.ts';

/** Compensable and non-compensable steps mixed, so walks reach skipped, idle and escalated steps. */
const mixed = defineSaga({
  name: 'mixed',
  version: 1,
  input: z.object({ n: z.number() }),
  steps: [
    { name: 'a', compensate: true },
    { name: 'b', kind: 'query' },
    { name: 'c', compensate: true },
    { name: 'd', kind: 'query' },
  ],
});

const boom = { name: 'Error', message: 'boom' };

/** What a saga can be sent in a state: the outcomes of its current job (any attempts), and commands. */
function eventsFor(value: unknown, context: SagaContext, attempts: number): SagaEvent[] {
  const state = topLevelState(value);
  const step = activeStep(value);
  if (state === SagaStates.Started) return [{ type: SagaEvents.start }, { type: SagaEvents.cancel }];
  if (state === SagaStates.Escalated) return [{ type: SagaEvents.resume }, { type: SagaEvents.resolve, note: 'n' }];
  if (!step) return [];
  const direction = state === SagaStates.Pending ? 'run' : 'compensate';
  const base = { step, direction, attempts, round: direction === 'run' ? 0 : (context.rounds[step] ?? 0) } as const;
  return [
    { type: SagaEvents.stepDone, ...base, result: { from: step, attempts } },
    { type: SagaEvents.stepFailed, ...base, error: boom },
    { type: SagaEvents.cancel },
  ];
}

/** A saga actor with a step-job actor that records what it is asked to run. */
function sagaActor(machine: SagaMachine, jobs: StepJobRequest[], snapshot?: unknown) {
  const provided = machine.provide({
    actors: {
      stepJob: fromCallback<SagaEvent, StepJobRequest>(({ input }) => {
        jobs.push(input);
      }) as never,
    },
  });
  return createActor(provided, {
    input: { sagaId: 'saga-1', input: { n: 1 } },
    ...(snapshot === undefined ? {} : { snapshot: snapshot as never }),
  }).start();
}

/** Walks a saga through random events (choices pick among eventsFor); returns every snapshot met. */
function walk(machine: SagaMachine, choices: Array<{ pick: number; attempts: number }>) {
  const actor = sagaActor(machine, []);
  const seen = [actor.getSnapshot()];
  for (const { pick, attempts } of choices) {
    const snapshot = actor.getSnapshot();
    const events = eventsFor(snapshot.value, snapshot.context, attempts);
    if (events.length === 0) break;
    actor.send(events[pick % events.length] as SagaEvent);
    seen.push(actor.getSnapshot());
  }
  return { actor, seen };
}

const choices = fc.array(fc.record({ pick: fc.nat(5), attempts: fc.integer({ min: 1, max: 3 }) }), {
  maxLength: 20,
});

const json = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
const recordOf = (snapshot: unknown, state: string): SagaRecord => ({
  sagaId: 'saga-1',
  name: 'mixed',
  version: 1,
  state: state as SagaRecord['state'],
  snapshot,
  revision: 1,
  createdAt: 0,
  updatedAt: 0,
});

describe('the compact stored snapshot', () => {
  const machine = buildSagaMachine(mixed);

  it('holds the state value and the context only, and reads back as exactly that', () => {
    fc.assert(
      fc.property(choices, (steps) => {
        for (const snapshot of walk(machine, steps).seen) {
          const stored = json(toStoredSnapshot(snapshot));
          expect(Object.keys(stored)).toEqual(['v', 'c']);
          expect(readStoredSnapshot('saga-1', stored)).toEqual(
            json({ value: snapshot.value, context: snapshot.context }),
          );
          expect(() => checkSagaSnapshot(recordOf(stored, topLevelState(snapshot.value)))).not.toThrow();
        }
      }),
    );
  });

  it('leaves out the sagaId and every field at its initial value', () => {
    const [first] = walk(machine, []).seen;
    expect(json(toStoredSnapshot(first as never))).toEqual({
      v: 'Started',
      c: {
        input: { n: 1 },
        steps: { a: { status: 'idle' }, b: { status: 'idle' }, c: { status: 'idle' }, d: { status: 'idle' } },
      },
    });
  });

  it('is far smaller than XState persisted snapshot while a step runs', () => {
    const { actor } = walk(machine, [{ pick: 0, attempts: 1 }]);
    const compact = JSON.stringify(toStoredSnapshot(actor.getSnapshot())).length;
    const persisted = JSON.stringify(actor.getPersistedSnapshot()).length;
    expect(compact).toBeLessThan(persisted / 2);
  });

  it('rebuilds the persisted snapshot XState wrote, children (the running step job) included', () => {
    fc.assert(
      fc.property(choices, (steps) => {
        const { actor } = walk(machine, steps);
        const { value, context } = actor.getSnapshot();
        const rebuilt = persistedSnapshotOf(machine, value, context);
        expect(json(rebuilt)).toEqual(json(actor.getPersistedSnapshot()));
      }),
    );
  });

  it('restarts the invoked step job when restored from value and context alone', () => {
    fc.assert(
      fc.property(choices, (steps) => {
        const { actor } = walk(machine, steps);
        const stored = json(toStoredSnapshot(actor.getSnapshot()));
        const data = readStoredSnapshot('saga-1', stored);
        if (!data) throw new Error('unreadable');
        const jobs: StepJobRequest[] = [];
        sagaActor(machine, jobs, persistedSnapshotOf(machine, data.value, data.context));
        const { value, context } = actor.getSnapshot();
        const step = activeStep(value);
        const direction = topLevelState(value) === SagaStates.Pending ? 'run' : 'compensate';
        const expected = step
          ? [{ sagaId: 'saga-1', step, direction, round: direction === 'run' ? 0 : (context.rounds[step] ?? 0) }]
          : [];
        expect(jobs).toEqual(expected);
      }),
    );
  });

  it('XState alone restores no invoke from value and context (why the children are rebuilt)', () => {
    const { actor } = walk(machine, [{ pick: 0, attempts: 1 }]);
    const { value, context } = actor.getSnapshot();
    const jobs: StepJobRequest[] = [];
    sagaActor(machine, jobs, machine.resolveState({ value, context }));
    expect(jobs).toEqual([]);
  });

  it('still reads, checks and restores the persisted snapshot of records written before it', () => {
    fc.assert(
      fc.property(choices, (steps) => {
        const { actor } = walk(machine, steps);
        const legacy = json(actor.getPersistedSnapshot());
        const { value, context } = actor.getSnapshot();
        expect(() => checkSagaSnapshot(recordOf(legacy, topLevelState(value)))).not.toThrow();
        expect(readStoredSnapshot('saga-1', legacy)).toEqual(json({ value, context }));
      }),
    );
  });

  it('names the stored field that does not fit', () => {
    const stored = json(toStoredSnapshot(walk(machine, [{ pick: 0, attempts: 1 }]).actor.getSnapshot()));
    const bad = { ...stored, c: { ...stored.c, steps: { ...stored.c.steps, a: { status: 'nope' } } } };
    expect(() => checkSagaSnapshot(recordOf(bad, 'Pending'))).toThrow(
      expect.objectContaining({ code: 'RECORD_CORRUPT', field: 'snapshot.c.steps.a.status' }),
    );
    expect(() => checkSagaSnapshot(recordOf({ ...stored, c: { ...stored.c, rounds: null } }, 'Pending'))).toThrow(
      expect.objectContaining({ field: 'snapshot.c.rounds' }),
    );
    expect(() => checkSagaSnapshot(recordOf(stored, 'Completed'))).toThrow(expect.objectContaining({ field: 'state' }));
  });
});
