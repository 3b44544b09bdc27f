import { describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { restock } from '../../examples/parallel-group/saga.ts';
import { trip } from '../../examples/trip-booking/saga.ts';
import { buildSagaMachine } from '../../src/machines/build-saga-machine.ts';
import { toMermaid } from '../../src/machines/to-mermaid.ts';
import { tripBooking } from '../fixtures/trip-booking-saga.ts';

/** What a diagram says, read back: declared states with their composite, and edges with theirs. */
interface Diagram {
  header: string;
  /** Mermaid id -> id of the enclosing composite ('' at top level). */
  states: Map<string, string>;
  labels: Map<string, string>;
  /** `from --> to : label`, keyed by the composite the line is written in. */
  edges: { scope: string; from: string; to: string; label: string }[];
}

function read(text: string): Diagram {
  const [header = '', ...lines] = text.trimEnd().split('\n');
  const diagram: Diagram = { header, states: new Map(), labels: new Map(), edges: [] };
  const scopes: string[] = [''];
  const scope = () => scopes.at(-1) ?? '';
  const rules: [RegExp, (m: string[]) => unknown][] = [
    [
      /^state (\w+) \{$/,
      ([, id = '']) => {
        diagram.states.set(id, scope());
        scopes.push(id);
      },
    ],
    [/^\}$/, () => scopes.pop()],
    [
      /^state "([^"]+)" as (\w+)$/,
      ([, label = '', id = '']) => {
        diagram.states.set(id, scope());
        diagram.labels.set(id, label);
      },
    ],
    [
      /^(\S+) --> (\S+)(?: : (.+))?$/,
      ([, from = '', to = '', label = '']) => diagram.edges.push({ scope: scope(), from, to, label }),
    ],
    [/^(\w+) : (.+)$/, ([, id = '', label = '']) => diagram.labels.set(id, label)],
    [/^(\w+)$/, ([, id = '']) => diagram.states.set(id, scope())],
    [/^(%%.*|--)$/, () => undefined],
  ];
  for (const raw of lines) {
    const line = raw.trim();
    const rule = rules.find(([pattern]) => pattern.test(line));
    if (!rule) throw new Error(`unexpected diagram line: ${raw}`);
    rule[1](line.match(rule[0]) as string[]);
  }
  expect(scopes).toEqual(['']);
  return diagram;
}

const edge = (d: Diagram, from: string, to: string) => d.edges.filter((e) => e.from === from && e.to === to);

