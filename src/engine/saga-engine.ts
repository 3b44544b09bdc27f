import { randomUUID } from 'node:crypto';
import { type Actor, createActor, type InspectionEvent } from 'xstate';
import type { Clock } from '../clock.ts';
import { isSagaDefinition } from '../definition/define-saga.ts';
import { describeIssues, issuePath } from '../definition/issue-path.ts';
import type { AnySagaDefinition, SagaDefinition } from '../definition/types.ts';
import {
  ConflictError,
  DefinitionError,
  EngineClosedError,
  InputError,
  InvalidStateError,
  SagaError,
  SagaNotFoundError,
} from '../errors.ts';
import type { SagaMachine } from '../machines/build-saga-machine.ts';
import type { SagaContext, StepJobRequest } from '../machines/context.ts';
import { type SagaEvent, SagaEvents } from '../machines/events.ts';
import { FINAL_STATES, type SagaState, SagaStates, SETTLED_STATES, topLevelState } from '../machines/states.ts';
import { EngineEventEmitter, type EngineEventMap } from '../observability/engine-events.ts';
import type { SagaPage, SagaQuery, SagaRecord, SagaStore, TransitionEntry } from '../persistence/saga-store.ts';
import { toErrorInfo } from '../transport/error-info.ts';
import { stepJobId } from '../transport/job-id.ts';
import type { StepOutcome, StepQueue } from '../transport/step-queue.ts';
import { buildStepJob } from './build-step-job.ts';
import { checkHandlers } from './check-handlers.ts';
import { DefinitionRegistry, type RegisteredSaga } from './definition-registry.ts';
import type { HandlerRegistry } from './handlers.ts';
import { KeyedLock } from './keyed-lock.ts';
import { restoreActor } from './restore-actor.ts';
import { type SagaView, toSagaView } from './saga-view.ts';
import { SettleWaiters } from './settle-waiters.ts';
import { transitionEntry } from './transition-entry.ts';

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
  /** Passed to every saga actor: hook up the Stately inspector here. */
  inspect: ((event: InspectionEvent) => void) | undefined;
  /** Whether `close()` also closes the store / the queue (true for those the engine created). */
  ownsStore: boolean;
  ownsQueue: boolean;
  /** Extra cleanup on close, before the queue and store close (e.g. a co-hosted worker). */
  onClose?: () => Promise<void>;
}

/** Options of `engine.start`. */
export interface StartOptions {
  /** Choose the saga id (letters, digits, `_`, `-`, `.`); default a random UUID. */
  sagaId?: string;
  /** Starting twice with the same key (per saga name) returns the first saga. */
  idempotencyKey?: string;
}

/** Result of `engine.start`. */
export interface StartResult {
  sagaId: string;
  /** False when an existing saga was returned (same id or idempotency key). */
  created: boolean;
}

interface Host {
  actor: Actor<SagaMachine>;
  saga: RegisteredSaga;
  revision: number;
}

