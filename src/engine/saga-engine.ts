import { randomUUID } from 'node:crypto';
import { type Actor, createActor } from 'xstate';
import type { Clock } from '../clock.ts';
import { isSagaDefinition } from '../definition/define-saga.ts';
import type { AnySagaDefinition, DynamicDefinition, SagaDefinition } from '../definition/types.ts';
import {
  ConflictError,
  DefinitionError,
  EngineClosedError,
  InputError,
  InvalidStateError,
  RecordCorruptError,
  SagaError,
  SagaNotFoundError,
  SignalError,
  SignalNotAwaitedError,
} from '../errors.ts';
import { inFlight, jobRound, parkedAt, type SagaMachine } from '../machines/build-saga-machine.ts';
import type { SagaContext, StepJobRequest, StepStatus } from '../machines/context.ts';
import { dynamicStepName, waitOf, waitStepOf } from '../machines/step-of.ts';
import { EngineEventEmitter, type EngineEventMap, RECOVERY_REPORT_EVERY } from '../observability/engine-events.ts';
import { type Instrumentation, isTraceCarrier, type TraceCarrier } from '../observability/instrumentation.ts';
import { defaultLogger, type Logger } from '../observability/logger.ts';
import { type InspectOption, SagaInspection } from '../observability/saga-inspection.ts';
import { StuckDetector } from '../observability/stuck-detector.ts';
import type {
  SagaQuery,
  SagaRecord,
  SagaStats,
  SagaStore,
  SagaTimer,
  TransitionEntry,
} from '../persistence/saga-store.ts';
import { toErrorInfo } from '../transport/error-info.ts';
import { parseStepJobId, parseWaitTimerId, stepJobId } from '../transport/job-id.ts';
import type { StepJob, StepOutcome, StepQueue } from '../transport/step-queue.ts';
import { type ErrorInfo, type SagaEvent, SagaEvents } from '../vocabulary/events.ts';
import { FINAL_STATES, type SagaState, SagaStates, SETTLED_STATES, topLevelState } from '../vocabulary/states.ts';
import { guardQueue, guardStore } from './backend-guard.ts';
import { buildStepJob } from './build-step-job.ts';
import { checkHandlers } from './check-handlers.ts';
import { toStoredSnapshot } from './compact-snapshot.ts';
import { DefinitionRegistry, type RegisteredSaga } from './definition-registry.ts';
import type { HandlerRegistry } from './handlers.ts';
import { KeyedLock } from './keyed-lock.ts';
import { isParked, parkedTimer, type SagaAt } from './parked-timer.ts';
import { parseStorable } from './parse-storable.ts';
import { whyNoAppend, whyNotWaiting } from './refusals.ts';
import { restoreActor } from './restore-actor.ts';
import { type SagaView, toSagaView } from './saga-view.ts';
import { SettleWaiters } from './settle-waiters.ts';
import { checkSagaSnapshot } from './snapshot-schema.ts';
import { TIMER_LEASE_MS, TimerSweeper } from './timer-sweeper.ts';
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
}

/** What applying a step outcome in the process that ran the step did (see `applyStepOutcome`). */
export type StepOutcomeApplied = 'applied' | 'escalated' | 'stale' | 'gone';

/** Options of `engine.start`. */
export interface StartOptions {
  /** Choose the saga id (letters, digits, `_`, `-`, `.`); default a random UUID. */
  sagaId?: string;
  /** Starting twice with the same key (per saga name) returns the first saga. */
  idempotencyKey?: string;
}

/** Options of `engine.signal`. */
export interface SignalOptions {
  /**
   * The sender's id of this signal (at most 256 characters): sending it again, after it took
   * effect, succeeds with `duplicate: true` and changes nothing. Without it, a repeat is refused
   * like any signal the saga no longer waits for.
   */
  signalId?: string;
}

/** Result of `engine.signal`. */
export interface SignalResult {
  /** True when this signal had already been applied (same `signalId`): nothing changed now. */
  duplicate: boolean;
  /** The saga's top-level state after the signal. */
  state: SagaState;
}

