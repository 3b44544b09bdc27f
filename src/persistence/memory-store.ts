import { ConflictError, SagaNotFoundError, StoreError } from '../errors.ts';
import { copyJson } from '../json-value.ts';
import { SagaStates, SETTLED_STATES } from '../vocabulary/states.ts';
import { badCursor, pageSizeOf } from './list-query.ts';
import type {
  CreateResult,
  SagaCounts,
  SagaPage,
  SagaQuery,
  SagaRecord,
  SagaStats,
  SagaStore,
  SagaTimer,
  SagaUpdate,
  SettledRead,
  SettleListener,
  TransitionEntry,
} from './saga-store.ts';
import { loadThenHistory } from './settled-read.ts';

/** A record as kept: its snapshot a private JSON copy (see {@link MemoryStore}). */
type Stored = SagaRecord;

/**
 * The embedded default store: everything in this process's memory, nothing survives it. Snapshots
 * and log entries are copied in and out as JSON copies (`copyJson`: exactly what a JSON round trip
 * makes, without the text), so callers can never mutate stored state and a saga behaves exactly as
 * it would after a trip through Redis; a JSON copy is also cheaper than writing and parsing JSON
 * text, or a deep clone, on every transition. Timers (step deadlines) follow RedisStore's rules
 * exactly, by plain scans: an embedded engine has few.
 */
export class MemoryStore implements SagaStore {
  readonly #sagas = new Map<string, Stored>();
  readonly #logs = new Map<string, TransitionEntry[]>();
  readonly #idempotency = new Map<string, string>();
  /** Insertion order doubles as creation order, which `list` pages over. */
  readonly #order: string[] = [];
  readonly #quarantined = new Map<string, Stored>();
  readonly #settleListeners = new Set<SettleListener>();
  /** The timer set: timer id -> due time (ms). A claimed timer is due at its claim's lease end. */
  readonly #timers = new Map<string, number>();
  /** Each saga's one timer, by id (RedisStore keeps it in the saga hash's `timer` field). */
  readonly #timerOf = new Map<string, string>();

  async create(record: SagaRecord, entry: TransitionEntry): Promise<CreateResult> {
    const existingId = this.#sagas.has(record.sagaId) ? record.sagaId : this.#idempotency.get(idempotencySlot(record));
    const existing = existingId === undefined ? undefined : this.#sagas.get(existingId);
    if (existing) return { record: revive(existing), created: false };
    const stored: Stored = { ...record, revision: 1, snapshot: copyJson(record.snapshot ?? null) };
    this.#sagas.set(record.sagaId, stored);
    this.#logs.set(record.sagaId, [copyJson(entry)]);
    if (record.idempotencyKey !== undefined) this.#idempotency.set(idempotencySlot(record), record.sagaId);
    this.#order.push(record.sagaId);
    // The caller's own record back (what it stored, at revision 1): nothing of the store's is handed out.
    return { record: { ...record, revision: 1, snapshot: record.snapshot ?? null }, created: true };
  }