describe('toMermaid of a saga machine (3 steps, the middle one not compensable)', () => {
  const diagram = read(toMermaid(buildSagaMachine(tripBooking)));

  it('is a stateDiagram-v2 declaring the six top-level states', () => {
    expect(diagram.header).toBe('stateDiagram-v2');
    for (const state of ['Started', 'Pending', 'Compensating', 'Completed', 'Failed', 'Escalated']) {
      expect(diagram.states.get(state)).toBe('');
    }
  });

  it('nests one Pending substate per step and one Compensating substate per compensable step', () => {
    expect(diagram.states.get('Pending_reserve_flight')).toBe('Pending');
    expect(diagram.states.get('Pending_send_confirmation')).toBe('Pending');
    expect(diagram.states.get('Pending_charge_card')).toBe('Pending');
    expect(diagram.states.get('Compensating_reserve_flight')).toBe('Compensating');
    expect(diagram.states.get('Compensating_charge_card')).toBe('Compensating');
    expect(diagram.states.has('Compensating_send_confirmation')).toBe(false);
  });

  it('keeps step names as labels while ids hold only letters, digits and _', () => {
    expect(diagram.labels.get('Pending_reserve_flight')).toBe('reserve-flight');
    expect(diagram.labels.get('Pending_send_confirmation')).toBe('send_confirmation [query]');
    for (const id of diagram.states.keys()) expect(id).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
  });

  it('marks the initial state of the machine and of each composite', () => {
    expect(edge(diagram, '[*]', 'Started')).toEqual([{ scope: '', from: '[*]', to: 'Started', label: '' }]);
    expect(edge(diagram, '[*]', 'Pending_reserve_flight')[0]?.scope).toBe('Pending');
  });

  it('marks Completed and Failed as final, and not Escalated', () => {
    expect(edge(diagram, 'Completed', '[*]')).toHaveLength(1);
    expect(edge(diagram, 'Failed', '[*]')).toHaveLength(1);
    expect(edge(diagram, 'Escalated', '[*]')).toHaveLength(0);
  });

  it('moves forward from each step to the next on step.done, and from the last to Completed', () => {
    expect(edge(diagram, 'Started', 'Pending').map((e) => e.label)).toEqual(['saga.start']);
    expect(edge(diagram, 'Pending_reserve_flight', 'Pending_send_confirmation')).toEqual([
      {
        scope: 'Pending',
        from: 'Pending_reserve_flight',
        to: 'Pending_send_confirmation',
        label: 'step.done [guarded]',
      },
    ]);
    expect(edge(diagram, 'Pending_send_confirmation', 'Pending_charge_card').map((e) => e.label)).toEqual([
      'step.done [guarded]',
    ]);
    expect(edge(diagram, 'Pending_charge_card', 'Completed').map((e) => e.label)).toEqual(['step.done [guarded]']);
  });

  it('sends a failed step into Compensating, which picks the newest completed compensable step', () => {
    // step.done too: a step that completes after a cancel was requested rolls the saga back.
    expect(edge(diagram, 'Pending_charge_card', 'Compensating').map((e) => e.label)).toEqual([
      'step.done [guarded]',
      'step.failed [guarded]',
    ]);
    expect(edge(diagram, 'Pending_reserve_flight', 'Compensating').map((e) => e.label)).toEqual([
      'step.done [guarded]',
      'step.failed [guarded]',
    ]);
    expect(edge(diagram, 'Compensating__next', 'Compensating_charge_card').map((e) => e.label)).toEqual([
      'always [guarded]',
    ]);
    expect(edge(diagram, 'Compensating__next', 'Compensating_reserve_flight').map((e) => e.label)).toEqual([
      'always [guarded]',
    ]);
    expect(edge(diagram, 'Compensating__next', 'Failed').map((e) => e.label)).toEqual(['always']);
  });

  it('goes back for the next compensation after each one, and escalates a failed compensation', () => {
    expect(edge(diagram, 'Compensating_charge_card', 'Compensating__next')[0]?.label).toBe('step.done [guarded]');
    expect(edge(diagram, 'Compensating_reserve_flight', 'Compensating__next')[0]?.label).toBe('step.done [guarded]');
    expect(edge(diagram, 'Compensating_charge_card', 'Escalated')[0]?.label).toBe('step.failed [guarded]');
    expect(edge(diagram, 'Compensating_reserve_flight', 'Escalated')[0]?.label).toBe('step.failed [guarded]');
  });

  it('lets an operator resume an escalation into any compensation, or resolve it into Failed', () => {
    expect(edge(diagram, 'Escalated', 'Compensating_charge_card')[0]?.label).toBe('saga.resume [guarded]');
    expect(edge(diagram, 'Escalated', 'Compensating_reserve_flight')[0]?.label).toBe('saga.resume [guarded]');
    expect(edge(diagram, 'Escalated', 'Failed')[0]?.label).toBe('saga.resolve');
    expect(edge(diagram, 'Escalated', 'Completed')[0]?.label).toBe('saga.resolve [guarded]');
  });

  it('leaves out transitions without a target (a cancel request while a step runs)', () => {
    expect(diagram.edges.filter((e) => e.from === 'Pending' && e.label.startsWith('saga.cancel'))).toEqual([]);
    expect(edge(diagram, 'Started', 'Failed').map((e) => e.label)).toEqual(['saga.cancel']);
  });

  it('declares every edge end, and writes each edge in the innermost composite holding both ends', () => {
    for (const { scope, from, to } of diagram.edges) {
      for (const end of [from, to]) if (end !== '[*]') expect(diagram.states.has(end)).toBe(true);
      if (from === '[*]' || to === '[*]') continue;
      const sameComposite = diagram.states.get(from) === diagram.states.get(to);
      expect(scope).toBe(sameComposite ? diagram.states.get(from) : '');
    }
    expect(edge(diagram, 'Pending_charge_card', 'Compensating')[0]?.scope).toBe('');
  });

  it('is deterministic', () => {
    expect(toMermaid(buildSagaMachine(tripBooking))).toBe(toMermaid(buildSagaMachine(tripBooking)));
  });
});