/**
 * What an agent appends to a dynamic saga: a call of one of its tools, with arguments its schema
 * accepts, or one of its waits (resolved when the signal, or the deadline, ends it).
 */
export type AppendStep = { tool: string; args?: unknown } | { wait: string };

/** What `engine.appendStep` resolves with: how the appended step ended. */
export interface AppendedStep {
  /** The step's name: `<tool>-<n>`, n counting the saga's steps from 1. */
  step: string;
  /** `completed`, or `failed` / `in_doubt` (the saga then rolled back or escalated: see `state`). */
  status: StepStatus;
  result?: unknown;
  error?: ErrorInfo;
  /** The saga's state once the step ended: `Pending` (waiting for the next step), or settled. */
  state: SagaState;
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
  /** The record's creation time: what a settled saga's duration is measured from. */
  createdAt: number;
  /** The saga's trace context, from its start or the last outcome applied: carried by its next jobs. */
  trace?: TraceCarrier;
}

/** A hosted saga, and the step jobs its restore asked for (absent when it was already hosted). */
interface Hydrated {
  host: Host;
  restored?: StepJobRequest[];
}

/** What applying one event did, decided against the saga's saved state inside its lock. */
interface Applied {
  /** True when the event took effect and its transition was saved. */
  applied: boolean;
  /** The saga's top-level state afterwards (the one that refused the event, when not applied). */
  state: SagaState;
  /** The context the event was decided against. */
  before: SagaContext;
}

/** One page of `engine.list`. */
export interface SagaViewPage {
  items: SagaView[];
  /** Absent on the last page. */
  cursor?: string;
  /** Sagas left out of this page because their stored record was unusable: now quarantined. */
  quarantined?: string[];
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
  readonly #inspection: SagaInspection | undefined;
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
  readonly #events: EngineEventEmitter;
  readonly #instrumentation: Instrumentation | undefined;
  readonly #stuck: StuckDetector | undefined;
  readonly #detach: (() => void) | undefined;
  #closed = false;
  readonly #sweeper: TimerSweeper;

