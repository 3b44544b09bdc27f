import type { Redis } from 'ioredis';
import { QueueError, RecordCorruptError, StoreError } from '../errors.ts';
import { defaultLogger } from '../observability/logger.ts';
import { OutageReporter, warnOnLogger } from '../observability/outage-reporter.ts';
import { FINAL_STATES, SagaStates, SETTLED_STATES } from '../vocabulary/states.ts';
import { encodeLogEntry } from './record-schema.ts';
import { openConnection } from './redis-connection.ts';
import { followUpFailure } from './redis-follow-up-replies.ts';
import { walkIndex } from './redis-index-walk.ts';
import { createRedisKeys, type RedisKeys } from './redis-keys.ts';
import { registerReadScripts, type SagaReadScripts } from './redis-read-scripts.ts';
import { decodeRecordReply, decodeRedisRecord, encodeSnapshot } from './redis-record.ts';
import { isScriptCode, ScriptCode, scriptError } from './redis-script-codes.ts';
import { registerSagaScripts, type SagaScripts, type SaveSagaArgs } from './redis-scripts.ts';
import { RedisSettleFeed } from './redis-settle-feed.ts';
import { type RedisStoreOptions, retentionSeconds } from './redis-store-options.ts';
import { isWrongType, logOf } from './redis-wrong-type.ts';
import type {
  CreateResult,
  SagaCounts,
  SagaPage,
  SagaQuery,
  SagaRecord,
  SagaStats,
  SagaStore,
  SagaUpdate,
  SettledRead,
  SettleListener,
  TransitionEntry,
} from './saga-store.ts';

/**
 * Creates a {@link RedisStore}: sagas in Redis hashes with their snapshots in string keys beside
 * them, saga logs in lists, indexes in sorted sets; every write one Lua script (compare-and-set on
 * the revision), and every read of a saga one command.
 *
 * @example
 * ```ts
 * const store = createRedisStore({ connection: process.env.REDIS_URL, prefix: 'shop' });
 * const engine = createEngine({ sagas: [trip], store });
 * // ...
 * await engine.close();
 * await store.close();
 * ```
 */
export function createRedisStore(options: RedisStoreOptions = {}): RedisStore {
  return new RedisStore(options);
}

/**
 * SagaStore on a standalone Redis (7+), through ioredis. Passes the SagaStore contract suite.
 * Prefer {@link createRedisStore}.
 */
export class RedisStore implements SagaStore {
  readonly #redis: Redis;
  readonly #ownsConnection: boolean;
  readonly #keys: RedisKeys;
  readonly #scripts: SagaScripts;
  readonly #reads: SagaReadScripts;
  readonly #log: boolean;
  readonly #outage: OutageReporter;
  /** TTL for sagas in a final state; 0 keeps them forever. */
  readonly #finalTtlSeconds: number;
  /** Settle notifications on the store's one subscriber connection ({@link RedisStore.onSettled}). */
  readonly #settle: RedisSettleFeed;
  #closed = false;

  constructor(options: RedisStoreOptions = {}) {
    this.#keys = createRedisKeys(options.prefix);
    this.#finalTtlSeconds = retentionSeconds(options.retention);
    this.#log = options.log ?? true;
    this.#outage = new OutageReporter(
      options.onError ?? warnOnLogger((options.logger ?? defaultLogger()).child({ component: 'store' })),
    );
    const { redis, owned } = openConnection(options.connection, this.#outage);
    this.#redis = redis;
    this.#ownsConnection = owned;
    this.#scripts = registerSagaScripts(redis);
    this.#reads = registerReadScripts(redis);
    this.#settle = new RedisSettleFeed(redis, this.#keys.settled, this.#outage);
  }

