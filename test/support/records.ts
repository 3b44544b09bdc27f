import type { SagaRecord, TransitionEntry } from '../../src/persistence/saga-store.ts';

/** A fixed time, so that records and entries built for store tests compare exactly. */
export const T0 = 1_700_000_000_000;

/** A new saga's record as a store receives it: `trip` version 1 in `Started`, revision 1, at T0. */
export function startedRecord(sagaId: string): SagaRecord {
  return {
    sagaId,
    name: 'trip',
    version: 1,
    state: 'Started',
    snapshot: {},
    revision: 1,
    createdAt: T0,
    updatedAt: T0,
  };
}

/** The first log entry of a saga, the one `create` stores with its record. */
export function createdEntry(sagaId: string, at = T0): TransitionEntry {
  return { sagaId, at, from: '', to: 'Started', event: 'saga.created' };
}

/** The log entry of a typical step outcome: `reserveFlight` ran, first attempt, the saga moves to `reserveHotel`. */
export function flightBookedEntry(sagaId: string, at: number): TransitionEntry {
  return {
    sagaId,
    at,
    from: 'Pending.reserveFlight',
    to: 'Pending.reserveHotel',
    event: 'step.done',
    step: 'reserveFlight',
    direction: 'run',
    attempt: 1,
  };
}
