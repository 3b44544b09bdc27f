import type { StateValue } from 'xstate';
import type { SagaMachine } from '../machines/build-saga-machine.ts';
import type { SagaContext, StepJobRequest } from '../machines/context.ts';

type StateNodeOf = SagaMachine['root'];
/** One `invoke` of a state node, as XState keeps it. */
export type InvokeOf = StateNodeOf['invoke'][number];

/**
 * The step jobs a saga in state `value` with `context` runs: the input of every invoke of its
 * active state nodes, given by the invoke's own `input` mapper. The machine stays the one place
 * that says which job a state runs (`{ sagaId, step, direction, round }`), and a state's jobs are
 * data read from the state: no actor has to run for the engine to learn them.
 *
 * @throws when `value` is not a state of the machine.
 */
export function jobsOfState(machine: SagaMachine, value: StateValue, context: SagaContext): StepJobRequest[] {
  return activeInvokes(machine, value).map((invoke) => invokeInput(invoke, context));
}

/**
 * The jobs a transition dispatches: those the state after it runs and the state before it did not
 * (a job is its step, direction and round, as its id is). A transition that stays in its step, or
 * a parallel group whose member settles while the others run, dispatches nothing again.
 */
export function startedJobs(
  machine: SagaMachine,
  before: { value: StateValue; context: SagaContext },
  after: { value: StateValue; context: SagaContext },
): StepJobRequest[] {
  const now = jobsOfState(machine, after.value, after.context);
  if (now.length === 0) return now;
  const running = new Set(jobsOfState(machine, before.value, before.context).map(jobKey));
  return now.filter((job) => !running.has(jobKey(job)));
}

/** Every invoke of the state nodes `value` is in, outermost first. */
export function activeInvokes(machine: SagaMachine, value: StateValue): InvokeOf[] {
  const invokes: InvokeOf[] = [...machine.root.invoke];
  const walk = (node: StateNodeOf, inner: StateValue) => {
    const entries = typeof inner === 'string' ? [[inner, undefined] as const] : Object.entries(inner);
    for (const [key, rest] of entries) {
      const child = node.states[key];
      if (!child) throw new Error(`"${key}" is not a state of "${node.id}"`);
      invokes.push(...child.invoke);
      if (rest !== undefined) walk(child, rest);
    }
  };
  walk(machine.root, value);
  return invokes;
}

/** What an invoke gives the actor it starts, for a saga with `context`. */
export function invokeInput(invoke: InvokeOf, context: SagaContext): StepJobRequest {
  return (
    typeof invoke.input === 'function'
      ? invoke.input({ context, event: { type: 'xstate.init' } as never, self: undefined as never })
      : invoke.input
  ) as StepJobRequest;
}

function jobKey(job: StepJobRequest): string {
  return `${job.step}\n${job.direction}\n${job.round}`;
}
