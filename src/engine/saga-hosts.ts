import type { Clock } from '../clock.ts';
import { ConflictError, RecordCorruptError, SagaError, SagaNotFoundError } from '../errors.ts';
import { inFlight, parkedAt } from '../machines/build-saga-machine.ts';
import type { StepJobRequest } from '../machines/context.ts';
import type { EngineEventEmitter } from '../observability/engine-events.ts';
import { type Instrumentation, isTraceCarrier, type TraceCarrier } from '../observability/instrumentation.ts';
import type { SagaInspection } from '../observability/saga-inspection.ts';
import type { SagaRecord, SagaStore, TransitionEntry } from '../persistence/saga-store.ts';
import { toErrorInfo } from '../transport/error-info.ts';
import { parseWaitTimerId } from '../transport/job-id.ts';
import type { StepJob, StepOutcome, StepQueue } from '../transport/step-queue.ts';
import type { SagaEvent } from '../vocabulary/events.ts';
import type { ScriptCall } from '../vocabulary/script-call.ts';
import { FINAL_STATES, type SagaState, SagaStates, topLevelState } from '../vocabulary/states.ts';
import { announceTransition } from './announce-transition.ts';
import { DefinitionRegistry } from './definition-registry.ts';
import { deliverTimer, type TimerTarget } from './deliver-timer.ts';
import { HostCache } from './host-cache.ts';
import { KeyedLock } from './keyed-lock.ts';
import { restoreHost } from './restore-host.ts';
import type { Applied, EventOf, Host, Hydrated, SagaHostsParts, StepOutcomeApplied } from './saga-hosts-types.ts';
import { checkSagaSnapshot } from './snapshot-schema.ts';
import { jobsOfState } from './state-jobs.ts';
import { TimerSweeper } from './timer-sweeper.ts';
import { type EffectsContext, stepJobs, type TransitionEffects, transitionEffects } from './transition-effects.ts';
import { transitionEntry } from './transition-entry.ts';
import { jobAddCalls, saveScriptCalls, transitionUpdate } from './transition-save.ts';

// Its callers import the types of the event path and of its parts from here.
export type { Applied, EventOf, Host, SagaHostsParts, StepOutcomeApplied } from './saga-hosts-types.ts';

const CONFLICT_RETRIES = 5;

/**
 * The one event path, and the sagas it keeps hydrated. Sagas are virtual actors: hydrated from the
 * store when an event arrives, evicted when idle (least recently used beyond `maxActiveSagas`, at
 * once when settled or parked at a wait). Every event (a step outcome, a command, a signal, a
 * timer) goes through {@link SagaHosts.send}: load, transition, compare-and-set save with its log
 * entry and timer, and only then dispatch of the step jobs the transition asked for. Events of one
 * saga are serialised, so each is decided against the state it acts on.
 */
export class SagaHosts {
  readonly #store: SagaStore;
  readonly #queue: StepQueue;
  readonly #clock: Clock;
  readonly #inspection: SagaInspection | undefined;
  readonly #events: EngineEventEmitter;
  readonly #instrumentation: Instrumentation | undefined;
  readonly #onSettle: (sagaId: string) => void;
  readonly #dispatchWithSave: boolean;
  readonly #hosts: HostCache;
  readonly #lock = new KeyedLock();
  readonly #sweeper: TimerSweeper;
  /** The definitions sagas are hydrated with. */
  readonly registry: DefinitionRegistry;