const SAGA_ID_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;
const CONFLICT_RETRIES = 5;

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
  readonly #registry: DefinitionRegistry;
  readonly #maxActive: number;
  readonly #inspect: ((event: InspectionEvent) => void) | undefined;
  readonly #ownsStore: boolean;
  readonly #ownsQueue: boolean;
  readonly #onClose: (() => Promise<void>) | undefined;
  /** Hydrated actors in least-recently-used order (Map keeps insertion order). */
  readonly #hosts = new Map<string, Host>();
  readonly #lock = new KeyedLock();
  /** Sagas with an event being applied: never evicted mid-event. */
  readonly #busy = new Set<string>();
  /** Step jobs requested by transitions not yet persisted, by saga. */
  readonly #requested = new Map<string, StepJobRequest[]>();
  readonly #waiters: SettleWaiters;
  readonly #events = new EngineEventEmitter();
  #closed = false;

  constructor(parts: SagaEngineParts) {
    this.#store = parts.store;
    this.#queue = parts.queue;
    this.#clock = parts.clock;
    this.#handlers = parts.handlers;
    this.#maxActive = parts.maxActiveSagas;
    this.#inspect = parts.inspect;
    this.#ownsStore = parts.ownsStore;
    this.#ownsQueue = parts.ownsQueue;
    this.#onClose = parts.onClose;
    this.#waiters = new SettleWaiters(this.#clock, (sagaId) => this.#settledView(sagaId));
    this.#registry = new DefinitionRegistry((request) => {
      const list = this.#requested.get(request.sagaId);
      if (list) list.push(request);
      else this.#requested.set(request.sagaId, [request]);
    });
    for (const definition of parts.sagas) this.#register(definition);
    this.#queue.consume((outcome) => this.#applyOutcome(outcome));
  }

  /**
   * Validates the input, stores the saga in `Started`, then moves it to `Pending` and dispatches its
   * first step. Bad input or missing handlers throw before anything is stored.
   */
  async start<TInputIn>(
    // biome-ignore lint/suspicious/noExplicitAny: handlers see the output type; start only needs the input type
    definition: SagaDefinition<string, any, string, TInputIn>,
    input: TInputIn,
    options: StartOptions = {},
  ): Promise<StartResult> {
    this.#assertOpen();
    const saga = this.#register(definition);
    const parsed = definition.input.safeParse(input);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      throw new InputError(
        `input of saga "${definition.name}" is invalid: ${describeIssues(parsed.error.issues, 'input')}`,
        first ? issuePath(first) : '',
        { cause: parsed.error },
      );
    }
    const sagaId = options.sagaId ?? randomUUID();
    if (!SAGA_ID_PATTERN.test(sagaId)) {
      throw new InputError(
        `sagaId "${sagaId}" is invalid: use 1-128 letters, digits, "_", "-" or "." (it becomes part of job ids and keys)`,
        'sagaId',
      );
    }
    if (
      options.idempotencyKey !== undefined &&
      (options.idempotencyKey === '' || options.idempotencyKey.length > 256)
    ) {
      throw new InputError('idempotencyKey must be a non-empty string of at most 256 characters', 'idempotencyKey');
    }
    // Not started yet: its first snapshot is what gets stored; it is started only if hosted below.
    const actor = createActor(saga.machine, {
      input: { sagaId, input: parsed.data },
      ...(this.#inspect ? { inspect: this.#inspect } : {}),
    });
    const snapshot = actor.getPersistedSnapshot();
    const now = this.#clock.now();
    const record: SagaRecord = {
      sagaId,
      name: definition.name,
      version: definition.version,
      state: SagaStates.Started,
      snapshot,
      revision: 1,
      ...(options.idempotencyKey !== undefined ? { idempotencyKey: options.idempotencyKey } : {}),
      createdAt: now,
      updatedAt: now,
    };
    const created = await this.#store.create(record, {
      sagaId,
      at: now,
      from: '',
      to: SagaStates.Started,
      event: 'saga.created',
    });
    if (created.record.name !== definition.name) {
      throw new SagaError(
        'SAGA_EXISTS',
        `saga id "${created.record.sagaId}" is already used by a "${created.record.name}" saga; choose another sagaId`,
      );
    }
    if (created.created && !this.#hosts.has(sagaId)) {
      // Host the new saga at once rather than reading back what was just written; if another
      // engine got to it first, the compare-and-set below fails and the saga is reloaded.
      this.#hosts.set(sagaId, { actor: actor.start(), saga, revision: 1 });
      this.#trim();
    }
    // Also on a repeated start: a saga whose creator died before this line still gets going.
    await this.#send(created.record.sagaId, { type: SagaEvents.start });
    return { sagaId: created.record.sagaId, created: created.created };
  }

  /** The saga with its steps and log. Throws SagaNotFoundError for an unknown id. */
  async get(sagaId: string): Promise<SagaView> {
    const record = await this.#store.load(sagaId);
    if (!record) throw new SagaNotFoundError(sagaId);
    return this.#view(record, await this.#store.history(sagaId));
  }

  /** Sagas by state and/or name, a page at a time (views without history). */
  async list(query: SagaQuery = {}): Promise<{ items: SagaView[]; cursor?: string }> {
    const page: SagaPage = await this.#store.list(query);
    return { ...page, items: page.items.map((record) => this.#view(record, [])) };
  }

  /**
   * Resolves when the saga is settled: `Completed`, `Failed`, or `Escalated` (a person must act).
   * Rejects after `timeoutMs` if given.
   */
  async waitFor(sagaId: string, options: { timeoutMs?: number } = {}): Promise<SagaView> {
    return this.#waiters.wait(sagaId, options.timeoutMs);
  }

  /** The full view if the saga is settled; otherwise undefined, after reading only its record. */
  async #settledView(sagaId: string): Promise<SagaView | undefined> {
    const record = await this.#store.load(sagaId);
    if (!record) throw new SagaNotFoundError(sagaId);
    if (!SETTLED_STATES.includes(record.state)) return undefined;
    return this.#view(record, await this.#store.history(sagaId));
  }

  /**
   * Cancels a saga: in `Started` it fails at once; in `Pending` the step in flight finishes first,
   * then every completed step is compensated and the saga ends `Failed` with reason `cancelled`.
   * Cancelling a saga already compensating does nothing; a settled one is refused.
   */
  async cancel(sagaId: string): Promise<void> {
    const state = await this.#stateOf(sagaId);
    if (state === SagaStates.Compensating) return;
    if (state !== SagaStates.Started && state !== SagaStates.Pending) {
      throw new InvalidStateError(`saga "${sagaId}" is ${state}; only Started or Pending sagas can be cancelled`);
    }
    await this.#send(sagaId, { type: SagaEvents.cancel });
  }

  /** Retries the compensations left by an escalation, from the one that ran out of retries. */
  async resume(sagaId: string): Promise<void> {
    await this.#escalatedCommand(sagaId, { type: SagaEvents.resume }, 'resumed');
  }

  /** Records that a person fixed an escalation by hand: the saga ends `Failed`, the note kept. */
  async resolve(sagaId: string, note = ''): Promise<void> {
    await this.#escalatedCommand(sagaId, { type: SagaEvents.resolve, note }, 'resolved');
  }

  /**
   * Re-attaches every unsettled saga in the store to its work: `Started` ones are started,
   * `Pending`/`Compensating` ones are hydrated, which re-dispatches their current step job (the
   * queue dedupes it, or redelivers an outcome that was never applied). Finished steps never run
   * again. Returns how many sagas were re-attached.
   */
  async recover(): Promise<number> {
    this.#assertOpen();
    const seen = new Set<string>();
    for (const state of [SagaStates.Started, SagaStates.Pending, SagaStates.Compensating]) {
      let cursor: string | undefined;
      do {
        const page = await this.#store.list({ state, limit: 500, ...(cursor ? { cursor } : {}) });
        for (const record of page.items) {
          // A saga started above shows up again among the Pending ones: re-attach it once.
          if (seen.has(record.sagaId) || !this.#registry.get(record.name, record.version)) continue;
          seen.add(record.sagaId);
          try {
            if (state === SagaStates.Started) await this.#send(record.sagaId, { type: SagaEvents.start });
            else await this.#lock.run(record.sagaId, () => this.#hydrate(record.sagaId));
          } catch (error) {
            // One bad saga (quarantined, or a store hiccup) must not stop the others' recovery.
            seen.delete(record.sagaId);
            this.#events.emit('error', error);
          }
        }
        cursor = page.cursor;
      } while (cursor);
    }
    return seen.size;
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
    await this.#lock.drain();
    for (const host of this.#hosts.values()) host.actor.stop();
    this.#hosts.clear();
    await this.#onClose?.();
    if (this.#ownsQueue) await this.#queue.close();
    if (this.#ownsStore) await this.#store.close();
  }

  async #escalatedCommand(sagaId: string, event: SagaEvent, verb: string): Promise<void> {
    const record = await this.#store.load(sagaId);
    if (!record) throw new SagaNotFoundError(sagaId);
    if (record.state !== SagaStates.Escalated) {
      throw new InvalidStateError(`saga "${sagaId}" is ${record.state}; only an Escalated saga can be ${verb}`);
    }
    const escalation = (record.snapshot as { context: SagaContext }).context.escalation;
    await this.#send(sagaId, event);
    if (escalation) {
      // The failed compensation job was kept as a dead letter until a person acted.
      const round = (record.snapshot as { context: SagaContext }).context.rounds[escalation.step] ?? 0;
      await this.#queue.ack(stepJobId(sagaId, escalation.step, 'compensate', round));
    }
  }

  async #applyOutcome(outcome: StepOutcome): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#send(outcome.sagaId, outcome.event);
    } catch (error) {
      // A saga that no longer exists (expired, deleted) or was quarantined has nothing to apply the
      // outcome to; the outcome is acked so it does not come back.
      const gone =
        error instanceof SagaNotFoundError || (error instanceof SagaError && error.code === 'SNAPSHOT_CORRUPT');
      if (!gone) throw error;
    }
    const deadLetter = outcome.event.type === SagaEvents.stepFailed && outcome.event.direction === 'compensate';
    if (!deadLetter) await this.#queue.ack(outcome.jobId);
  }

  async #stateOf(sagaId: string): Promise<SagaState> {
    const record = await this.#store.load(sagaId);
    if (!record) throw new SagaNotFoundError(sagaId);
    return record.state;
  }

  /**
   * Applies one event to a saga: persist first, dispatch second. Returns false when the event does
   * not apply to the saga's current state (a duplicate or stale outcome), which changes nothing.
   */
  #send(sagaId: string, event: SagaEvent): Promise<boolean> {
    return this.#lock.run(sagaId, async () => {
      this.#busy.add(sagaId);
      try {
        return await this.#apply(sagaId, event);
      } finally {
        this.#busy.delete(sagaId);
      }
    });
  }

  async #apply(sagaId: string, event: SagaEvent): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      const host = await this.#hydrate(sagaId);
      const before = host.actor.getSnapshot();
      if (!before.can(event)) {
        // Another engine may have moved the saga since this one cached it: look again before
        // calling the event stale, or an outcome meant for the newer state would be dropped.
        if (attempt === 0 && (await this.#store.load(sagaId))?.revision !== host.revision) {
          this.#evict(sagaId);
          continue;
        }
        return false;
      }
      host.actor.send(event);
      const after = host.actor.getSnapshot();
      const requests = this.#take(sagaId);
      const state = topLevelState(after.value);
      const entry = transitionEntry(sagaId, this.#clock.now(), before.value, after.value, event);
      try {
        host.revision = await this.#store.save(
          {
            sagaId,
            expectedRevision: host.revision,
            state,
            snapshot: host.actor.getPersistedSnapshot(),
            updatedAt: entry.at,
          },
          entry,
        );
      } catch (error) {
        // The in-memory actor is ahead of the store now; drop it and start from what is stored.
        this.#evict(sagaId);
        if (error instanceof ConflictError && attempt < CONFLICT_RETRIES) continue;
        throw error;
      }
      this.#announce(host, entry, state);
      await this.#dispatch(host, requests);
      return true;
    }
  }

  async #hydrate(sagaId: string): Promise<Host> {
    const cached = this.#hosts.get(sagaId);
    if (cached) {
      this.#hosts.delete(sagaId);
      this.#hosts.set(sagaId, cached);
      return cached;
    }
    const record = await this.#store.load(sagaId).catch((error: unknown) => this.#quarantine(sagaId, error));
    if (!record) throw new SagaNotFoundError(sagaId);
    const saga = this.#registry.get(record.name, record.version);
    if (!saga && !this.#registry.knows(record.name)) {
      // Not this engine's saga: another engine may host it, so refuse without touching it (and
      // without acking its outcomes: the code differs from SNAPSHOT_CORRUPT on purpose).
      throw new SagaError(
        'DEFINITION_UNKNOWN',
        `saga "${sagaId}" was started with "${record.name}" version ${record.version}, which this engine does not know; pass it in createEngine({ sagas })`,
      );
    }
    if (!saga) {
      return this.#quarantine(
        sagaId,
        new SagaError(
          'SNAPSHOT_CORRUPT',
          `saga "${sagaId}" was started with "${record.name}" version ${record.version}, which this engine does not know; pass it in createEngine({ sagas })`,
        ),
      );
    }
    const actor = restoreActor(saga.machine, record, this.#inspect);
    // A restore that failed may have asked for a job before it did: drop the request.
    if (!actor) this.#requested.delete(sagaId);
    if (!actor) {
      return this.#quarantine(
        sagaId,
        new SagaError(
          'SNAPSHOT_CORRUPT',
          `the stored snapshot of saga "${sagaId}" is not a snapshot of "${record.name}" version ${record.version}`,
        ),
      );
    }
    const host: Host = { actor, saga, revision: record.revision };
    this.#hosts.set(sagaId, host);
    // Restoring restarted the invoked step job: re-attach to it (the queue dedupes by job id).
    await this.#dispatch(host, this.#take(sagaId), true);
    this.#trim();
    return host;
  }

  /**
   * Moves a saga whose stored data cannot be used aside, so it stops failing every event and
   * recovery pass, with the reason in its log; announces it and throws the reason.
   */
  async #quarantine(sagaId: string, error: unknown): Promise<never> {
    if (!(error instanceof SagaError && error.code === 'SNAPSHOT_CORRUPT')) throw error;
    const at = this.#clock.now();
    await this.#store.quarantine(sagaId, {
      sagaId,
      at,
      from: '',
      to: 'Quarantined',
      event: 'saga.quarantined',
      error: toErrorInfo(error),
    });
    this.#events.emit('quarantined', { sagaId, error });
    throw error;
  }

  #take(sagaId: string): StepJobRequest[] {
    const requests = this.#requested.get(sagaId) ?? [];
    this.#requested.delete(sagaId);
    return requests;
  }

  async #dispatch(host: Host, requests: StepJobRequest[], reattach = false): Promise<void> {
    if (requests.length === 0) return;
    const context = host.actor.getSnapshot().context;
    for (const request of requests) {
      const job = buildStepJob(host.saga.definition, context, request);
      if (job) await this.#queue.enqueue(job, { reattach });
    }
  }

  #announce(host: Host, entry: TransitionEntry, state: SagaState): void {
    this.#events.emit('transition', entry);
    const context = host.actor.getSnapshot().context;
    if (state === SagaStates.Escalated && context.escalation) {
      this.#events.emit('escalated', {
        sagaId: entry.sagaId,
        name: host.saga.definition.name,
        escalation: context.escalation,
      });
    }
    if (FINAL_STATES.includes(state)) this.#evict(entry.sagaId);
    if (SETTLED_STATES.includes(state) && this.#waiters.has(entry.sagaId)) {
      void this.get(entry.sagaId).then(
        (view) => this.#waiters.settle(entry.sagaId, view),
        (error: unknown) => this.#events.emit('error', error),
      );
    }
  }

  #evict(sagaId: string): void {
    const host = this.#hosts.get(sagaId);
    if (!host) return;
    this.#hosts.delete(sagaId);
    host.actor.stop();
    this.#requested.delete(sagaId);
  }

  #trim(): void {
    if (this.#hosts.size <= this.#maxActive) return;
    for (const sagaId of [...this.#hosts.keys()]) {
      if (this.#hosts.size <= this.#maxActive) return;
      if (!this.#busy.has(sagaId)) this.#evict(sagaId);
    }
  }

  #register(definition: AnySagaDefinition): RegisteredSaga {
    if (!isSagaDefinition(definition)) {
      throw new DefinitionError(
        `saga "${String((definition as { name?: unknown })?.name)}" was not created by defineSaga(); pass defineSaga({ ... }) so it is validated`,
        '',
      );
    }
    if (this.#handlers) checkHandlers(definition, this.#handlers);
    return this.#registry.register(definition);
  }

  #view(record: SagaRecord, history: TransitionEntry[]): SagaView {
    return toSagaView(record, history, this.#registry.get(record.name, record.version)?.definition);
  }

  #assertOpen(): void {
    if (this.#closed) throw new EngineClosedError();
  }
}
