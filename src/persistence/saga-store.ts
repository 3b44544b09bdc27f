import type { RecordCorruptError } from '../errors.ts';
import type { Direction, ErrorInfo } from '../vocabulary/events.ts';
import type { ScriptCall } from '../vocabulary/script-call.ts';
import type { SagaState } from '../vocabulary/states.ts';

/** One stored saga: its snapshot plus what the indexes need. */
export interface SagaRecord {
  sagaId: string;
  /** Definition name and version the saga was started with. */
  name: string;
  version: number;
  /** Top-level state, kept beside the snapshot so listing needs no snapshot parsing. */
  state: SagaState;
  /** The saga's snapshot as the engine gives it (see `engine/compact-snapshot.ts`), JSON-serialisable. */
  snapshot: unknown;
  /** Compare-and-set version: 1 after create, +1 on each save. Never moves backwards. */
  revision: number;
  /** Caller-chosen key that makes `engine.start` idempotent (scoped by saga name). */
  idempotencyKey?: string;
  createdAt: number;
  updatedAt: number;
}

/** One line of the saga log: a transition, with the step and attempt that caused it. */
export interface TransitionEntry {
  sagaId: string;
  /** Milliseconds since the epoch. */
  at: number;
  /** State path before and after, e.g. `Pending.reserveHotel` -> `Compensating.reserveFlight`. */
  from: string;
  to: string;
  /** Type of the event that caused the transition. */
  event: string;
  step?: string;
  direction?: Direction;
  /** Attempts the step job took. */
  attempt?: number;
  error?: ErrorInfo;
  /** The step's run ended in doubt: it may have taken effect. */
  inDoubt?: true;
  /** What the step's `verify` found: `true` done (read back instead of repeated), `false` not done. */
  verified?: boolean;
}

/** What a save writes: the next snapshot and its top-level state. */
export interface SagaUpdate {
  sagaId: string;
  /** The revision the writer read; the save fails with ConflictError if the store holds another. */
  expectedRevision: number;
  state: SagaState;
  snapshot: unknown;
  updatedAt: number;
  /**
   * The saga's timer (its step job's deadline), for stores that keep timers: an object replaces
   * it, `null` removes it, absent leaves it as it is (a transition that stays in its step).
   */
  timer?: SagaTimer | null;
  /**
   * Tell `onSettled` listeners of this save although it does not settle the saga: it parked (at a
   * wait, or a dynamic saga waiting for its agent), which a caller may be waiting for.
   */
  announce?: boolean;
  /**
   * Script calls to make in the same atomic step as this save, only if it saves (a step job's add,
   * see `StepQueue.addCall`). RedisStore runs them inside its save script; a store that cannot run
   * them must refuse the save rather than drop them. The engine passes them only to a store and a
   * queue it made on one Redis.
   */
  scriptCalls?: readonly ScriptCall[];
}

/** A durable timer of a saga: the deadline of its step job `id`, due at `dueAt` (ms since the epoch). */
export interface SagaTimer {
  id: string;
  dueAt: number;
}

/** Filter and page of `list`. */
export interface SagaQuery {
  state?: SagaState;
  name?: string;
  /** Page size; default 100. */
  limit?: number;
  /** Opaque cursor from the previous page. */
  cursor?: string;
}

/** One page of sagas. `cursor` is absent on the last page. */
export interface SagaPage {
  items: SagaRecord[];
  cursor?: string;
  /**
   * Sagas the page passed over because their stored record is unusable (the engine quarantines
   * them). One bad record never fails a page: it is left out and reported here.
   */
  unusable?: RecordCorruptError[];
}

/** How many sagas are in each top-level state. */
export type SagaCounts = Record<SagaState, number>;

/** Counts of the stored sagas, by state and by saga name (names sorted), quarantined ones excluded. */
export interface SagaStats {
  byState: SagaCounts;
  byName: Record<string, SagaCounts>;
}

/**
 * Result of `loadSettled`: the record and, when its state is settled (`Completed`, `Failed`,
 * `Escalated`), its whole log, as `history` returns it.
 */
export interface SettledRead {
  record: SagaRecord;
  /** Present exactly when `record.state` is settled. */
  history?: TransitionEntry[];
}

/** Result of `create`: the stored record, and whether this call created it. */
export interface CreateResult {
  record: SagaRecord;
  created: boolean;
}

/**
 * Told by a store's {@link SagaStore.onSettled} of sagas that became settled. Called from the store's
 * event handling: it must not throw, and should only start work (a read), not wait for it.
 */
export interface SettleListener {
  /**
   * A save left the saga in a settled state (`Completed`, `Failed`, `Escalated`), in any process.
   * Called after the save is readable; it may come more than once for one saga (a resumed saga
   * settles again), and may name sagas nobody here waits for.
   */
  settled(sagaId: string): void;
  /**
   * Notices may have been missed: the store's subscription dropped and is in place again, so every
   * saga waited for must be read once more. With `error`, subscribing again failed (an ACL changed,
   * say), and no notice comes until a later reconnect succeeds.
   */
  resync(error?: unknown): void;
}

