import { EventEmitter } from 'node:events';
import type { TransitionEntry } from '../persistence/saga-store.ts';
import type { SagaEscalation } from '../vocabulary/outcomes.ts';
import type { SagaState } from '../vocabulary/states.ts';
import type { StuckSaga } from './instrumentation.ts';
import { defaultLogger, type Logger } from './logger.ts';

/** How far `engine.recover()` got: reported every {@link RECOVERY_REPORT_EVERY} sagas, and at the end. */
export interface RecoveryProgress {
  /** The state whose sagas are being re-attached: `Started`, then `Pending`, then `Compensating`. */
  state: SagaState;
  /** Sagas re-attached so far (all states). */
  recovered: number;
  /** Sagas whose re-attach failed so far; each was reported on `error` and is retried by the next recovery. */
  failed: number;
  /** True on the last report, when the pass is over. */
  done: boolean;
}

/** `recovering` is reported after this many sagas (and once at the end of the pass). */
export const RECOVERY_REPORT_EVERY = 100;

/** What an engine announces, by event name. */
export interface EngineEventMap {
  /** A transition was persisted (the same entry as in the saga log). */
  transition: [entry: TransitionEntry];
  /**
   * A compensation, or a step after the pivot, ran out of retries: a person must act (`resume` or
   * `resolve`); `escalation.direction` tells which.
   */
  escalated: [alert: { sagaId: string; name: string; escalation: SagaEscalation }];
  /**
   * A saga in `Pending` or `Compensating` has not moved for longer than its threshold (the
   * definition's `stuckAfterMs`, else `EngineOptions.stuck.afterMs`); announced once per saga and
   * revision by each engine process that checks (see StuckDetector).
   */
  stuck: [saga: StuckSaga];
  /** A saga's stored data could not be used; it was moved to quarantine with the reason in its log. */
  quarantined: [notice: { sagaId: string; error: unknown }];
  /** Progress of `engine.recover()` (also the background recovery of a Redis engine). */
  recovering: [progress: RecoveryProgress];
  /** Something failed outside any saga (e.g. an outcome could not be applied); the work is kept. */
  error: [error: unknown];
}

/** Typed listener registration, the part of an emitter the engine exposes. */
export interface EngineEvents {
  on<K extends keyof EngineEventMap>(event: K, listener: (...args: EngineEventMap[K]) => void): () => void;
}

/**
 * A typed wrapper over Node's EventEmitter that also logs what it announces (see {@link logEngineEvent}):
 * an `error` is logged whether or not anyone listens. A listener that throws is reported on `error`
 * rather than breaking the transition that emitted; an `error` listener that throws is logged.
 */
export class EngineEventEmitter implements EngineEvents {
  readonly #emitter = new EventEmitter();
  readonly #logger: Logger;

  constructor(logger: Logger = defaultLogger()) {
    this.#logger = logger;
  }

  on<K extends keyof EngineEventMap>(event: K, listener: (...args: EngineEventMap[K]) => void): () => void {
    const wrapped = (...args: unknown[]) => listener(...(args as EngineEventMap[K]));
    this.#emitter.on(event, wrapped);
    return () => this.#emitter.off(event, wrapped);
  }

  emit<K extends keyof EngineEventMap>(event: K, ...args: EngineEventMap[K]): void {
    logEngineEvent(this.#logger, event, args);
    if (event === 'error' && this.#emitter.listenerCount('error') === 0) return;
    try {
      this.#emitter.emit(event, ...args);
    } catch (error) {
      if (event !== 'error') this.emit('error', error);
      else this.#logger.error({ err: error }, 'an error listener of the engine threw');
    }
  }
}

/**
 * The log line of an engine event: `error` and `quarantined` at error, `escalated` and `stuck` at
 * warn, recovery progress at info (debug when there was nothing to recover), each transition at debug; saga-scoped
 * ones from `child({ sagaId })` with `step` where one is concerned. Other events are not logged.
 */
export function logEngineEvent<K extends keyof EngineEventMap>(
  logger: Logger,
  event: K,
  args: EngineEventMap[K],
): void {
  const [value] = args as unknown[];
  switch (event) {
    case 'error': {
      const sagaId = (value as { sagaId?: unknown } | null)?.sagaId;
      const log = typeof sagaId === 'string' ? logger.child({ sagaId }) : logger;
      log.error({ err: value }, 'background failure; the work it concerns is kept');
      return;
    }
    case 'transition': {
      // The hot path: a child logger per transition only when its debug line is written.
      if (logger.isLevelEnabled?.('debug') === false) return;
      const entry = value as TransitionEntry;
      const bindings = entry.step === undefined ? { sagaId: entry.sagaId } : { sagaId: entry.sagaId, step: entry.step };
      logger
        .child(bindings)
        .debug({ event: entry.event, from: entry.from, to: entry.to }, `${entry.from || '(new)'} -> ${entry.to}`);
      return;
    }
    case 'escalated': {
      const { sagaId, name, escalation } = value as EngineEventMap['escalated'][0];
      logger
        .child({ sagaId, step: escalation.step })
        .warn(
          { saga: name, error: escalation.error, uncompensated: escalation.uncompensated },
          escalationMessage(escalation),
        );
      return;
    }
    case 'stuck': {
      const { sagaId, name, state, step, stuckForMs, thresholdMs } = value as StuckSaga;
      logger
        .child(step === undefined ? { sagaId } : { sagaId, step })
        .warn(
          { saga: name, state, stuckForMs, thresholdMs },
          `saga stuck: no transition in ${state} for ${stuckForMs} ms`,
        );
      return;
    }
    case 'quarantined': {
      const { sagaId, error } = value as EngineEventMap['quarantined'][0];
      logger.child({ sagaId }).error({ err: error }, 'saga quarantined: its stored data could not be used');
      return;
    }
    case 'recovering': {
      const progress = value as RecoveryProgress;
      const nothing = progress.done && progress.recovered === 0 && progress.failed === 0;
      const msg = progress.done ? 'recovery done' : 'recovering unsettled sagas';
      if (nothing) logger.debug({ ...progress }, msg);
      else logger.info({ ...progress }, msg);
      return;
    }
  }
}

/** What a person reads when a saga escalates: what stopped it, and what to do. */
function escalationMessage(escalation: SagaEscalation): string {
  if (escalation.inDoubt) {
    return 'saga escalated: a step ended in doubt (it may have taken effect); check the participant, then resume or resolve it';
  }
  if (escalation.error.code === 'WAIT_DEADLINE') {
    return 'saga escalated: a wait got no signal before its deadline; resume to wait again, or resolve (or cancel) it';
  }
  if (escalation.direction === 'run') {
    return 'saga escalated: a step after the pivot ran out of retries (a forward failure); resume or resolve it';
  }
  return 'saga escalated: a compensation ran out of retries; resume or resolve it';
}
