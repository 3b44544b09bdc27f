import { createActor } from 'xstate';
import type { Clock } from '../clock.ts';
import { isSagaDefinition } from '../definition/define-saga.ts';
import type { AnySagaDefinition, SagaDefinition } from '../definition/types.ts';
import {
  DefinitionError,
  EngineClosedError,
  InputError,
  InvalidStateError,
  RecordCorruptError,
  SagaError,
  SagaNotFoundError,
} from '../errors.ts';
import { jobRound } from '../machines/build-saga-machine.ts';
import { EngineEventEmitter, type EngineEventMap } from '../observability/engine-events.ts';
import type { Instrumentation, TraceCarrier } from '../observability/instrumentation.ts';
import { defaultLogger } from '../observability/logger.ts';
import { SagaInspection } from '../observability/saga-inspection.ts';
import { StuckDetector } from '../observability/stuck-detector.ts';
import type {
  CreateResult,
  SagaQuery,
  SagaRecord,
  SagaStats,
  SagaStore,
  SettledRead,
  TransitionEntry,
} from '../persistence/saga-store.ts';
import { loadThenHistory } from '../persistence/settled-read.ts';
import { stepJobId } from '../transport/job-id.ts';
import type { StepOutcome, StepQueue } from '../transport/step-queue.ts';
import { type SagaEvent, SagaEvents } from '../vocabulary/events.ts';
import type { ScriptCall } from '../vocabulary/script-call.ts';
import { SagaStates } from '../vocabulary/states.ts';
import { appendStepAndWait, completeDynamicSaga, deliverSignal } from './agent-commands.ts';
import { guardQueue, guardStore } from './backend-guard.ts';
import { checkHandlers } from './check-handlers.ts';
import { toStoredSnapshot } from './compact-snapshot.ts';
import type { RegisteredSaga } from './definition-registry.ts';
import type {
  AppendedStep,
  AppendStep,
  SagaViewPage,
  SignalOptions,
  SignalResult,
  StartOptions,
  StartResult,
} from './engine-api.ts';
import type { SagaEngineParts } from './engine-parts.ts';
import type { HandlerRegistry } from './handlers.ts';
import { newSaga, sagaIdOf } from './new-saga.ts';
import { parseStorable } from './parse-storable.ts';
import { recoverSagas } from './recovery.ts';
import { SagaHosts, type StepOutcomeApplied } from './saga-hosts.ts';
import { type SagaView, toSagaView } from './saga-view.ts';
import { SettleWaiters } from './settle-waiters.ts';
import { checkSagaSnapshot } from './snapshot-schema.ts';

export type { StepOutcomeApplied } from './saga-hosts.ts';

/**
 * Hosts saga actors: hydrates them from the store when an event arrives, applies the event,
 * persists the snapshot with compare-and-set, and only then dispatches the step jobs the
 * transition asked for. Created through {@link createEngine}.
 */
export class SagaEngine {
  readonly #store: SagaStore;
  readonly #queue: StepQueue;
  readonly #clock: Clock;
  readonly #handlers: HandlerRegistry | undefined;
  readonly #inspection: SagaInspection | undefined;
  readonly #ownsStore: boolean;
  readonly #ownsQueue: boolean;
  readonly #onClose: (() => Promise<void>) | undefined;
  readonly #waiters: SettleWaiters;
  readonly #events: EngineEventEmitter;
  readonly #instrumentation: Instrumentation | undefined;
  readonly #stuck: StuckDetector | undefined;
  readonly #detach: (() => void) | undefined;
  #closed = false;
  /** The one event path, and the sagas it keeps hydrated. */
  readonly #sagas: SagaHosts;