/**
 * Where sagas live. Implementations: MemoryStore (embedded default) and RedisStore; both pass the
 * contract suite in `test/contracts/saga-store.contract.ts`.
 */
export interface SagaStore {
  /**
   * Stores a new saga (revision 1) and its first log entry, atomically. When a saga with the same
   * id, or the same (name, idempotencyKey), already exists, stores nothing and returns it with
   * `created: false`.
   */
  create(record: SagaRecord, entry: TransitionEntry): Promise<CreateResult>;
  /**
   * Compare-and-set: writes the snapshot and appends the log entry atomically if the stored revision
   * equals `expectedRevision`; returns the new revision. Throws ConflictError otherwise, and
   * SagaNotFoundError if the saga does not exist.
   */
  save(update: SagaUpdate, entry: TransitionEntry): Promise<number>;
  /**
   * The saga, or undefined. Throws RecordCorruptError when a record exists but any of its fields is
   * unusable (stores whose data can be changed from outside check every field).
   */
  load(sagaId: string): Promise<SagaRecord | undefined>;
  /**
   * Optional: `load` and, only when the saga is settled (`Completed`, `Failed`, `Escalated`: see
   * `SETTLED_STATES`), `history`, read together: what `engine.waitFor` needs from a saga that
   * may have settled, in one client command on stores with a server (RedisStore: one script)
   * rather than two. Undefined for an unknown saga; a record without `history` for an unsettled
   * one. Unreadable data is treated exactly as `load` and `history` treat it: RecordCorruptError
   * for an unusable record, `log.unreadable` entries in the history.
   *
   * @example
   * ```ts
   * const read = await store.loadSettled?.(sagaId);
   * if (read?.history) report(read.record, read.history); // settled: no second read
   * ```
   */
  loadSettled?(sagaId: string): Promise<SettledRead | undefined>;
  /**
   * Sagas matching the query, oldest first, served from indexes (never a scan of every key). A
   * `limit` outside 1..10 000, an unknown `state` or a cursor the store did not make is refused
   * with InputError; unusable records are left out and listed in `unusable`.
   */
  list(query?: SagaQuery): Promise<SagaPage>;
  /**
   * The saga log, oldest first (empty for an unknown saga). A line that cannot be read is shown as
   * an entry with event `log.unreadable` rather than failing the whole log.
   */
  history(sagaId: string): Promise<TransitionEntry[]>;
  /**
   * Moves a saga whose stored data cannot be used (corrupt snapshot, unknown definition version)
   * out of the live keys and indexes, keeping it for inspection, drops its timer, and appends
   * `entry` (with the error) to its log. Returns false (and changes nothing) for an unknown or already quarantined saga.
   */
  quarantine(sagaId: string, entry: TransitionEntry): Promise<boolean>;
  /**
   * Stores that keep timers (RedisStore, MemoryStore): claims up to `limit` timers due at `now` or
   * earlier, earliest first, by moving their due time to `leaseEnd` (no other process takes them
   * meanwhile; a claimer that dies loses them when the lease ends), and returns their ids.
   */
  claimDueTimers?(now: number, leaseEnd: number, limit: number): Promise<string[]>;
  /**
   * Done with a claimed timer: removes it (`dueAt` undefined) or moves it to `dueAt`, but only while
   * it is still due at the `leaseEnd` it was claimed with: a save that replaced or removed it since
   * the claim wins, and this changes nothing.
   */
  settleTimer?(id: string, leaseEnd: number, dueAt?: number): Promise<void>;
  /**
   * Stores that keep timers: the earliest due time in the timer set (a claimed timer counts at its
   * lease end), or undefined when it is empty. The engine uses it to schedule its next local
   * wake-up; another process may add an earlier timer at any moment, so the answer is a hint for
   * when to look again, not a promise that nothing comes due before.
   */
  nextTimerAt?(): Promise<number | undefined>;
  /** Counts by state and by name, served from the indexes (no record is read). */
  stats(): Promise<SagaStats>;
  /** Ids of quarantined sagas, oldest first. */
  listQuarantined(): Promise<string[]>;
  /**
   * Optional: tells `listener` of every saga that a save (by any process sharing the store) leaves
   * settled. Resolves once the subscription is in place, so a save that settles a saga after that
   * is announced, and one before it is seen by a read made after it: `engine.waitFor` subscribes
   * first and reads second, and misses nothing. Resolves with a function that removes the listener.
   * `create` announces nothing: the engine creates every saga in `Started`. A store without
   * `onSettled` is polled by `waitFor` (every 500 ms). MemoryStore tells its listeners in process;
   * RedisStore subscribes to one pub/sub channel on one connection of its own, opened on the first
   * call and closed by `close()`.
   */
  onSettled?(listener: SettleListener): Promise<() => Promise<void>>;
  /** Releases connections the store opened itself. */
  close(): Promise<void>;
}
