/**
 * Stable codes of every error xsaga throws or records. Check `error.code`, never the message:
 * errors cross process boundaries (a worker's failure reaches the engine as data), where
 * `instanceof` no longer holds.
 */
export type SagaErrorCode =
  | 'DEFINITION_INVALID'
  | 'INPUT_INVALID'
  | 'HANDLER_MISSING'
  | 'SAGA_NOT_FOUND'
  | 'SAGA_EXISTS'
  | 'INVALID_STATE'
  | 'CONFLICT'
  | 'STEP_TIMEOUT'
  | 'STEP_NOT_DONE'
  | 'TERMINAL'
  | 'ENGINE_CLOSED'
  | 'WAIT_TIMEOUT'
  | 'WAIT_DEADLINE'
  | 'SIGNAL_INVALID'
  | 'SIGNAL_NOT_AWAITED'
  | 'SIGNAL_REJECTED'
  | 'SAGA_IDLE'
  | 'RECORD_CORRUPT'
  | 'DEFINITION_UNKNOWN'
  | 'STORE_FAILED'
  | 'QUEUE_FAILED';

/**
 * Base class of every xsaga error: a readonly `code` from {@link SagaErrorCode} and an optional `cause`.
 *
 * @example
 * ```ts
 * try { await engine.start(trip, { tripId: 1 }); }
 * catch (e) { if (isSagaError(e) && e.code === 'INPUT_INVALID') console.error(e.message); }
 * ```
 */
export class SagaError extends Error {
  /** Stable, machine-readable reason. */
  readonly code: SagaErrorCode;

  constructor(code: SagaErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A saga definition broke a definition-time rule (duplicate step, bad retry policy, unknown key...). */
export class DefinitionError extends SagaError {
  /** Dotted path of the offending field, e.g. `steps.1.retry.attempts`. */
  readonly path: string;
  constructor(message: string, path: string, options?: { cause?: unknown }) {
    super('DEFINITION_INVALID', message, options);
    this.path = path;
  }
}

/** The input given to `engine.start` failed the saga's schema; nothing was stored. */
export class InputError extends SagaError {
  /** Dotted path of the offending field inside the input, e.g. `tripId`. */
  readonly path: string;
  constructor(message: string, path: string, options?: { cause?: unknown }) {
    super('INPUT_INVALID', message, options);
    this.path = path;
  }
}

/** A handler (run or compensate) is missing for a step the engine was asked to drive. */
export class HandlerMissingError extends SagaError {
  constructor(message: string) {
    super('HANDLER_MISSING', message);
  }
}

/** No saga with the given id is known to the store. */
export class SagaNotFoundError extends SagaError {
  constructor(readonly sagaId: string) {
    super('SAGA_NOT_FOUND', `saga "${sagaId}" was not found; check the id returned by engine.start`);
  }
}

/** The operation does not apply to the saga's current state (e.g. resume on a Completed saga). */
export class InvalidStateError extends SagaError {
  constructor(message: string) {
    super('INVALID_STATE', message);
  }
}

/**
 * A compare-and-set write lost: another writer stored a newer snapshot version first.
 * The engine reloads the saga and re-applies the event.
 */
export class ConflictError extends SagaError {
  constructor(
    readonly sagaId: string,
    readonly expectedRevision: number,
  ) {
    super('CONFLICT', `saga "${sagaId}" was written by someone else (expected revision ${expectedRevision})`);
  }
}

/**
 * A signal was refused before anything changed: the saga has no wait of that name, or the payload
 * does not fit the wait's schema (`path` names the field), or cannot be stored as JSON.
 */
export class SignalError extends SagaError {
  /** Dotted path of the offending field inside the payload (or `name`, `signalId`). */
  readonly path: string;
  constructor(message: string, path: string, options?: { cause?: unknown }) {
    super('SIGNAL_INVALID', message, options);
    this.path = path;
  }
}

/**
 * A valid signal came for a wait the saga is not parked at (not reached yet, already signalled
 * under another `signalId`, timed out, or the saga moved on): refused, nothing changed. Signals
 * are not buffered.
 */
export class SignalNotAwaitedError extends SagaError {
  constructor(message: string) {
    super('SIGNAL_NOT_AWAITED', message);
  }
}

/** An attempt ran longer than its step's `timeoutMs`; its `signal` was aborted and the attempt counts as failed. */
export class StepTimeoutError extends SagaError {
  constructor(
    readonly step: string,
    readonly timeoutMs: number,
  ) {
    super('STEP_TIMEOUT', `step "${step}" did not finish within ${timeoutMs} ms; its signal was aborted`);
  }
}

/**
 * A step's `verify` read the participant back and found that `run` did not take effect. The attempt
 * failed, but not in doubt: retrying is safe, and a step that ends this way is never compensated.
 */
export class StepNotDoneError extends SagaError {
  constructor(
    readonly step: string,
    why: string,
    options?: { cause?: unknown },
  ) {
    super('STEP_NOT_DONE', `step "${step}" did not take effect, its verify says (${why})`, options);
  }
}

/**
 * A stored saga (any field of its record, its snapshot, or the key itself) cannot be used: it was
 * changed outside xsaga, or written by a version of it that stored another shape. The engine moves
 * such a saga to quarantine once, with this error in its log, and the other sagas go on.
 */
export class RecordCorruptError extends SagaError {
  constructor(
    readonly sagaId: string,
    /** The stored field that failed, e.g. `revision` or `snapshot.context.steps`. */
    readonly field: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(
      'RECORD_CORRUPT',
      `the stored record of saga "${sagaId}" is unusable: ${field} ${problem}; it was changed outside xsaga (the saga is quarantined)`,
      options,
    );
  }
}

/**
 * The saga store failed (connection lost, permission denied, out of memory...). What was asked
 * did not happen, or happened without the caller learning it: the message says which, and the
 * original error is the `cause`.
 */
export class StoreError extends SagaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STORE_FAILED', message, options);
  }
}

/**
 * The step queue failed to take a job (connection lost, permission denied...). The saga's state was
 * saved before: a repeated command on the saga, or `engine.recover()`, dispatches its job again.
 */
export class QueueError extends SagaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('QUEUE_FAILED', message, options);
  }
}

/** The engine was closed; it accepts no more work. */
export class EngineClosedError extends SagaError {
  constructor() {
    super('ENGINE_CLOSED', 'the engine is closed; create a new one with createEngine()');
  }
}

/**
 * Throw from a handler to say "retrying will not help": the step fails at once, without retries,
 * and the saga starts compensating.
 *
 * @example
 * ```ts
 * chargePayment: { run: async (ctx) => { if (declined) throw new TerminalError('card declined'); } }
 * ```
 */
export class TerminalError extends SagaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TERMINAL', message, options);
  }
}

/** True for any xsaga error, including ones rebuilt from data (checked by `code`, not `instanceof`). */
export function isSagaError(error: unknown): error is SagaError {
  return error instanceof SagaError;
}

/**
 * True when retrying is pointless: a {@link TerminalError}, or a missing handler (retrying cannot make
 * code appear). Matches by `name`/`code` so an error rebuilt in another process, or thrown by a copy
 * of xsaga from another package version, still counts.
 */
export function isTerminalError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { name?: unknown; code?: unknown };
  return e.name === 'TerminalError' || e.code === 'TERMINAL' || e.code === 'HANDLER_MISSING';
}
