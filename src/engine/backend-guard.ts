import { QueueError, SagaError, StoreError } from '../errors.ts';
import type { SagaStore } from '../persistence/saga-store.ts';
import type { StepQueue } from '../transport/step-queue.ts';

/**
 * The engine's view of a store: the same calls, but a failure that is not already an xsaga error
 * (a connection refused, an ACL `NOPERM`, a store bug) becomes a {@link StoreError} that says
 * which saga and what was being done, with the original as `cause`. Callers then only ever see
 * typed errors with a stable `code`.
 */
export function guardStore(store: SagaStore): SagaStore {
  const fail = failing((message, cause) => new StoreError(`the saga store could not ${message}`, { cause }));
  const onSettled = store.onSettled?.bind(store);
  const subscribeFailed = fail(() => 'subscribe to settled sagas (what engine.waitFor listens to)');
  return {
    create: (record, entry) =>
      store
        .create(record, entry)
        .catch(
          fail(() => `create saga "${record.sagaId}" (it may or may not be stored: repeat the start with this sagaId)`),
        ),
    save: (update, entry) => store.save(update, entry).catch(fail(() => `save saga "${update.sagaId}"`)),
    load: (sagaId) => store.load(sagaId).catch(fail(() => `load saga "${sagaId}"`)),
    ...(store.loadSettled
      ? {
          loadSettled: (sagaId: string) =>
            (store.loadSettled as NonNullable<SagaStore['loadSettled']>)
              .call(store, sagaId)
              .catch(fail(() => `load saga "${sagaId}" and its log`)),
        }
      : {}),
    list: (query) => store.list(query).catch(fail(() => 'list sagas')),
    history: (sagaId) => store.history(sagaId).catch(fail(() => `read the log of saga "${sagaId}"`)),
    quarantine: (sagaId, entry) => store.quarantine(sagaId, entry).catch(fail(() => `quarantine saga "${sagaId}"`)),
    stats: () => store.stats().catch(fail(() => 'count sagas')),
    ...(store.claimDueTimers && store.settleTimer
      ? {
          claimDueTimers: (now: number, leaseEnd: number, limit: number) =>
            (store.claimDueTimers as NonNullable<SagaStore['claimDueTimers']>)
              .call(store, now, leaseEnd, limit)
              .catch(fail(() => 'claim due timers')),
          settleTimer: (id: string, leaseEnd: number, dueAt?: number) =>
            (store.settleTimer as NonNullable<SagaStore['settleTimer']>)
              .call(store, id, leaseEnd, dueAt)
              .catch(fail(() => `settle timer "${id}"`)),
        }
      : {}),
    ...(store.nextTimerAt
      ? {
          nextTimerAt: () =>
            (store.nextTimerAt as NonNullable<SagaStore['nextTimerAt']>)
              .call(store)
              .catch(fail(() => 'read when the next timer is due')),
        }
      : {}),
    listQuarantined: () => store.listQuarantined().catch(fail(() => 'list quarantined sagas')),
    ...(onSettled && {
      onSettled: (listener) =>
        onSettled({
          settled: (sagaId) => listener.settled(sagaId),
          resync: (error) => listener.resync(error === undefined ? undefined : thrownBy(subscribeFailed, error)),
        }).catch(subscribeFailed),
    }),
    close: () => store.close(),
  };
}

/**
 * The engine's view of a queue, typed the same way: a failed enqueue or ack becomes a
 * {@link QueueError}. The saga's state was saved before any enqueue, so the message says how the
 * job gets dispatched again.
 */
export function guardQueue(queue: StepQueue): StepQueue {
  const fail = failing((message, cause) => new QueueError(`the step queue could not ${message}`, { cause }));
  return {
    enqueue: (job, options) =>
      queue
        .enqueue(job, options)
        .catch(
          fail(
            () =>
              `enqueue ${job.direction} of step "${job.step}" of saga "${job.sagaId}" (the saga is saved; a repeated command on it, or engine.recover(), enqueues it again)`,
          ),
        ),
    consume: (handler) => queue.consume(handler),
    ...(queue.deadlineOf ? { deadlineOf: queue.deadlineOf.bind(queue) } : {}),
    // Describes an add; it sends nothing, so it has no failure of its own to type.
    ...(queue.addCall ? { addCall: queue.addCall.bind(queue) } : {}),
    ...(queue.expire
      ? {
          expire: (jobId: string) =>
            (queue.expire as NonNullable<StepQueue['expire']>)
              .call(queue, jobId)
              .catch(fail(() => `look up step job "${jobId}" at its deadline`)),
        }
      : {}),
    ack: (jobId) => queue.ack(jobId).catch(fail(() => `acknowledge job "${jobId}"`)),
    close: () => queue.close(),
  };
}

/**
 * A rejection handler factory: an xsaga error passes through as it is; anything else becomes the
 * typed error `wrap` makes, its message saying what was being done (built only on failure).
 */
function failing(wrap: (message: string, cause: unknown) => SagaError) {
  return (what: () => string) =>
    (error: unknown): never => {
      if (error instanceof SagaError) throw error;
      throw wrap(`${what()}: ${describe(error)}`, error);
    };
}

/** What `throwing` throws for `error`, as a value: for an error handed on rather than thrown. */
function thrownBy(throwing: (error: unknown) => never, error: unknown): unknown {
  try {
    return throwing(error);
  } catch (typed) {
    return typed;
  }
}

/** The gist of any thrown value, for a message. */
function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  try {
    return String(error);
  } catch {
    return 'a value that cannot be shown';
  }
}
