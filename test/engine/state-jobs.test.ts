import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { trip } from '../../examples/trip-booking/saga.ts';
import { jobsOfState, startedJobs } from '../../src/engine/state-jobs.ts';
import { buildSagaMachine } from '../../src/machines/build-saga-machine.ts';
import type { SagaContext } from '../../src/machines/context.ts';

const machine = buildSagaMachine(trip);

/** The saga's state after `events`, from a fresh actor (what the engine would have saved). */
function stateAfter(...events: Array<Record<string, unknown>>) {
  const actor = createActor(machine, { input: { sagaId: 's-1', input: { tripId: 't', cardDeclined: false } } });
  actor.start();
  for (const event of events) actor.send(event as never);
  const { value, context } = actor.getSnapshot();
  actor.stop();
  return { value, context: context as SagaContext };
}

const done = (step: string, round = 0) => ({
  type: 'step.done',
  step,
  direction: 'run',
  round,
  attempts: 1,
  result: {},
});

describe('step jobs are read from the state', () => {
  it('a state runs the job of the step it is in, as its invoke names it', () => {
    const pending = stateAfter({ type: 'saga.start' });
    expect(jobsOfState(machine, pending.value, pending.context)).toEqual([
      { sagaId: 's-1', step: 'reserveFlight', direction: 'run', round: 0 },
    ]);
    const started = stateAfter();
    expect(jobsOfState(machine, started.value, started.context)).toEqual([]);
  });

  it('a transition dispatches the job of the state it enters, not the one it leaves', () => {
    const before = stateAfter({ type: 'saga.start' });
    const after = stateAfter({ type: 'saga.start' }, done('reserveFlight'));
    expect(startedJobs(machine, before, after)).toEqual([
      { sagaId: 's-1', step: 'reserveHotel', direction: 'run', round: 0 },
    ]);
  });

  it('a transition that stays in its step (a cancel while the step runs) dispatches nothing again', () => {
    const before = stateAfter({ type: 'saga.start' });
    const after = stateAfter({ type: 'saga.start' }, { type: 'saga.cancel' });
    expect(after.value).toEqual(before.value);
    expect(startedJobs(machine, before, after)).toEqual([]);
  });

  it('a settled saga runs nothing', () => {
    const events = [{ type: 'saga.start' }, ...trip.steps.map((step) => done(step.name))];
    const completed = stateAfter(...events);
    expect(completed.value).toBe('Completed');
    expect(jobsOfState(machine, completed.value, completed.context)).toEqual([]);
  });

  it('refuses a state the machine does not have', () => {
    expect(() => jobsOfState(machine, { Pending: 'nowhere' }, stateAfter().context)).toThrow(/nowhere/);
  });
});
