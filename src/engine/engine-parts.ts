import type { Clock } from '../clock.ts';
import type { AnySagaDefinition } from '../definition/types.ts';
import type { Instrumentation } from '../observability/instrumentation.ts';
import type { Logger } from '../observability/logger.ts';
import type { InspectOption } from '../observability/saga-inspection.ts';
import type { SagaStore } from '../persistence/saga-store.ts';
import type { StepQueue } from '../transport/step-queue.ts';
import type { HandlerRegistry } from './handlers.ts';

/** What the engine class needs; {@link createEngine} fills in the defaults. */
export interface SagaEngineParts {
  store: SagaStore;
  queue: StepQueue;
  clock: Clock;
  /** Local handlers, checked at `start`; absent when only remote workers run steps. */
  handlers: HandlerRegistry | undefined;
  sagas: readonly AnySagaDefinition[];
  /** Sagas kept hydrated in memory; the least recently used are evicted beyond it. */
  maxActiveSagas: number;
  /** Sees every saga actor, one actor per saga (see SagaInspection): hook up the Stately inspector here. */
  inspect: InspectOption | undefined;
  /** Where background errors, escalations, recovery progress and transitions (debug) are logged. */
  logger?: Logger;
  /** Whether `close()` also closes the store / the queue (true for those the engine created). */
  ownsStore: boolean;
  ownsQueue: boolean;
  /** Extra cleanup on close, before the queue and store close (e.g. a co-hosted worker). */
  onClose?: () => Promise<void>;
  /** Metrics/tracing hooks, already combined (see combineInstrumentation). */
  instrumentation?: Instrumentation | undefined;
  /** Stuck-saga detection (see StuckDetector), or false. */
  stuck?: { checkIntervalMs: number; afterMs: number } | false;
  /**
   * Sweep the store's timer set this often (ms), delivering due timers (step deadlines) through the
   * event path; absent: no sweeping (an embedded engine, the CLI's one-command engine).
   */
  sweepTimersEveryMs?: number;
  /**
   * Whether this engine consumes the queue's outcomes (default true). A step worker that applies
   * the outcomes of the steps it runs itself (see createWorker's `sagas`) hosts an engine that
   * does not: the outcomes it does not apply belong to the engines.
   */
  consumeOutcomes?: boolean;
  /**
   * The store and the queue were made on one Redis connection's options (createEngine's `redis`, a
   * worker given `sagas`): a transition's step jobs are added by its save's script (see SagaHosts).
   */
  dispatchWithSave?: boolean;
}