  constructor(parts: SagaHostsParts) {
    this.#store = parts.store;
    this.#queue = parts.queue;
    this.#clock = parts.clock;
    this.#hosts = new HostCache(parts.maxActiveSagas);
    this.#inspection = parts.inspection;
    this.#events = parts.events;
    this.#instrumentation = parts.instrumentation;
    this.#onSettle = parts.onSettle;
    this.#dispatchWithSave = parts.dispatchWithSave === true;
    this.registry = new DefinitionRegistry();
    const timers: TimerTarget = {
      store: this.#store,
      queue: this.#queue,
      clock: this.#clock,
      send: (sagaId, event) => this.send(sagaId, event),
      applyStepOutcome: (outcome) => this.applyStepOutcome(outcome),
      awaitsJob: (job) => this.awaitsJob(job),
      reattachFresh: (sagaId) => this.#lock.run(sagaId, () => this.#reattach(sagaId, true)),
    };
    this.#sweeper = new TimerSweeper(
      this.#store,
      this.#clock,
      (id, leaseEnd) => deliverTimer(timers, id, leaseEnd),
      (error) => this.#events.emit('error', error),
    );
  }

  /**
   * Applies a step job's outcome to its saga through the one event path (load, transition,
   * compare-and-set save, dispatch of the next job), without acknowledging the job: what a worker
   * does with the outcome of the step it just ran, before or while it completes its own BullMQ
   * job, so a step costs one job and no outcome hop. `gone`: the saga no longer exists or was
   * quarantined, so there is nothing to apply it to; `stale`: the saga had already moved past it.
   * `finish` (the job's own completion, see interceptCompletions) runs in the save's script when
   * the save leaves nothing to do after it; whoever gave it learns from its `onReply` whether it ran.
   */
  async applyStepOutcome(outcome: StepOutcome, finish?: ScriptCall): Promise<StepOutcomeApplied> {
    try {
      const result = await this.send(
        outcome.sagaId,
        outcome.event,
        isTraceCarrier(outcome.trace) ? outcome.trace : undefined,
        finish,
      );
      if (!result.applied) return 'stale';
      return result.state === SagaStates.Escalated ? 'escalated' : 'applied';
    } catch (error) {
      if (error instanceof SagaNotFoundError || error instanceof RecordCorruptError) return 'gone';
      throw error;
    }
  }

  /** Sweeps the store's timer set every `everyMs` (see TimerSweeper). */
  sweepTimers(everyMs: number): void {
    this.#sweeper.start(everyMs);
  }

  /**
   * Hosts a saga just created in this process (`host()` makes it, its actor started), rather than
   * reading back what was just written; nothing is made when the saga is hosted already.
   */
  adopt(sagaId: string, host: () => Host): void {
    if (this.#hosts.has(sagaId)) return;
    this.#hosts.add(sagaId, host());
  }

  /** Hydrates a saga (recovery) and re-attaches it to the job of the state it is in. */
  reattach(sagaId: string): Promise<void> {
    return this.#lock.run(sagaId, () => this.#reattach(sagaId));
  }

  /** Stops sweeping, lets in-flight events finish, and stops every hosted actor. */
  async close(): Promise<void> {
    // Timers being delivered finish first: their deadlines read the queue and the store.
    await this.#sweeper.stop();
    await this.#lock.drain();
    this.#hosts.clear();
  }

  /**
   * Whether the saga still waits for this step job (its current state is the job's step, direction
   * and round). A worker asks before it runs a job again after a crash: if the saga moved on, the
   * outcome was applied before the crash and the step must not run a second time.
   *
   * @internal used by createWorker; not part of the Engine API.
   */
  async awaitsJob(job: { sagaId: string; step: string; direction: string; round: number }): Promise<boolean> {
    return this.#lock.run(job.sagaId, async () => {
      try {
        // From the store, not this process's cached copy: a copy that lags behind would call the
        // job the saga now waits for "moved past", and the job would complete without running.
        this.evict(job.sagaId);
        const { host } = await this.#hydrate(job.sagaId);
        const { context } = host.actor.getSnapshot();
        if (
          inFlight(context).some((r) => r.step === job.step && r.direction === job.direction && r.round === job.round)
        ) {
          return true;
        }
        // Moved on. The process that applied this job's outcome may have died between its save and
        // the enqueue of the next job: re-attach the saga to the job of the state it is in now.
        this.evict(job.sagaId);
        await this.#reattach(job.sagaId);
        return false;
      } catch (error) {
        if (error instanceof SagaNotFoundError || error instanceof RecordCorruptError) return false;
        throw error;
      }
    });
  }

  /** Loads a saga; one whose record is unusable is quarantined (once) and its error rethrown. */
  async load(sagaId: string): Promise<SagaRecord | undefined> {
    try {
      const record = await this.#store.load(sagaId);
      if (record) checkSagaSnapshot(record);
      return record;
    } catch (error) {
      return this.quarantine(sagaId, error);
    }
  }

  /**
   * Applies one event to a saga: persist first, dispatch second. Serialised per saga, so whether
   * the event applies is decided against the state it acts on; a refused event changes nothing.
   */
  send(sagaId: string, event: EventOf, trace?: TraceCarrier, finish?: ScriptCall): Promise<Applied> {
    return this.#lock.run(sagaId, async () => {
      this.#hosts.busy(sagaId);
      try {
        return await this.#apply(sagaId, event, trace, finish);
      } finally {
        this.#hosts.idle(sagaId);
      }
    });
  }

  async #apply(sagaId: string, eventOf: EventOf, trace?: TraceCarrier, finish?: ScriptCall): Promise<Applied> {
    for (let attempt = 0; ; attempt++) {
      const { host, restored } = await this.#hydrate(sagaId);
      const { definition } = host.saga;
      let event: SagaEvent;
      try {
        event = typeof eventOf === 'function' ? eventOf(host.saga) : eventOf;
      } catch (error) {
        // Refused before anything changed; a saga just restored still gets its job re-attached.
        if (restored) await this.#dispatch(host, restored, true);
        throw error;
      }
      if (trace) host.trace = trace;
      const before = host.actor.getSnapshot();
      if (!before.can(event)) {
        // Another engine may have moved the saga since this one cached it: look again before
        // calling the event stale, or an outcome meant for the newer state would be dropped.
        if (!restored && attempt === 0 && (await this.load(sagaId))?.revision !== host.revision) {
          this.evict(sagaId);
          continue;
        }
        // Nothing to apply; but a saga just restored here may be one whose job was never
        // enqueued (the enqueue after its save failed): re-attach so it gets going again.
        if (restored) await this.#dispatch(host, restored, true);
        return { applied: false, state: topLevelState(before.value), before: before.context, definition, event };
      }
      host.actor.send(event);
      const after = host.actor.getSnapshot();
      const state = topLevelState(after.value);
      const entry = transitionEntry(sagaId, this.#clock.now(), before.value, after.value, event);
      // Read from the two states: the timer and the announcement go into the save, the jobs into
      // the save's script (or to the queue after it).
      const effects = transitionEffects(this.#effectsContext(host, entry.at), before, after);
      const { jobs, timer, stayed } = effects;
      // Added by the save's own script when the queue can say how: persisted and dispatched at once.
      const addCalls = jobAddCalls(this.#queue, this.#dispatchWithSave, jobs);
      const reattaches = restored !== undefined && stayed;
      const scriptCalls = saveScriptCalls(addCalls, jobs, finish, this.#dispatchWithSave, reattaches);
      try {
        host.revision = await this.#store.save(
          transitionUpdate(entry, host.revision, state, after, effects, scriptCalls),
          entry,
        );
      } catch (error) {
        // The in-memory actor is ahead of the store now; drop it and start from what is stored.
        // Each retry re-reads the record and dispatches nothing until a save succeeds, so a
        // conflict can never multiply jobs.
        this.evict(sagaId);
        if (error instanceof ConflictError && attempt < CONFLICT_RETRIES) continue;
        if (error instanceof RecordCorruptError) await this.quarantine(sagaId, error);
        throw error;
      }
      this.#announce(host, entry, state, effects);
      // A deadline is in the timer set, with one local wake-up per process for the earliest.
      if (timer && parseWaitTimerId(timer.id)) this.#sweeper.wakeAt(timer.dueAt);
      if (parkedAt(after.context) !== undefined) {
        // Parked at a wait, maybe for days: it holds nothing in this process (no actor, no job).
        this.evict(sagaId);
        return { applied: true, state, before: before.context, definition, event };
      }
      // A transition that stayed in the same state (cancel while a step runs) keeps that step's
      // job: a saga restored for this event re-attaches to it, as if it had been hosted all along.
      if (restored && stayed) await this.#dispatch(host, restored, true);
      if (!addCalls) await this.#enqueue(host, jobs);
      return { applied: true, state, before: before.context, definition, event };
    }
  }

  /** What reading a transition's effects needs, for this saga now. */
  #effectsContext(host: Host, now: number): EffectsContext {
    const { definition, machine } = host.saga;
    return {
      definition,
      machine,
      queue: this.#queue,
      trace: host.trace,
      now,
      onError: (error) => this.#events.emit('error', error),
    };
  }

  /** Re-attaches a saga to the job of the state it is in (inside its lock). */
  async #reattach(sagaId: string, fresh = false): Promise<void> {
    if (fresh) this.evict(sagaId);
    const { host, restored } = await this.#hydrate(sagaId);
    if (restored) await this.#dispatch(host, restored, true);
    // A saga parked at a wait has nothing to re-attach to (its deadline is in the timer set): it is
    // not kept hydrated, so recovering many parked sagas costs no memory.
    if (parkedAt(host.actor.getSnapshot().context) !== undefined) this.evict(sagaId);
  }

  /**
   * The hosted actor of a saga, restoring it from the store when it is not hosted. A restore
   * restarts the invoked step job of the current state, whose request is returned for the caller
   * to dispatch (or not: an event that moves the saga on makes it moot).
   */
  async #hydrate(sagaId: string): Promise<Hydrated> {
    const cached = this.#hosts.use(sagaId);
    if (cached) return { host: cached };
    const record = await this.load(sagaId);
    if (!record) throw new SagaNotFoundError(sagaId);
    const host = restoreHost(sagaId, record, this.registry, this.#inspection);
    if (host instanceof SagaError) return this.quarantine(sagaId, host);
    this.#hosts.add(sagaId, host);
    const { value, context } = host.actor.getSnapshot();
    return { host, restored: jobsOfState(host.saga.machine, value, context) };
  }

  /**
   * Moves a saga whose stored data cannot be used aside, so it stops failing every event and
   * recovery pass, with the reason in its log; announces it and throws the reason.
   */
  async quarantine(sagaId: string, error: unknown): Promise<never> {
    if (!(error instanceof SagaError && error.code === 'RECORD_CORRUPT')) throw error;
    this.evict(sagaId);
    const at = this.#clock.now();
    const moved = await this.#store.quarantine(sagaId, {
      sagaId,
      at,
      from: '',
      to: 'Quarantined',
      event: 'saga.quarantined',
      error: toErrorInfo(error),
    });
    // Announced by the one caller that moved it: a saga is quarantined once.
    if (moved) this.#events.emit('quarantined', { sagaId, error });
    throw error;
  }

  async #dispatch(host: Host, requests: StepJobRequest[], reattach = false): Promise<void> {
    const jobs = stepJobs(
      { definition: host.saga.definition, trace: host.trace },
      host.actor.getSnapshot().context,
      requests,
    );
    await this.#enqueue(host, jobs, reattach);
  }

  async #enqueue(host: Host, jobs: StepJob[], reattach = false): Promise<void> {
    try {
      for (const job of jobs) await this.#queue.enqueue(job, { reattach });
    } catch (error) {
      // Saved but not dispatched: drop the hosted actor, so that the next event or command on this
      // saga restores it and re-attaches to (that is, enqueues) the job it is waiting for.
      this.evict(host.actor.getSnapshot().context.sagaId);
      throw error;
    }
  }

  #announce(host: Host, entry: TransitionEntry, state: SagaState, effects: TransitionEffects): void {
    announceTransition(this.#events, this.#instrumentation, host, entry, state);
    if (FINAL_STATES.includes(state)) this.evict(entry.sagaId);
    // The store announces it too; reads of one saga are merged, so that costs no second read.
    if (effects.settled || effects.parked) this.#onSettle(entry.sagaId);
  }

  evict(sagaId: string): void {
    this.#hosts.evict(sagaId);
  }
}