describe('toMermaid of a saga with a parallel group', () => {
  const text = toMermaid(buildSagaMachine(restock));
  const diagram = read(text);

  it('draws the group as a parallel state, tagged, with one region per member split by --', () => {
    expect(diagram.labels.get('Pending_suppliers')).toBe('suppliers [parallel]');
    for (const member of ['north', 'south', 'east']) {
      expect(diagram.states.get(`Pending_suppliers_members_${member}`)).toBe('Pending_suppliers_members');
    }
    const members = text.slice(text.indexOf('state Pending_suppliers_members {'));
    expect(members.match(/^ {8}--$/gm)).toHaveLength(2);
  });

  it('decides once every member has settled, and goes on, undoes in-doubt members first, or rolls back', () => {
    expect(edge(diagram, 'Pending_suppliers_members', 'Pending_suppliers_deciding').map((e) => e.label)).toEqual([
      'xstate.done.state.restock.Pending.suppliers.members',
    ]);
    expect(edge(diagram, 'Pending_suppliers_deciding', 'Pending_placeOrder')[0]?.label).toBe('always [guarded]');
    expect(edge(diagram, 'Pending_suppliers_deciding', 'Pending_suppliers_trimming')[0]?.label).toBe(
      'always [guarded]',
    );
    expect(edge(diagram, 'Pending_suppliers_deciding', 'Compensating')).not.toEqual([]);
  });
});

describe('toMermaid of a saga with step kinds', () => {
  const diagram = read(toMermaid(buildSagaMachine(trip)));

  it('marks the pivot and the steps after it with their kind, and leaves compensable steps plain', () => {
    expect(diagram.labels.get('Pending_chargePayment')).toBe('chargePayment [pivot]');
    expect(diagram.labels.get('Pending_sendConfirmation')).toBe('sendConfirmation [noncompensable]');
    expect(diagram.labels.get('Pending_reserveFlight')).toBe('reserveFlight');
  });

  it('gives no step after the pivot a compensation, and escalates its failure', () => {
    expect(diagram.states.has('Compensating_sendConfirmation')).toBe(false);
    expect(diagram.states.has('Compensating_chargePayment')).toBe(false);
    expect(edge(diagram, 'Pending_sendConfirmation', 'Escalated').map((e) => e.label)).toEqual([
      'step.failed [guarded]',
    ]);
  });
});

describe('toMermaid of any machine', () => {
  it('gives keys that sanitize alike, or are Mermaid keywords, distinct ids', () => {
    const machine = createMachine({
      id: 'keys',
      initial: 'a-b',
      states: { 'a-b': { on: { go: 'a_b' } }, a_b: { on: { go: 'state' } }, state: { type: 'final' } },
    });
    const diagram = read(toMermaid(machine));
    expect([...diagram.states.keys()]).toEqual(['a_b', 'a_b_2', 'state_2']);
    expect(diagram.labels.get('a_b')).toBe('a-b');
    expect(diagram.labels.get('state_2')).toBe('state');
    expect(edge(diagram, 'a_b', 'a_b_2')[0]?.label).toBe('go');
    expect(edge(diagram, 'a_b_2', 'state_2')[0]?.label).toBe('go');
    expect(edge(diagram, 'state_2', '[*]')).toHaveLength(1);
  });

  it('labels delayed, eventless and named-guard transitions, and splits parallel regions with --', () => {
    const machine = createMachine(
      {
        id: 'misc',
        initial: 'wait',
        states: {
          wait: { after: { 500: 'check' } },
          check: { always: { guard: 'isReady', target: 'both' } },
          both: {
            type: 'parallel',
            states: {
              left: { initial: 'l1', states: { l1: { on: { next: 'l2' } }, l2: {} } },
              right: { initial: 'r1', states: { r1: {} } },
            },
          },
        },
      },
      { guards: { isReady: () => true } },
    );
    const text = toMermaid(machine);
    const diagram = read(text);
    expect(edge(diagram, 'wait', 'check')[0]?.label).toBe('after 500ms');
    expect(edge(diagram, 'check', 'both')[0]?.label).toBe('always [isReady]');
    expect(edge(diagram, 'both_left_l1', 'both_left_l2')[0]?.scope).toBe('both_left');
    expect(text).toMatch(/\n\s+--\n/);
    expect(diagram.states.get('both_right')).toBe('both');
  });
});