  constructor(parts: SagaEngineParts) {
    this.#store = guardStore(parts.store);
    this.#queue = guardQueue(parts.queue);
    this.#clock = parts.clock;
    this.#handlers = parts.handlers;
    const logger = (parts.logger ?? defaultLogger()).child({ component: 'engine' });
    this.#events = new EngineEventEmitter(logger);
    this.#inspection = parts.inspect ? new SagaInspection(parts.inspect, logger) : undefined;
    this.#ownsStore = parts.ownsStore;
    this.#ownsQueue = parts.ownsQueue;
    this.#onClose = parts.onClose;
    this.#waiters = new SettleWaiters(
      this.#clock,
      (sagaId, unsettledToo) => this.#waitedView(sagaId, unsettledToo),
      this.#store.onSettled?.bind(this.#store),
    );
    this.#instrumentation = parts.instrumentation;
    this.#sagas = new SagaHosts({
      store: this.#store,
      queue: this.#queue,
      clock: this.#clock,
      maxActiveSagas: parts.maxActiveSagas,
      inspection: this.#inspection,
      events: this.#events,
      instrumentation: this.#instrumentation,
      onSettle: (sagaId) => this.#waiters.check(sagaId),
      ...(parts.dispatchWithSave ? { dispatchWithSave: true } : {}),
    });
    for (const definition of parts.sagas) this.#register(definition);
    this.#stuck = parts.stuck ? this.#stuckDetector(parts.stuck) : undefined;
    if (parts.consumeOutcomes !== false) this.#queue.consume((outcome) => this.#applyOutcome(outcome));
    this.#detach = this.#instrumentation?.attach?.({ stats: () => this.stats() });
    this.#stuck?.start();
    if (parts.sweepTimersEveryMs !== undefined) this.#sagas.sweepTimers(parts.sweepTimersEveryMs);
  }

  /**
   * Validates the input, stores the saga in `Started`, then moves it to `Pending` and dispatches its
   * first step. Bad input or missing handlers throw before anything is stored.
   */
  async start<TInputIn>(
    // biome-ignore lint/suspicious/noExplicitAny: handlers see the output type; start only needs the input type
    definition: SagaDefinition<string, any, string, TInputIn, string>,
    input: TInputIn,
    options: StartOptions = {},
  ): Promise<StartResult> {
    this.#assertOpen();
    const saga = this.#register(definition);
    const parsedInput = parseStorable(
      definition.input,
      input,
      `input of saga "${definition.name}"`,
      'input',
      (message, path, cause) => new InputError(message, path, { cause }),
    );
    const sagaId = sagaIdOf(options);
    // Not started yet: its first snapshot is what gets stored; it is started only if hosted below.
    const actor = createActor(saga.machine, {
      // A copy (see parseStorable), as a trip through the store would make: the hosted saga sees
      // what a restored one would.
      input: { sagaId, input: parsedInput },
      // The saga id names the actor in inspectors; an inspector sees it only once it is hosted.
      id: sagaId,
      ...(this.#inspection ? { inspect: this.#inspection.observer(sagaId, 'created') } : {}),
    });
    // Value and context only (see compact-snapshot.ts): restoring rebuilds the rest from the machine.
    const snapshot = toStoredSnapshot(actor.getSnapshot());
    const now = this.#clock.now();
    const { record, entry } = newSaga(definition, sagaId, snapshot, now, options.idempotencyKey);
    // Marked before the create: a saga stored now settles after it, and is announced to waiters.
    this.#waiters.expect(sagaId);
    let created: CreateResult;
    try {
      created = await this.#store.create(record, entry);
    } catch (error) {
      this.#waiters.created(sagaId, false);
      throw error;
    }
    this.#waiters.created(sagaId, created.created && created.record.sagaId === sagaId);
    if (created.record.name !== definition.name) {
      throw new SagaError(
        'SAGA_EXISTS',
        `saga id "${created.record.sagaId}" is already used by a "${created.record.name}" saga; choose another sagaId`,
      );
    }
    if (created.created) {
      // Host the new saga at once rather than reading back what was just written; if another
      // engine got to it first, the compare-and-set below fails and the saga is reloaded.
      this.#sagas.adopt(sagaId, () => ({ actor: actor.start(), saga, revision: 1, createdAt: now }));
    }
    const trace = created.created ? this.#sagaStarted(sagaId, definition, now) : undefined;
    // Also on a repeated start: a saga whose creator died before this line still gets going.
    await this.#sagas.send(created.record.sagaId, { type: SagaEvents.start }, trace);
    return { sagaId: created.record.sagaId, created: created.created };
  }

  /** The saga with its steps and log. Throws SagaNotFoundError for an unknown id. */
  async get(sagaId: string): Promise<SagaView> {
    const record = await this.#sagas.load(sagaId);
    if (!record) throw new SagaNotFoundError(sagaId);
    return this.#view(record, await this.#store.history(sagaId));
  }

  /**
   * Sagas by state and/or name, a page at a time (views without history). A saga whose stored
   * record is unusable never fails the page: it is quarantined and named in `quarantined`.
   */
  async list(query: SagaQuery = {}): Promise<SagaViewPage> {
    const page = await this.#store.list(query);
    const unusable = [...(page.unusable ?? [])];
    const items: SagaView[] = [];
    for (const record of page.items) {
      try {
        checkSagaSnapshot(record);
        items.push(this.#view(record, []));
      } catch (error) {
        if (!(error instanceof RecordCorruptError)) throw error;
        unusable.push(error);
      }
    }
    const quarantined: string[] = [];
    for (const error of unusable) {
      await this.#sagas.quarantine(error.sagaId, error).catch(() => undefined);
      quarantined.push(error.sagaId);
    }
    return {
      items,
      ...(page.cursor === undefined ? {} : { cursor: page.cursor }),
      ...(quarantined.length > 0 ? { quarantined } : {}),
    };
  }

  /** How many sagas are in each state, overall and by saga name, from the store's indexes. */
  async stats(): Promise<SagaStats> {
    return this.#store.stats();
  }

  /**
   * Resolves when the saga is settled: `Completed`, `Failed`, or `Escalated` (a person must act),
   * by whichever process settles it: the store tells of each settling save (Redis: pub/sub), and the
   * saga is read once after subscribing, so nothing is missed and nothing polls. Rejects after
   * `timeoutMs` if given, and with ENGINE_CLOSED when the engine closes first.
   */
  async waitFor(sagaId: string, options: { timeoutMs?: number } = {}): Promise<SagaView> {
    return this.#waiters.wait(sagaId, options.timeoutMs);
  }

  /**
   * The full view if the saga is settled; otherwise undefined, after reading only its record, or
   * (`unsettledToo`) its view without the log.
   */
  async #waitedView(sagaId: string, unsettledToo: boolean): Promise<SagaView | undefined> {
    // The record's fields only while it is unsettled: the snapshot is checked once it is shown.
    const read = await this.#loadSettled(sagaId).catch((error: unknown) => this.#sagas.quarantine(sagaId, error));
    if (!read) throw new SagaNotFoundError(sagaId);
    const { record, history } = read;
    if (!history && !unsettledToo) return undefined;
    try {
      checkSagaSnapshot(record);
    } catch (error) {
      return this.#sagas.quarantine(sagaId, error);
    }
    return this.#view(record, history ?? []);
  }

  /** The record, with its log when it is settled: one read on stores that can (`loadSettled`). */
  #loadSettled(sagaId: string): Promise<SettledRead | undefined> {
    return this.#store.loadSettled ? this.#store.loadSettled(sagaId) : loadThenHistory(this.#store, sagaId);
  }

  /**
   * Delivers a signal to a saga parked at the wait `name`: the payload is checked against the wait's
   * schema (a bad one is `SIGNAL_INVALID` naming the field, and nothing changes), then applied
   * through the one event path. The saga goes on with the payload in `ctx.results[name]`, or rolls
   * back when the wait's `reject` says so. A signal for a wait the saga is not parked at is refused
   * with `SIGNAL_NOT_AWAITED` (signals are not buffered): send it once the saga waits (`get` shows
   * the wait's step as `waiting`). A repeat of an applied signal with the same `signalId` succeeds
   * with `duplicate: true`. Decided against the saved state: of a signal and the wait's deadline,
   * exactly one takes effect.
   */
  async signal(sagaId: string, name: string, payload: unknown, options: SignalOptions = {}): Promise<SignalResult> {
    this.#assertOpen();
    return deliverSignal(this.#sagas, sagaId, name, payload, options);
  }

  /**
   * Runs tool `step.tool` of a dynamic saga (see `defineDynamicSaga`) as its next step, and resolves
   * with the step's outcome once it has one, so the agent can decide what comes next. The arguments
   * are checked by the tool's schema first (`INPUT_INVALID` naming the field, nothing stored); the
   * step is saved with its tool (so its compensation is known) before its job is dispatched. Refused
   * with `INVALID_STATE` when the saga is not waiting for its next step (one still runs, it is
   * settled or rolling back), or when the tool's kind breaks the order rule (a compensable tool
   * after the pivot). A failed step resolves too (`status: 'failed'`, its `error`), once the saga has
   * rolled back or escalated. Rejects with `WAIT_TIMEOUT` after `timeoutMs`, if given (the step goes on).
   */
  async appendStep(sagaId: string, step: AppendStep, options: { timeoutMs?: number } = {}): Promise<AppendedStep> {
    this.#assertOpen();
    return appendStepAndWait(this.#sagas, this.#waiters, sagaId, step, options.timeoutMs);
  }

  /**
   * Ends a dynamic saga `Completed`: its agent is done. Refused with `INVALID_STATE` unless the saga
   * waits for its next step (none is running, it is not settled, no cancel or rollback is under way).
   */
  async complete(sagaId: string): Promise<void> {
    this.#assertOpen();
    await completeDynamicSaga(this.#sagas, sagaId);
  }

  /**
   * Cancels a saga: in `Started` it fails at once; in `Pending` the step in flight finishes first,
   * then every completed step is compensated and the saga ends `Failed` with reason `cancelled`.
   * Once the pivot step has started, the saga can only go forward: cancel is refused with
   * `INVALID_STATE`. An Escalated saga whose step ended in doubt at or before the pivot can be
   * cancelled too (a person found it did not happen): it rolls back.
   * Cancelling a saga already cancelled or compensating changes nothing and succeeds; a settled one
   * is refused with `INVALID_STATE`. Decided against the saved state: a cancel that loses a race
   * with the last step's completion throws rather than reporting a cancel that did not happen.
   */
  async cancel(sagaId: string): Promise<void> {
    this.#assertOpen();
    const result = await this.#sagas.send(sagaId, { type: SagaEvents.cancel });
    if (result.applied) return;
    const rollingBack =
      result.state === SagaStates.Compensating ||
      (result.state === SagaStates.Pending && result.before.cancelRequested);
    if (result.state === SagaStates.Pending && !rollingBack) {
      throw new InvalidStateError(
        `saga "${sagaId}" has reached its pivot step, after which it can only go forward: it cannot be cancelled`,
      );
    }
    if (!rollingBack) {
      throw new InvalidStateError(
        `saga "${sagaId}" is ${result.state}; only Started or Pending sagas can be cancelled`,
      );
    }
  }

  /**
   * Retries what an escalation stopped at: the compensations left, from the one that ran out of
   * retries; or, for a forward failure after the pivot, that step's run and the steps after it. Throws
   * `INVALID_STATE` unless the saga is Escalated when the command is applied.
   */
  async resume(sagaId: string): Promise<void> {
    await this.#escalatedCommand(sagaId, { type: SagaEvents.resume }, 'resumed');
  }

  /**
   * Records that a person fixed an escalation by hand, the note kept: a stuck rollback ends `Failed`,
   * a forward failure after the pivot ends `Completed` (the person finished the saga).
   * Throws `INVALID_STATE` unless the saga is Escalated when the command is applied (so of a
   * `resume` and a `resolve` racing, exactly one takes effect and the other says so).
   */
  async resolve(sagaId: string, note = ''): Promise<void> {
    if (typeof note !== 'string' || note.length > 10_000) {
      throw new InputError('resolve note must be a string of at most 10 000 characters', 'note');
    }
    await this.#escalatedCommand(sagaId, { type: SagaEvents.resolve, note }, 'resolved');
  }

  /**
   * Re-attaches every unsettled saga in the store to its work: `Started` ones are started,
   * `Pending`/`Compensating` ones are hydrated, which re-dispatches their current step job (the
   * queue dedupes it, or redelivers an outcome that was never applied). Finished steps never run
   * again. Returns how many sagas were re-attached. Reports its progress on `recovering` every
   * `RECOVERY_REPORT_EVERY` sagas and once at the end (`done: true`): see recoverSagas.
   */
  async recover(): Promise<number> {
    this.#assertOpen();
    return recoverSagas({
      list: (query) => this.list(query),
      knows: (record) => this.#sagas.registry.get(record.name, record.version) !== undefined,
      start: (sagaId) => this.#sagas.send(sagaId, { type: SagaEvents.start }).then(() => undefined),
      reattach: (sagaId) => this.#sagas.reattach(sagaId),
      events: this.#events,
    });
  }

  /** Subscribes to transitions, escalations and background errors; returns the unsubscribe function. */
  on<K extends keyof EngineEventMap>(event: K, listener: (...args: EngineEventMap[K]) => void): () => void {
    return this.#events.on(event, listener);
  }

  /** Reports a background failure on the `error` event (used by the factory's background recovery). */
  reportError(error: unknown): void {
    this.#events.emit('error', error);
  }

  /** Stops taking work, lets in-flight transitions finish, and releases what the engine owns. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stuck?.stop();
    await this.#sagas.close();
    this.#detach?.();
    await this.#waiters.close();
    await this.#onClose?.();
    if (this.#ownsQueue) await this.#queue.close();
    if (this.#ownsStore) await this.#store.close();
  }

  async #escalatedCommand(sagaId: string, event: SagaEvent, verb: string): Promise<void> {
    this.#assertOpen();
    const result = await this.#sagas.send(sagaId, event);
    if (!result.applied) {
      throw new InvalidStateError(`saga "${sagaId}" is ${result.state}; only an Escalated saga can be ${verb}`);
    }
    const escalation = result.before.escalation;
    if (escalation) {
      // The failed job was kept as a dead letter until a person acted.
      const direction = escalation.direction ?? 'compensate';
      const round = jobRound(result.before, escalation.step, direction);
      await this.#queue.ack(stepJobId(sagaId, escalation.step, direction, round));
    }
  }

  async #applyOutcome(outcome: StepOutcome): Promise<void> {
    if (this.#closed) return;
    // The failed job that escalated a saga is kept as a dead letter until a person resumes or resolves it.
    if ((await this.applyStepOutcome(outcome)) !== 'escalated') await this.#queue.ack(outcome.jobId);
  }

  /**
   * Applies a step job's outcome to its saga through the one event path, without acknowledging
   * the job (see SagaHosts.applyStepOutcome); `finish`, the job's own completion, runs last in the
   * save's script when nothing is left to do after the save.
   *
   * @internal used by createWorker; not part of the Engine API.
   */
  applyStepOutcome(outcome: StepOutcome, finish?: ScriptCall): Promise<StepOutcomeApplied> {
    return this.#sagas.applyStepOutcome(outcome, finish);
  }

  /**
   * Whether the saga still waits for this step job (see SagaHosts.awaitsJob).
   *
   * @internal used by createWorker; not part of the Engine API.
   */
  awaitsJob(job: { sagaId: string; step: string; direction: string; round: number }): Promise<boolean> {
    return this.#sagas.awaitsJob(job);
  }

  /** Reports a new saga to the instrumentation; returns the trace context it wrote, if any. */
  #sagaStarted(sagaId: string, definition: AnySagaDefinition, at: number): TraceCarrier | undefined {
    if (!this.#instrumentation?.sagaStarted) return undefined;
    const carrier: TraceCarrier = {};
    const saga = { sagaId, name: definition.name, version: definition.version, at };
    this.#instrumentation.sagaStarted(saga, carrier);
    return Object.keys(carrier).length > 0 ? carrier : undefined;
  }

  #stuckDetector(options: { checkIntervalMs: number; afterMs: number }): StuckDetector {
    return new StuckDetector({
      list: (query) => this.list(query),
      thresholdOf: (name, version) =>
        this.#sagas.registry.get(name, version)?.definition.stuckAfterMs ?? options.afterMs,
      now: () => this.#clock.now(),
      intervalMs: options.checkIntervalMs,
      onStuck: (saga) => this.#events.emit('stuck', saga),
      onReport: (report) => this.#instrumentation?.stuckChecked?.(report),
      onError: (error) => this.#events.emit('error', error),
    });
  }

  #register(definition: AnySagaDefinition): RegisteredSaga {
    if (!isSagaDefinition(definition)) {
      throw new DefinitionError(
        `saga "${String((definition as { name?: unknown })?.name)}" was not created by defineSaga(); pass defineSaga({ ... }) so it is validated`,
        '',
      );
    }
    if (this.#handlers) checkHandlers(definition, this.#handlers);
    return this.#sagas.registry.register(definition);
  }

  #view(record: SagaRecord, history: TransitionEntry[]): SagaView {
    return toSagaView(record, history, this.#sagas.registry.get(record.name, record.version)?.definition);
  }

  #assertOpen(): void {
    if (this.#closed) throw new EngineClosedError();
  }
}
