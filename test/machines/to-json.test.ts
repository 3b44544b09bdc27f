import { describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { buildSagaMachine } from '../../src/machines/build-saga-machine.ts';
import { type StatelyStateNodeJson, toStatelyJson } from '../../src/machines/to-json.ts';
import { tripBooking } from '../fixtures/trip-booking-saga.ts';

function allNodes(node: StatelyStateNodeJson): StatelyStateNodeJson[] {
  return [node, ...Object.values(node.states).flatMap(allNodes)];
}

describe('toStatelyJson', () => {
  const machine = buildSagaMachine(tripBooking);
  const json = toStatelyJson(machine);

  it('is plain data: stringifies, round-trips and structured-clones unchanged', () => {
    const text = JSON.stringify(json);
    expect(JSON.parse(text)).toEqual(json);
    expect(structuredClone(json)).toEqual(json);
  });

  it('keeps the shape of machine.toJSON(): ids, keys, types and nested states', () => {
    expect(json).toMatchObject({ id: 'trip-booking', key: 'trip-booking', type: 'compound' });
    expect(json.initial?.target).toEqual(['#trip-booking.Started']);
    expect(Object.keys(json.states)).toEqual([
      'Started',
      'Pending',
      'Compensating',
      'Completed',
      'Failed',
      'Escalated',
    ]);
    expect(Object.keys(json.states.Pending?.states ?? {})).toEqual([
      'reserve-flight',
      'send_confirmation',
      'charge-card',
    ]);
    expect(Object.keys(json.states.Compensating?.states ?? {})).toEqual(['_next', 'reserve-flight', 'charge-card']);
    expect(json.states.Failed?.type).toBe('final');
  });

  it('writes every transition target as a #id of a state node of the machine', () => {
    const targets = allNodes(json).flatMap((node) => node.transitions.flatMap((t) => t.target ?? []));
    expect(targets).toContain('#trip-booking.Failed');
    for (const target of targets) expect(machine.getStateNodeById(target).id).toBe(target.slice(1));
  });

  it('names inline guards and actions instead of dropping them or writing null', () => {
    const [cancelled, forward] = json.states.Pending?.states['reserve-flight']?.on['step.done'] ?? [];
    expect(cancelled?.guard).toEqual({ type: 'inline' });
    expect(forward).toMatchObject({
      guard: { type: 'inline' },
      target: ['#trip-booking.Pending.send_confirmation'],
      actions: [{ type: 'xstate.assign' }],
    });
    const actions = allNodes(json).flatMap((n) => [...n.entry, ...n.exit, ...n.transitions.flatMap((t) => t.actions)]);
    expect(actions.length).toBeGreaterThan(0);
    for (const action of actions) expect(action).toEqual({ type: expect.any(String) });
    expect(JSON.stringify(json)).not.toContain('toJSON');
  });

  it('leaves an unguarded transition without a guard', () => {
    expect(json.states.Escalated?.on['saga.resolve']?.[1]?.guard).toBeUndefined();
  });

  it('keeps the names of named guards and actions', () => {
    const named = createMachine(
      {
        id: 'named',
        initial: 'a',
        states: { a: { on: { go: { guard: 'isReady', actions: 'log', target: 'b' } } }, b: {} },
      },
      { guards: { isReady: () => true }, actions: { log: () => undefined } },
    );
    expect(toStatelyJson(named).states.a?.on.go?.[0]).toMatchObject({
      guard: { type: 'isReady' },
      actions: [{ type: 'log' }],
    });
  });

  it('lists the step-job actor each step invokes', () => {
    expect(json.states.Pending?.states['charge-card']?.invoke).toEqual([
      { type: 'xstate.invoke', src: 'stepJob', id: expect.any(String) },
    ]);
  });
});