  async save(update: SagaUpdate, entry: TransitionEntry): Promise<number> {
    if (update.scriptCalls?.length) {
      throw new StoreError(
        `MemoryStore cannot make script calls with a save (saga "${update.sagaId}"): enqueue the jobs after it`,
      );
    }
    const current = this.#sagas.get(update.sagaId);
    if (!current) throw new SagaNotFoundError(update.sagaId);
    if (current.revision !== update.expectedRevision) throw new ConflictError(update.sagaId, update.expectedRevision);
    const revision = current.revision + 1;
    // Copied before anything changes, so a value JSON cannot hold leaves the record as it was.
    const snapshot = copyJson(update.snapshot ?? null);
    const logged = copyJson(entry);
    // In place: the stored object itself never leaves the store (reads hand out copies).
    current.state = update.state;
    current.snapshot = snapshot;
    current.revision = revision;
    current.updatedAt = update.updatedAt;
    this.#logs.get(update.sagaId)?.push(logged);
    if (update.timer !== undefined) this.#setTimer(update.sagaId, update.timer);
    if (SETTLED_STATES.includes(update.state) || update.announce) {
      // After the save returns, as a Redis subscriber hears it: a listener never runs inside a save.
      const listeners = [...this.#settleListeners];
      queueMicrotask(() => {
        for (const listener of listeners) listener.settled(update.sagaId);
      });
    }
    return revision;
  }

  async load(sagaId: string): Promise<SagaRecord | undefined> {
    const record = this.#sagas.get(sagaId);
    return record && revive(record);
  }

  loadSettled(sagaId: string): Promise<SettledRead | undefined> {
    return loadThenHistory(this, sagaId);
  }

  async list(query: SagaQuery = {}): Promise<SagaPage> {
    const limit = pageSizeOf(query);
    const start = query.cursor === undefined ? 0 : positionOf(query.cursor);
    const items: SagaRecord[] = [];
    let index = start;
    for (; index < this.#order.length && items.length < limit; index++) {
      const record = this.#sagas.get(this.#order[index] as string);
      if (!record) continue;
      if (query.state !== undefined && record.state !== query.state) continue;
      if (query.name !== undefined && record.name !== query.name) continue;
      items.push(revive(record));
    }
    return index < this.#order.length ? { items, cursor: String(index) } : { items };
  }

  async history(sagaId: string): Promise<TransitionEntry[]> {
    return (this.#logs.get(sagaId) ?? []).map((entry) => copyJson(entry));
  }

  async quarantine(sagaId: string, entry: TransitionEntry): Promise<boolean> {
    const record = this.#sagas.get(sagaId);
    if (!record) return false;
    this.#sagas.delete(sagaId);
    this.#order.splice(this.#order.indexOf(sagaId), 1);
    this.#quarantined.set(sagaId, record);
    this.#setTimer(sagaId, null);
    this.#logs.get(sagaId)?.push(copyJson(entry));
    return true;
  }

  /** Claims the due timers, earliest first (ties by id), by moving them to `leaseEnd`; as RedisStore does. */
  async claimDueTimers(now: number, leaseEnd: number, limit: number): Promise<string[]> {
    const due = [...this.#timers].filter(([, dueAt]) => dueAt <= now).sort(byDueTime);
    // A negative limit takes every due timer, like the LIMIT of Redis' ZRANGE.
    const claimed = (limit < 0 ? due : due.slice(0, limit)).map(([id]) => id);
    for (const id of claimed) this.#timers.set(id, leaseEnd);
    return claimed;
  }

  async settleTimer(id: string, leaseEnd: number, dueAt?: number): Promise<void> {
    // Not due at the lease end any more: a save replaced or removed it since the claim, and wins.
    if (this.#timers.get(id) !== leaseEnd) return;
    if (dueAt === undefined) this.#timers.delete(id);
    else this.#timers.set(id, dueAt);
  }

  async nextTimerAt(): Promise<number | undefined> {
    let next: number | undefined;
    for (const dueAt of this.#timers.values()) if (next === undefined || dueAt < next) next = dueAt;
    return next;
  }

  async stats(): Promise<SagaStats> {
    const zero = (): SagaCounts =>
      Object.fromEntries(Object.values(SagaStates).map((state) => [state, 0])) as SagaCounts;
    const byState = zero();
    const byName: Record<string, SagaCounts> = {};
    for (const record of this.#sagas.values()) {
      byState[record.state]++;
      byName[record.name] ??= zero();
      (byName[record.name] as SagaCounts)[record.state]++;
    }
    return { byState, byName: Object.fromEntries(Object.entries(byName).sort(([a], [b]) => (a < b ? -1 : 1))) };
  }

  async listQuarantined(): Promise<string[]> {
    return [...this.#quarantined.keys()];
  }

  /** Tells `listener` of every saga a save settles, in this process; nothing is ever missed. */
  async onSettled(listener: SettleListener): Promise<() => Promise<void>> {
    this.#settleListeners.add(listener);
    return async () => {
      this.#settleListeners.delete(listener);
    };
  }

  async close(): Promise<void> {}

  /** Gives a saga `timer` in place of the one it had (null: none); the same id with a new due time moves it. */
  #setTimer(sagaId: string, timer: SagaTimer | null): void {
    const previous = this.#timerOf.get(sagaId);
    if (previous !== undefined && previous !== timer?.id) this.#timers.delete(previous);
    if (timer) {
      this.#timers.set(timer.id, timer.dueAt);
      this.#timerOf.set(sagaId, timer.id);
    } else {
      this.#timerOf.delete(sagaId);
    }
  }
}

/** Earliest due time first; equal ones by id, as a Redis sorted set orders equal scores. */
function byDueTime([idA, dueA]: [string, number], [idB, dueB]: [string, number]): number {
  return dueA - dueB || (idA < idB ? -1 : idA > idB ? 1 : 0);
}

/** The position a cursor of this store holds: a decimal index into the creation order. */
function positionOf(cursor: unknown): number {
  if (typeof cursor !== 'string' || !/^(0|[1-9][0-9]{0,15})$/.test(cursor)) throw badCursor(cursor);
  return Number(cursor);
}

function revive(stored: Stored): SagaRecord {
  return { ...stored, snapshot: copyJson(stored.snapshot) };
}

function idempotencySlot(record: SagaRecord): string {
  return `${record.name}\u0000${record.idempotencyKey ?? ''}`;
}
