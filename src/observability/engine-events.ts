import { EventEmitter } from 'node:events';
import type { SagaEscalation } from '../machines/context.ts';
import type { TransitionEntry } from '../persistence/saga-store.ts';

/** What an engine announces, by event name. */
export interface EngineEventMap {
  /** A transition was persisted (the same entry as in the saga log). */
  transition: [entry: TransitionEntry];
  /** A compensation ran out of retries: a person must act (`resume` or `resolve`). */
  escalated: [alert: { sagaId: string; name: string; escalation: SagaEscalation }];
  /** A saga's stored data could not be used; it was moved to quarantine with the reason in its log. */
  quarantined: [notice: { sagaId: string; error: unknown }];
  /** Something failed outside any saga (e.g. an outcome could not be applied); the work is kept. */
  error: [error: unknown];
}

/** Typed listener registration, the part of an emitter the engine exposes. */
export interface EngineEvents {
  on<K extends keyof EngineEventMap>(event: K, listener: (...args: EngineEventMap[K]) => void): () => void;
}

/**
 * A typed wrapper over Node's EventEmitter. A listener that throws is reported on `error` rather
 * than breaking the transition that emitted.
 */
export class EngineEventEmitter implements EngineEvents {
  readonly #emitter = new EventEmitter();

  on<K extends keyof EngineEventMap>(event: K, listener: (...args: EngineEventMap[K]) => void): () => void {
    const wrapped = (...args: unknown[]) => listener(...(args as EngineEventMap[K]));
    this.#emitter.on(event, wrapped);
    return () => this.#emitter.off(event, wrapped);
  }

  emit<K extends keyof EngineEventMap>(event: K, ...args: EngineEventMap[K]): void {
    if (event === 'error' && this.#emitter.listenerCount('error') === 0) {
      console.error('xsaga:', args[0]);
      return;
    }
    try {
      this.#emitter.emit(event, ...args);
    } catch (error) {
      if (event !== 'error') this.emit('error', error);
    }
  }
}
