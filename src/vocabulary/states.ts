// The saga vocabulary every layer may import: the states here, the events in events.ts.

/** The six top-level states of every saga machine: a saga's public status. */
export const SagaStates = {
  Started: 'Started',
  Pending: 'Pending',
  Compensating: 'Compensating',
  Completed: 'Completed',
  Failed: 'Failed',
  Escalated: 'Escalated',
} as const;

/** A saga's public status. */
export type SagaState = (typeof SagaStates)[keyof typeof SagaStates];

/** States from which a saga never moves again. */
export const FINAL_STATES: readonly SagaState[] = [SagaStates.Completed, SagaStates.Failed];

/** States in which `engine.waitFor` resolves: the final ones, and Escalated (a person must act). */
export const SETTLED_STATES: readonly SagaState[] = [...FINAL_STATES, SagaStates.Escalated];

/** The top-level state of a snapshot's value (`{ Pending: 'reserveHotel' }` -> `Pending`). */
export function topLevelState(value: unknown): SagaState {
  const key = typeof value === 'string' ? value : Object.keys(value as object)[0];
  return key as SagaState;
}

/** The substate (step name) of a snapshot's value, if any. */
export function activeStep(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const inner = Object.values(value)[0];
  return typeof inner === 'string' ? inner : undefined;
}