  constructor(parts: SagaEngineParts) {
    this.#store = guardStore(parts.store);
    this.#queue = guardQueue(parts.queue);
    this.#clock = parts.clock;
    this.#handlers = parts.handlers;
    this.#maxActive = parts.maxActiveSagas;
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
    this.#registry = new DefinitionRegistry((request) => {
      const list = this.#requested.get(request.sagaId);
      if (list) list.push(request);
      else this.#requested.set(request.sagaId, [request]);
    });
    for (const definition of parts.sagas) this.#register(definition);
    this.#instrumentation = parts.instrumentation;
    this.#stuck = parts.stuck ? this.#stuckDetector(parts.stuck) : undefined;
    if (parts.consumeOutcomes !== false) this.#queue.consume((outcome) => this.#applyOutcome(outcome));
    this.#detach = this.#instrumentation?.attach?.({ stats: () => this.stats() });
    this.#stuck?.start();
    this.#sweeper = new TimerSweeper(
      this.#store,
      this.#clock,
      (id, leaseEnd) => this.#onTimer(id, leaseEnd),
      (error) => this.#events.emit('error', error),
    );
    if (parts.sweepTimersEveryMs !== undefined) this.#sweeper.start(parts.sweepTimersEveryMs);
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
      this.#hosts.set(sagaId, { actor: actor.start(), saga, revision: 1, createdAt: now });
      this.#trim();
    }
    const trace = created.created ? this.#sagaStarted(sagaId, definition, now) : undefined;
    // Also on a repeated start: a saga whose creator died before this line still gets going.
    await this.#send(created.record.sagaId, { type: SagaEvents.start }, trace);
    return { sagaId: created.record.sagaId, created: created.created };
  }

  /** The saga with its steps and log. Throws SagaNotFoundError for an unknown id. */
  async get(sagaId: string): Promise<SagaView> {
    const record = await this.#load(sagaId);
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
      await this.#quarantine(error.sagaId, error).catch(() => undefined);
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
    const record = await this.#store.load(sagaId).catch((error: unknown) => this.#quarantine(sagaId, error));
    if (!record) throw new SagaNotFoundError(sagaId);
    const settled = SETTLED_STATES.includes(record.state);
    if (!settled && !unsettledToo) return undefined;
    try {
      checkSagaSnapshot(record);
    } catch (error) {
      return this.#quarantine(sagaId, error);
    }
    return this.#view(record, settled ? await this.#store.history(sagaId) : []);
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
    const { signalId } = options;
    if (signalId !== undefined && (typeof signalId !== 'string' || signalId === '' || signalId.length > 256)) {
      throw new SignalError('signalId must be a non-empty string of at most 256 characters', 'signalId');
    }
    const record = await this.#load(sagaId);
    if (!record) throw new SagaNotFoundError(sagaId);
    const saga = this.#registry.get(record.name, record.version);
    if (!saga) throw this.#unknownDefinition(sagaId, record);
    const wait = waitOf(saga.definition, name);
    if (!wait?.signal) {
      const waits = saga.definition.waits
        .concat(Object.keys(saga.definition.dynamic?.tools ?? {}))
        .filter((w) => waitOf(saga.definition, w)?.type === 'signal')
        .map((w) => `"${w}"`);
      throw new SignalError(
        `saga "${sagaId}" ("${record.name}") has no wait named "${String(name)}"; ${waits.length > 0 ? `its waits are ${waits.join(', ')}` : 'it has no waits'}`,
        'name',
      );
    }
    const stored = parseStorable(
      wait.signal,
      payload,
      `signal "${name}" for saga "${sagaId}"`,
      'payload',
      (message, path, cause) => new SignalError(message, path, { cause }),
    );
    // The wait's `reject` is the user's code: decided here, so the machine stays free of it.
    const rejected = wait.reject?.(stored) === true;
    const result = await this.#send(sagaId, {
      type: SagaEvents.signal,
      name,
      payload: stored,
      ...(signalId === undefined ? {} : { signalId }),
      ...(rejected ? { rejected: true as const } : {}),
    });
    if (result.applied) return { duplicate: false, state: result.state };
    const stepName = waitStepOf(saga.definition, result.before, name);
    const step = stepName === undefined ? undefined : result.before.steps[stepName];
    if (signalId !== undefined && step?.signalId === signalId) return { duplicate: true, state: result.state };
    throw new SignalNotAwaitedError(
      `saga "${sagaId}" is not waiting for signal "${name}": ${whyNotWaiting(step, result.state)}; nothing changed`,
    );
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
    const definition = await this.#dynamicDefinition(sagaId, 'appendStep');
    const tools = (definition.dynamic as DynamicDefinition).tools;
    const asWait = typeof step === 'object' && step !== null && 'wait' in step;
    const wanted = asWait ? step.wait : (step as { tool?: unknown } | undefined)?.tool;
    const tool = typeof wanted === 'string' ? tools[wanted] : undefined;
    if (!tool || (tool.wait !== undefined) !== asWait) {
      const kind = asWait ? 'wait' : 'tool';
      const known = Object.values(tools).filter((t) => (t.wait !== undefined) === asWait);
      throw new InputError(
        `${kind} "${String(wanted)}" is not a ${kind} of saga "${definition.name}"; ${
          known.length > 0 ? `its ${kind}s are ${known.map((t) => `"${t.name}"`).join(', ')}` : `it has no ${kind}s`
        }`,
        kind,
      );
    }
    const args = parseStorable(
      tool.args,
      asWait ? {} : (step as { args?: unknown }).args,
      `args of tool "${tool.name}" for saga "${sagaId}"`,
      'args',
      (message, path, cause) => new InputError(message, path, { cause }),
    );
    const result = await this.#send(sagaId, { type: SagaEvents.append, tool: tool.name, args });
    if (!result.applied) {
      throw new InvalidStateError(
        `saga "${sagaId}" cannot take tool "${tool.name}" now: ${whyNoAppend(definition, result.before, result.state, tool.kind)}; nothing was stored`,
      );
    }
    const name = dynamicStepName(tool.name, result.before.plan?.length ?? 0);
    const view = await this.#waiters.wait(
      sagaId,
      options.timeoutMs,
      (v) =>
        SETTLED_STATES.includes(v.state) ||
        v.steps.some((s) => s.name === name && s.status !== 'running' && s.status !== 'waiting'),
    );
    const ended = view.steps.find((s) => s.name === name);
    return {
      step: name,
      status: ended?.status ?? 'running',
      state: view.state,
      ...(ended && 'result' in ended ? { result: ended.result } : {}),
      ...(ended?.error ? { error: ended.error } : {}),
    };
  }

  /**
   * Ends a dynamic saga `Completed`: its agent is done. Refused with `INVALID_STATE` unless the saga
   * waits for its next step (none is running, it is not settled, no cancel or rollback is under way).
   */
  async complete(sagaId: string): Promise<void> {
    this.#assertOpen();
    const definition = await this.#dynamicDefinition(sagaId, 'complete');
    const result = await this.#send(sagaId, { type: SagaEvents.complete });
    if (!result.applied) {
      throw new InvalidStateError(
        `saga "${sagaId}" cannot be completed now: ${whyNoAppend(definition, result.before, result.state)}`,
      );
    }
  }

  /** The definition of a dynamic saga, for its agent's commands; INVALID_STATE for any other. */
  async #dynamicDefinition(sagaId: string, command: string): Promise<AnySagaDefinition> {
    const record = await this.#load(sagaId);
    if (!record) throw new SagaNotFoundError(sagaId);
    const saga = this.#registry.get(record.name, record.version);
    if (!saga) throw this.#unknownDefinition(sagaId, record);
    if (!saga.definition.dynamic) {
      throw new InvalidStateError(
        `saga "${sagaId}" ("${record.name}") has defined steps: ${command} is for sagas made by defineDynamicSaga`,
      );
    }
    return saga.definition;
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
    const result = await this.#send(sagaId, { type: SagaEvents.cancel });
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
   * {@link RECOVERY_REPORT_EVERY} sagas and once at the end (`done: true`).
   */
  async recover(): Promise<number> {
    this.#assertOpen();
    const seen = new Set<string>();
    const states = [SagaStates.Started, SagaStates.Pending, SagaStates.Compensating] as const;
    let failed = 0;
    let handled = 0;
    const report = (state: SagaState, done: boolean) =>
      this.#events.emit('recovering', { state, recovered: seen.size, failed, done });
    for (const state of states) {
      let cursor: string | undefined;
      do {
        const page = await this.list({ state, limit: 500, ...(cursor ? { cursor } : {}) });
        for (const record of page.items) {
          // A saga started above shows up again among the Pending ones: re-attach it once.
          if (seen.has(record.sagaId) || !this.#registry.get(record.name, record.version)) continue;
          seen.add(record.sagaId);
          try {
            if (state === SagaStates.Started) await this.#send(record.sagaId, { type: SagaEvents.start });
            else await this.#lock.run(record.sagaId, () => this.#reattach(record.sagaId));
          } catch (error) {
            // One bad saga (quarantined, or a store hiccup) must not stop the others' recovery.
            seen.delete(record.sagaId);
            failed++;
            this.#events.emit('error', error);
          }
          if (++handled % RECOVERY_REPORT_EVERY === 0) report(state, false);
        }
        cursor = page.cursor;
      } while (cursor);
    }
    report(SagaStates.Compensating, true);
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
    this.#stuck?.stop();
    this.#sweeper.stop();
    await this.#lock.drain();
    for (const host of this.#hosts.values()) host.actor.stop();
    this.#hosts.clear();
    this.#detach?.();
    await this.#waiters.close();
    await this.#onClose?.();
    if (this.#ownsQueue) await this.#queue.close();
    if (this.#ownsStore) await this.#store.close();
  }

  async #escalatedCommand(sagaId: string, event: SagaEvent, verb: string): Promise<void> {
    this.#assertOpen();
    const result = await this.#send(sagaId, event);
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
   * Applies a step job's outcome to its saga through the one event path (load, transition,
   * compare-and-set save, dispatch of the next job), without acknowledging the job: what a worker
   * does with the outcome of the step it just ran, before it completes its own BullMQ job, so a
   * step costs one job and no outcome hop. `gone`: the saga no longer exists or was quarantined,
   * so there is nothing to apply it to; `stale`: the saga had already moved past this job.
   *
   * @internal used by createWorker; not part of the Engine API.
   */
  async applyStepOutcome(outcome: StepOutcome): Promise<StepOutcomeApplied> {
    try {
      const result = await this.#send(
        outcome.sagaId,
        outcome.event,
        isTraceCarrier(outcome.trace) ? outcome.trace : undefined,
      );
      if (!result.applied) return 'stale';
      return result.state === SagaStates.Escalated ? 'escalated' : 'applied';
    } catch (error) {
      if (error instanceof SagaNotFoundError || error instanceof RecordCorruptError) return 'gone';
      throw error;
    }
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
        this.#evict(job.sagaId);
        const { host } = await this.#hydrate(job.sagaId);
        const { context } = host.actor.getSnapshot();
        if (
          inFlight(context).some((r) => r.step === job.step && r.direction === job.direction && r.round === job.round)
        ) {
          return true;
        }
        // Moved on. The process that applied this job's outcome may have died between its save and
        // the enqueue of the next job: re-attach the saga to the job of the state it is in now.
        this.#evict(job.sagaId);
        await this.#reattach(job.sagaId);
        return false;
      } catch (error) {
        if (error instanceof SagaNotFoundError || error instanceof RecordCorruptError) return false;
        throw error;
      }
    });
  }

  /** Loads a saga; one whose record is unusable is quarantined (once) and its error rethrown. */
  async #load(sagaId: string): Promise<SagaRecord | undefined> {
    try {
      const record = await this.#store.load(sagaId);
      if (record) checkSagaSnapshot(record);
      return record;
    } catch (error) {
      return this.#quarantine(sagaId, error);
    }
  }

  /**
   * Applies one event to a saga: persist first, dispatch second. Serialised per saga, so whether
   * the event applies is decided against the state it acts on; a refused event changes nothing.
   */
  #send(sagaId: string, event: SagaEvent, trace?: TraceCarrier): Promise<Applied> {
    return this.#lock.run(sagaId, async () => {
      this.#busy.add(sagaId);
      try {
        return await this.#apply(sagaId, event, trace);
      } finally {
        this.#busy.delete(sagaId);
      }
    });
  }

  async #apply(sagaId: string, event: SagaEvent, trace?: TraceCarrier): Promise<Applied> {
    for (let attempt = 0; ; attempt++) {
      const { host, restored } = await this.#hydrate(sagaId);
      if (trace) host.trace = trace;
      const before = host.actor.getSnapshot();
      if (!before.can(event)) {
        // Another engine may have moved the saga since this one cached it: look again before
        // calling the event stale, or an outcome meant for the newer state would be dropped.
        if (!restored && attempt === 0 && (await this.#load(sagaId))?.revision !== host.revision) {
          this.#evict(sagaId);
          continue;
        }
        // Nothing to apply; but a saga just restored here may be one whose job was never
        // enqueued (the enqueue after its save failed): re-attach so it gets going again.
        if (restored) await this.#dispatch(host, restored, true);
        return { applied: false, state: topLevelState(before.value), before: before.context };
      }
      host.actor.send(event);
      const after = host.actor.getSnapshot();
      const requests = this.#take(sagaId);
      const state = topLevelState(after.value);
      const entry = transitionEntry(sagaId, this.#clock.now(), before.value, after.value, event);
      // Built once: the jobs' ids and deadlines go into the save, the jobs themselves to the queue after it.
      const jobs = this.#jobsFor(host, requests);
      const stayed = JSON.stringify(before.value) === JSON.stringify(after.value);
      const timer = this.#timerFor(host, before, after, jobs, stayed, entry.at);
      // Parked for a signal, a deadline or its agent: whoever waits for that (appendStep) is told.
      const parked = isParked(host.saga.definition, after);
      try {
        host.revision = await this.#store.save(
          {
            sagaId,
            expectedRevision: host.revision,
            state,
            snapshot: toStoredSnapshot(after),
            updatedAt: entry.at,
            ...(timer === undefined ? {} : { timer }),
            ...(parked ? { announce: true } : {}),
          },
          entry,
        );
      } catch (error) {
        // The in-memory actor is ahead of the store now; drop it and start from what is stored.
        // Each retry re-reads the record and dispatches nothing until a save succeeds, so a
        // conflict can never multiply jobs.
        this.#evict(sagaId);
        if (error instanceof ConflictError && attempt < CONFLICT_RETRIES) continue;
        if (error instanceof RecordCorruptError) await this.#quarantine(sagaId, error);
        throw error;
      }
      this.#announce(host, entry, state, parked);
      // A deadline is in the timer set, with one local wake-up per process for the earliest.
      if (timer && parseWaitTimerId(timer.id)) this.#sweeper.wakeAt(timer.dueAt);
      if (parkedAt(after.context) !== undefined) {
        // Parked at a wait, maybe for days: it holds nothing in this process (no actor, no job).
        this.#evict(sagaId);
        return { applied: true, state, before: before.context };
      }
      // A transition that stayed in the same state (cancel while a step runs) keeps that step's
      // job: a saga restored for this event re-attaches to it, as if it had been hosted all along.
      if (restored && stayed) await this.#dispatch(host, restored, true);
      await this.#enqueue(host, jobs);
      return { applied: true, state, before: before.context };
    }
  }

  /**
   * The saga's timer after a transition, saved with it: the deadline of the wait it parks at (or
   * of a dynamic saga's idle spell); the
   * deadline of the step job the transition dispatches (when the queue has deadlines); none when it
   * leaves its step or wait for a state without either; or unchanged (undefined) when it stays.
   * Only queues whose workers can die with a job in hand (BullMQ) have job deadlines.
   */
  #timerFor(
    host: Host,
    before: SagaAt,
    after: SagaAt,
    jobs: StepJob[],
    stayed: boolean,
    now: number,
  ): SagaTimer | null | undefined {
    const { definition } = host.saga;
    const { context } = after;
    const parked = parkedTimer(definition, after, now, (error) => this.#events.emit('error', error));
    if (parked !== undefined) return stayed ? undefined : parked;
    const deadlineOf = this.#queue.deadlineOf;
    if (!deadlineOf) return isParked(definition, before) ? null : undefined;
    if (jobs.length === 0 && stayed) return undefined;
    // A saga keeps one timer: the deadline of a job it waits for. When a parallel group's member
    // settles and others still run, the timer moves on to one of those.
    const [waiting] = jobs.length > 0 ? [] : inFlight(context);
    const job = jobs[0] ?? (waiting && buildStepJob(host.saga.definition, context, waiting));
    if (!job) return null;
    const ms = deadlineOf.call(this.#queue, job);
    return ms === undefined ? null : { id: job.id, dueAt: now + ms };
  }

  /**
   * A timer came due: a wait's deadline is delivered to its saga (ignored if it no longer waits
   * there); a step job's deadline times the job out if no live worker holds it (see DeadlineVerdict).
   */
  async #onTimer(jobId: string, leaseEnd: number): Promise<void> {
    const settle = (dueAt?: number) => this.#store.settleTimer?.(jobId, leaseEnd, dueAt);
    const wait = parseWaitTimerId(jobId);
    if (wait) {
      await this.#send(wait.sagaId, { type: SagaEvents.deadline, step: wait.step, round: wait.round }).catch(
        (error: unknown) => {
          if (!(error instanceof SagaNotFoundError || error instanceof RecordCorruptError)) throw error;
        },
      );
      return settle();
    }
    const verdict = (await this.#queue.expire?.(jobId)) ?? { kind: 'missing' as const };
    if (verdict.kind === 'held') return settle(this.#clock.now() + verdict.recheckInMs);
    if (verdict.kind === 'timedOut') await this.applyStepOutcome(verdict.outcome);
    if (verdict.kind === 'missing') {
      // Applied and gone (a save then replaced this timer: settling below changes nothing), or
      // never enqueued while the saga still waits for it: re-attach, which enqueues it, and watch
      // it again.
      const job = parseStepJobId(jobId);
      if (job && (await this.awaitsJob(job))) {
        await this.#lock.run(job.sagaId, () => this.#reattach(job.sagaId, true));
        return settle(this.#clock.now() + TIMER_LEASE_MS);
      }
    }
    return settle();
  }

  /** Hydrates a saga (recovery) and re-attaches it to the job of the state it is in. */
  async #reattach(sagaId: string, fresh = false): Promise<void> {
    if (fresh) this.#evict(sagaId);
    const { host, restored } = await this.#hydrate(sagaId);
    if (restored) await this.#dispatch(host, restored, true);
    // A saga parked at a wait has nothing to re-attach to (its deadline is in the timer set): it is
    // not kept hydrated, so recovering many parked sagas costs no memory.
    if (parkedAt(host.actor.getSnapshot().context) !== undefined) this.#evict(sagaId);
  }

  /**
   * The hosted actor of a saga, restoring it from the store when it is not hosted. A restore
   * restarts the invoked step job of the current state, whose request is returned for the caller
   * to dispatch (or not: an event that moves the saga on makes it moot).
   */
  async #hydrate(sagaId: string): Promise<Hydrated> {
    const cached = this.#hosts.get(sagaId);
    if (cached) {
      this.#hosts.delete(sagaId);
      this.#hosts.set(sagaId, cached);
      return { host: cached };
    }
    const record = await this.#load(sagaId);
    if (!record) throw new SagaNotFoundError(sagaId);
    const saga = this.#registry.get(record.name, record.version);
    // Not this engine's saga: another engine may host it, so refuse without touching it (and
    // without acking its outcomes: the code differs from RECORD_CORRUPT on purpose).
    if (!saga && !this.#registry.knows(record.name)) throw this.#unknownDefinition(sagaId, record);
    if (!saga) {
      return this.#quarantine(
        sagaId,
        new SagaError(
          'RECORD_CORRUPT',
          `saga "${sagaId}" was started with "${record.name}" version ${record.version}, which this engine does not know; pass it in createEngine({ sagas })`,
        ),
      );
    }
    const actor = restoreActor(saga, record, this.#inspection?.observer(sagaId, 'restored'));
    const restored = this.#take(sagaId);
    if (!actor) {
      return this.#quarantine(
        sagaId,
        new RecordCorruptError(
          sagaId,
          'snapshot',
          `is not a snapshot of "${record.name}" version ${record.version} (its steps or state do not fit the machine)`,
        ),
      );
    }
    const host: Host = { actor, saga, revision: record.revision, createdAt: record.createdAt };
    this.#hosts.set(sagaId, host);
    this.#trim();
    return { host, restored };
  }

  #unknownDefinition(sagaId: string, record: SagaRecord): SagaError {
    return new SagaError(
      'DEFINITION_UNKNOWN',
      `saga "${sagaId}" was started with "${record.name}" version ${record.version}, which this engine does not know; pass it in createEngine({ sagas })`,
    );
  }

  /**
   * Moves a saga whose stored data cannot be used aside, so it stops failing every event and
   * recovery pass, with the reason in its log; announces it and throws the reason.
   */
  async #quarantine(sagaId: string, error: unknown): Promise<never> {
    if (!(error instanceof SagaError && error.code === 'RECORD_CORRUPT')) throw error;
    this.#evict(sagaId);
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

  #take(sagaId: string): StepJobRequest[] {
    const requests = this.#requested.get(sagaId) ?? [];
    this.#requested.delete(sagaId);
    return requests;
  }

  async #dispatch(host: Host, requests: StepJobRequest[], reattach = false): Promise<void> {
    await this.#enqueue(host, this.#jobsFor(host, requests), reattach);
  }

  /** The step jobs the saga's current state asked for. */
  #jobsFor(host: Host, requests: StepJobRequest[]): StepJob[] {
    if (requests.length === 0) return [];
    const context = host.actor.getSnapshot().context;
    const jobs: StepJob[] = [];
    for (const request of requests) {
      const job = buildStepJob(host.saga.definition, context, request, host.trace);
      if (job) jobs.push(job);
    }
    return jobs;
  }

  async #enqueue(host: Host, jobs: StepJob[], reattach = false): Promise<void> {
    try {
      for (const job of jobs) await this.#queue.enqueue(job, { reattach });
    } catch (error) {
      // Saved but not dispatched: drop the hosted actor, so that the next event or command on this
      // saga restores it and re-attaches to (that is, enqueues) the job it is waiting for.
      this.#evict(host.actor.getSnapshot().context.sagaId);
      throw error;
    }
  }

  #announce(host: Host, entry: TransitionEntry, state: SagaState, parked: boolean): void {
    this.#events.emit('transition', entry);
    if (this.#instrumentation) this.#instrument(this.#instrumentation, host, entry, state);
    const context = host.actor.getSnapshot().context;
    if (state === SagaStates.Escalated && context.escalation) {
      this.#events.emit('escalated', {
        sagaId: entry.sagaId,
        name: host.saga.definition.name,
        escalation: context.escalation,
      });
    }
    if (FINAL_STATES.includes(state)) this.#evict(entry.sagaId);
    // The store announces it too; reads of one saga are merged, so that costs no second read.
    if (SETTLED_STATES.includes(state) || parked) this.#waiters.check(entry.sagaId);
  }

  /** Tells the instrumentation about a persisted transition: the step outcome behind it, and a settle. */
  #instrument(hooks: Instrumentation, host: Host, entry: TransitionEntry, state: SagaState): void {
    const name = host.saga.definition.name;
    const from = topLevelState(entry.from.split('.')[0]);
    const trace = host.trace ? { trace: host.trace } : {};
    hooks.sagaTransition?.({ sagaId: entry.sagaId, name, from, to: state, entry, ...trace });
    if (entry.step !== undefined && entry.direction !== undefined) {
      hooks.stepEnded?.({
        sagaId: entry.sagaId,
        name,
        step: entry.step,
        direction: entry.direction,
        outcome: entry.event === SagaEvents.stepDone ? 'done' : 'failed',
        attempts: entry.attempt ?? 0,
        ...(entry.error ? { error: entry.error } : {}),
        ...trace,
      });
    }
    if (SETTLED_STATES.includes(state) && from !== state) {
      const context = host.actor.getSnapshot().context;
      hooks.sagaSettled?.({
        sagaId: entry.sagaId,
        name,
        state,
        durationMs: entry.at - host.createdAt,
        at: entry.at,
        ...(context.failure ? { failure: context.failure } : {}),
        ...(context.escalation ? { escalation: context.escalation } : {}),
        ...trace,
      });
    }
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
      thresholdOf: (name, version) => this.#registry.get(name, version)?.definition.stuckAfterMs ?? options.afterMs,
      now: () => this.#clock.now(),
      intervalMs: options.checkIntervalMs,
      onStuck: (saga) => this.#events.emit('stuck', saga),
      onReport: (report) => this.#instrumentation?.stuckChecked?.(report),
      onError: (error) => this.#events.emit('error', error),
    });
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