  async create(record: SagaRecord, entry: TransitionEntry): Promise<CreateResult> {
    const keys = this.#keys;
    const { sagaId, name, idempotencyKey } = record;
    const snapshot = encodeSnapshot(record.snapshot);
    const [code, fields, id, storedSnapshot] = await this.#scripts.createSaga(
      [
        keys.saga(sagaId),
        keys.log(sagaId),
        keys.idempotency(name, idempotencyKey ?? ''),
        keys.all,
        keys.state(record.state),
        keys.name(name),
        keys.names,
        keys.snapshot(sagaId),
      ],
      [
        sagaId,
        name,
        record.version,
        record.state,
        snapshot,
        record.createdAt,
        record.updatedAt,
        idempotencyKey === undefined ? '0' : '1',
        idempotencyKey ?? '',
        // The first line of the log: it starts from '' when the entry does.
        encodeLogEntry(entry, entry.from === ''),
        this.#log ? '1' : '0',
        this.#ttlFor(record.state),
        keys.scriptParts.saga,
        keys.scriptParts.snapshot,
      ],
    );
    if (code === ScriptCode.RecordCorrupt) throw new RecordCorruptError(id, 'key', 'is not a Redis hash');
    if (code === ScriptCode.SnapshotCorrupt) throw scriptError(code, id, 0);
    if (code === ScriptCode.IndexCorrupt) throw scriptError(code, sagaId, 0, id);
    // Created: the record is the one given (the script wrote it, and read nothing back).
    if (code === 1) return { record: { ...record, revision: 1 }, created: true };
    return { record: decodeRedisRecord(id, fields, storedSnapshot), created: false };
  }

  async save(update: SagaUpdate, entry: TransitionEntry): Promise<number> {
    const { sagaId, expectedRevision } = update;
    const line = encodeLogEntry(entry);
    // The script stores this one when the log ends where the entry starts (the engine's entries
    // always do): `from` is then the `to` of the line before, and need not be stored again.
    const chained = encodeLogEntry(entry, true);
    const keys = [
      this.#keys.saga(sagaId),
      this.#keys.log(sagaId),
      this.#keys.timers,
      this.#keys.snapshot(sagaId),
    ] as const;
    const args: SaveSagaArgs = [
      sagaId,
      expectedRevision,
      update.state,
      encodeSnapshot(update.snapshot),
      update.updatedAt,
      line,
      this.#log ? '1' : '0',
      this.#ttlFor(update.state),
      this.#keys.scriptParts.state,
      this.#keys.scriptParts.idempotency,
      SETTLED_STATES.includes(update.state) || update.announce ? this.#keys.settled : '',
      update.timer === undefined ? 'keep' : update.timer === null ? 'clear' : 'set',
      update.timer?.id ?? '',
      update.timer?.dueAt ?? 0,
      chained === line ? '' : chained,
      entry.from,
    ];
    const calls = update.scriptCalls ?? [];
    const [reply, ...followed] =
      calls.length === 0
        ? [await this.#scripts.saveSaga(keys, args)]
        : await this.#scripts.saveSagaThen(keys, args, calls);
    if (isScriptCode(reply)) {
      const detail =
        reply === ScriptCode.PublishDenied
          ? this.#keys.settled
          : reply === ScriptCode.TimersCorrupt
            ? this.#keys.timers
            : `${this.#keys.scriptParts.state}<state>`;
      throw scriptError(reply, sagaId, expectedRevision, detail);
    }
    // A call that raised or refused leaves the saga saved and its job not added: a queue failure.
    const failure = followUpFailure(calls, followed);
    if (failure) {
      throw new QueueError(
        `saga "${sagaId}" was saved (revision ${String(reply)}), but ${failure.name} in its save script failed: ${failure.message}. A repeated command on the saga, or engine.recover(), dispatches its job again`,
        { cause: new Error(failure.message) },
      );
    }
    return reply as number;
  }

  async claimDueTimers(now: number, leaseEnd: number, limit: number): Promise<string[]> {
    return this.#scripts.claimTimers(this.#keys.timers, now, leaseEnd, limit);
  }

  async settleTimer(id: string, leaseEnd: number, dueAt?: number): Promise<void> {
    await this.#scripts.settleTimer(this.#keys.timers, id, leaseEnd, dueAt ?? '');
  }

  /** One `ZRANGE 0 0 WITHSCORES` of the timer set: its lowest score. */
  async nextTimerAt(): Promise<number | undefined> {
    const timers = this.#keys.timers;
    const [, score] = await this.#redis.zrange(timers, 0, 0, 'WITHSCORES').catch((error: unknown) => {
      if (!isWrongType(error)) throw error;
      throw new StoreError(
        `Redis key "${timers}" is not a sorted set, so no timer can be read; it was changed outside xsaga: delete or repair it`,
        { cause: error },
      );
    });
    return score === undefined ? undefined : Number(score);
  }

  /** One script (EVALSHA): the saga's hash and its snapshot key, read at one instant. */
  async load(sagaId: string): Promise<SagaRecord | undefined> {
    const [reply] = await this.#reads.loadSagas([[this.#keys.saga(sagaId), this.#keys.snapshot(sagaId)]]);
    return decodeRecordReply(sagaId, reply ?? 0);
  }

  /**
   * One script (EVALSHA): the saga's hash and snapshot key and, when its state is settled, its
   * log; the errors are those of `load` and the history that of `history`.
   */
  async loadSettled(sagaId: string): Promise<SettledRead | undefined> {
    const keys = this.#keys;
    const [reply, lines] = await this.#reads.loadSettled(
      [keys.saga(sagaId), keys.snapshot(sagaId), keys.log(sagaId)],
      this.#log,
      SETTLED_STATES,
    );
    const record = decodeRecordReply(sagaId, reply);
    if (record === undefined) return undefined;
    if (!SETTLED_STATES.includes(record.state)) return { record };
    return { record, history: this.#log ? logOf(sagaId, lines ?? []) : [] };
  }

  /** Walks one index, a batch at a time, pruning it of what it no longer describes (see walkIndex). */
  async list(query: SagaQuery = {}): Promise<SagaPage> {
    return walkIndex({ redis: this.#redis, keys: this.#keys, reads: this.#reads, scripts: this.#scripts }, query);
  }

  /**
   * Renames the saga's key to its quarantine key (same slot), whatever its type, copies its
   * snapshot into it (or renames the snapshot key to `quarantineSnapshot` when it cannot be
   * copied), drops it from every index and its timer from the timer set, and appends the entry to
   * its log, in one script. The data stays for a person.
   */
  async quarantine(sagaId: string, entry: TransitionEntry): Promise<boolean> {
    const keys = this.#keys;
    const moved = await this.#scripts.quarantineSaga(
      [
        keys.saga(sagaId),
        keys.quarantine(sagaId),
        keys.log(sagaId),
        keys.all,
        keys.quarantined,
        keys.timers,
        keys.snapshot(sagaId),
        keys.quarantineSnapshot(sagaId),
      ],
      [
        sagaId,
        entry.at,
        encodeLogEntry(entry),
        this.#log ? '1' : '0',
        keys.scriptParts.state,
        keys.name(''),
        ...Object.values(SagaStates),
      ],
    );
    return moved === 1;
  }

  /**
   * Counts from the indexes alone (ZCARD, and ZINTERCARD per name and state): no record is read.
   * Sagas that expired under retention are counted until a `list` prunes them from the index.
   */
  async stats(): Promise<SagaStats> {
    const states = Object.values(SagaStates);
    const names = (await this.#redis.smembers(this.#keys.names)).sort();
    const pipeline = this.#redis.pipeline();
    for (const state of states) pipeline.zcard(this.#keys.state(state));
    for (const name of names) {
      for (const state of states) pipeline.zintercard(2, this.#keys.state(state), this.#keys.name(name));
    }
    const replies = ((await pipeline.exec()) ?? []).map(([error, count]) => {
      if (error) throw error;
      return Number(count);
    });
    const take = () => Object.fromEntries(states.map((state) => [state, replies.shift() ?? 0])) as SagaCounts;
    const byState = take();
    const byName: Record<string, SagaCounts> = {};
    for (const name of names) byName[name] = take();
    return { byState, byName };
  }

  async listQuarantined(): Promise<string[]> {
    return this.#redis.zrange(this.#keys.quarantined, 0, -1);
  }

  async history(sagaId: string): Promise<TransitionEntry[]> {
    if (!this.#log) return [];
    const lines = await this.#redis.lrange(this.#keys.log(sagaId), 0, -1).catch((error: unknown) => {
      if (!isWrongType(error)) throw error;
      return ScriptCode.LogCorrupt;
    });
    return logOf(sagaId, lines);
  }

  /**
   * Tells `listener` of every saga a save settles, by pub/sub on the prefix's settle channel (see
   * `RedisKeys.settled`; the save script publishes). The first call opens the store's one subscriber
   * connection, a `duplicate()` of its connection; every later call shares it, and `close()` ends it.
   * After a reconnect the channel is subscribed again and every listener is told to `resync`, since
   * what was published meanwhile is lost. Rejects (and the next call tries again) if the channel
   * cannot be subscribed: a Redis user needs `&<prefix>:*` and `+subscribe`.
   */
  async onSettled(listener: SettleListener): Promise<() => Promise<void>> {
    if (this.#closed) throw new StoreError('the saga store is closed: it cannot tell of settled sagas any more');
    return this.#settle.add(listener);
  }

  /** Quits the connection if the store opened it (a shared connection stays open), and the subscriber. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#settle.close();
    if (this.#ownsConnection) await this.#redis.quit();
  }

  #ttlFor(state: SagaRecord['state']): number {
    return FINAL_STATES.includes(state) ? this.#finalTtlSeconds : 0;
  }
}
